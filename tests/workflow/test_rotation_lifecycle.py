"""200 nights of scheduled rotation over connectors in different states, every invariant checked per run."""

import pytest

from tests.support.rotation_watch import RotationWatch

NIGHTS = 200
PARAMETERS = {
    "DryRun": "false",
    "Rotate": "true",
    "RotateAfterDays": 60,
    "MaxAgeDays": 90,
    "GraceDays": 7,
    "ProtectedUsernames": "break-glass-*",
}


@pytest.fixture
def watch(sandbox_factory):
    return RotationWatch(sandbox_factory(parameters=PARAMETERS), grace_days=7, protected=("break-glass-*",))


@pytest.mark.slow
def test_nightly_rotation_for_200_days_keeps_every_invariant(watch, audit_schema):
    empty = watch.add_connector("empty", [])
    single = watch.add_connector("single", ["pbx-initial"])
    many = watch.add_connector("many", ["old-1", "old-2", "old-3", "old-4"])
    guarded = watch.add_connector("guarded", ["break-glass-1", "trunk-a"])
    late = None

    for night in range(NIGHTS):
        if night == 30:
            late = watch.add_connector("late", ["added-on-day-30"])
        execution, event = watch.run()
        audit_schema.validate(event)
        assert execution.status == "SUCCEEDED", (night, event["Error"])
        watch.sandbox.travel(days=1)
    watch.issued_once()

    listing = watch.listing()
    # A connector without credentials is never enrolled: issuing would switch authentication on.
    assert listing[empty] == set()
    # Every other connector ends on its AWSCURRENT credential (plus, for at most a grace period, its
    # predecessor), and the protected credential survives every rotation.
    for vc in (single, many, guarded, late):
        current = watch.sandbox.secret(vc)["AWSCURRENT"]["Username"]
        assert current in listing[vc]
        assert len(listing[vc] - {"break-glass-1"}) <= 2
    assert "break-glass-1" in listing[guarded]
    # The seeded credentials are all retired; 200 days at RotateAfterDays 60 issue three successors each.
    assert not listing[many] & {"old-1", "old-2", "old-3", "old-4"}
    issued_per_connector = {vc: sum(1 for (owner, _) in watch.issued if owner == vc) for vc in listing}
    assert issued_per_connector[empty] == 0
    assert issued_per_connector[single] == issued_per_connector[many] == 3
    assert watch.runs == NIGHTS
    print(
        f"\nlifecycle: {NIGHTS} nights, {len(watch.connectors)} connectors, {watch.runs} runs, "
        f"{sum(watch.issued.values())} successors issued, {watch.checks} invariant checks"
    )
