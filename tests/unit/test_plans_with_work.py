"""Which connectors ApplyPlans iterates over (tasks/planning.py's plans_with_work, named by
CheckDeletionLimit): exactly those its two Choices would have sent to a task, so that a connector with
nothing to do costs no state transition and one with something to do is never skipped."""

import pytest

from credential_rotation.tasks.planning import plans_with_work

DUE = {"Due": True}
NOT_DUE = {"Due": False}


@pytest.mark.parametrize(
    ("plan", "worked"),
    [
        ({"StaleCount": 1, "Rotation": NOT_DUE}, True),
        ({"StaleCount": 0, "Rotation": DUE}, True),
        ({"StaleCount": 3, "Rotation": DUE}, True),
        ({"StaleCount": 0, "Rotation": NOT_DUE}, False),
        ({"Error": {"Error": "NotFoundException"}}, False),  # planning failed: neither field
        ({"StaleCount": 0, "Rotation": {"Due": "true"}}, False),  # only a real true, as BooleanEquals
        ({"StaleCount": "2", "Rotation": None}, False),  # only a number, as NumericGreaterThan
    ],
)
def test_a_plan_is_worked_when_a_successor_is_due_or_usernames_are_stale(plan, worked):
    assert list(plans_with_work([plan])) == ([0] if worked else [])


def test_the_work_is_named_by_place_in_the_plans_in_order():
    plans = [
        {"StaleCount": 0, "Rotation": NOT_DUE},
        {"StaleCount": 2, "Rotation": NOT_DUE},
        {"Error": {}},
        {"StaleCount": 0, "Rotation": DUE},
    ]

    assert list(plans_with_work(plans)) == [1, 3]
