"""The call-record indexing benchmark counts the AWS requests the real handler makes: for a small batch
whose requests are known from the usage index's documented design (adapters/usage_index.py), not from the
counter itself. Speed is never asserted here."""

import random
from datetime import UTC, datetime, timedelta

from benchmarks.call_record_indexing import (
    Delivery,
    Traffic,
    generate_traffic,
    index_traffic,
    object_created,
)
from tests.support.call_records import cdr

VC = "abcdef1ghij2klmno3pqr4"
OTHER_VC = "zyxwvutsrqponmlkjihgf0"
T0 = datetime(2026, 11, 30, 9, tzinfo=UTC)


def known_batch() -> Traffic:
    rng = random.Random(7)
    records = [
        cdr(VC, T0, "trunk-a", "tx-1"),
        cdr(VC, T0 + timedelta(minutes=1), "trunk-a", "tx-2"),
        cdr(VC, T0 + timedelta(minutes=2), "trunk-b", "tx-3"),
        cdr(OTHER_VC, T0 + timedelta(minutes=3), None, "tx-4"),  # admitted by the allowed hosts
    ]
    objects = dict(records)
    keys = [key for key, _ in records]
    streaming = f"Amazon-Chime-Voice-Connector-SDRs/json/{VC}/2026/11/30/09.00.00.000_sdr-1"
    # Four calls, the first delivered twice, and a streaming record that is not evidence.
    order = [*keys, keys[0], streaming]
    deliveries = [
        Delivery(f"message-{n}", object_created(key, len(objects.get(key, b"")), T0, rng))
        for n, key in enumerate(order)
    ]
    return Traffic(calls=4, objects=objects, deliveries=deliveries)


def test_the_counter_counts_the_requests_the_handler_makes_for_a_known_batch():
    [batch] = index_traffic(known_batch(), batch_size=10)

    # One GetObject and one counting transaction per CDR message, the duplicate's (cancelled) included;
    # none for the streaming record. Then, once per batch, one move-forward UpdateItem per (connector,
    # username) (trunk-a, trunk-b), one per connector (two), and two on the watermark row.
    assert dict(batch.tally.requests) == {
        ("s3", "GetObject"): 5,
        ("dynamodb", "TransactWriteItems"): 5,
        ("dynamodb", "UpdateItem"): 2 + 2 + 2,
    }
    # moto answers everything first time: one HTTP attempt per request.
    assert dict(batch.tally.attempts) == {"s3": 5, "dynamodb": 11}
    # Two items per transaction at two units each, one unit per UpdateItem; nothing read.
    assert batch.tally.write_units == 5 * 2 * 2 + 6
    assert batch.tally.read_units == 0
    assert batch.tally.emulator_seconds > 0


def test_the_traffic_is_the_same_for_the_same_seed():
    first, second = generate_traffic(40), generate_traffic(40)
    assert first.objects == second.objects
    assert first.deliveries == second.deliveries
    assert len(first.deliveries) == 40 + round(40 * 0.03)
