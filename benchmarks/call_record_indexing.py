"""Call-record indexing: records indexed per second per invocation, AWS requests per record, and what a
million calls cost.

The real handler (``handlers/index_call_records.py``, with the adapters that ``runtime/wiring.py`` builds)
indexes S3 "Object Created" events, delivered in SQS batches as the template's event source delivers them
(BatchSize 100; batch size 10 is run for comparison), over moto's S3 and DynamoDB in this process, with
fake credentials (``sandbox/session.py``'s FAKE_ENVIRONMENT). The traffic is seeded: 3 connectors,
20 usernames (a few carry most calls), 5 % of calls without a SipAuthUser, calls spread over one day,
delivered in the order their objects were written, and 3 % of them delivered twice.

What carries over to AWS and what does not:

- **Requests per record are measured** (a botocore hook on the session the handler's clients are built
  from counts every API call by service and operation). They are what the code does, on AWS as here.
- **Records per second here are not AWS's.** moto answers in-process, with no network, and its own time
  grows with the table (moto 5.2.5 deep-copies the table on every TransactWriteItems), where S3 and
  DynamoDB answer over the network in milliseconds whatever the table's size. So the rate is shown twice:
  by the handler's wall time, and by its time outside moto (our code, Powertools and botocore), the part
  that is ours; both only compare two versions of the indexer on one machine.
- **The Lambda duration on AWS is an estimate**, shown apart: measured requests x an assumed latency per
  request (``LATENCY_MS``), one after another as the code makes them, plus the local work measured here
  (handler time less the time inside moto) scaled to the CPU share of a 256 MB function.
- **Cost per million calls** multiplies the measured requests by the prices in ``PRICES`` (us-east-1,
  on-demand, as of ``PRICES_AS_OF``); the SQS, EventBridge and Lambda request counts are AWS's own
  machinery, not our code: they are stated assumptions, not measurements.

    make bench            # or: .venv/bin/python -m benchmarks.call_record_indexing [calls]
"""

# ruff: noqa: E402  (the Lambda package is put on the path before it is imported, as the runtime does)

import hashlib
import importlib
import json
import math
import os
import random
import statistics
import sys
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from time import perf_counter
from typing import Any

REPOSITORY = Path(__file__).resolve().parent.parent
if str(REPOSITORY / "functions") not in sys.path:
    sys.path.insert(0, str(REPOSITORY / "functions"))

import boto3
from moto import mock_aws

from credential_rotation.adapters.usage_index import SEEN_FOR, seen_partition
from credential_rotation.runtime import wiring
from sandbox.lambda_runtime import LambdaContext
from sandbox.session import FAKE_ENVIRONMENT
from sandbox.stack import ACCOUNT_ID, REGION
from tests.support.aws import create_ledger_table
from tests.support.call_records import cdr

HANDLER = "credential_rotation.handlers.index_call_records"
TABLE = "ledger"
CDR_BUCKET = "chime-call-records"
QUEUE_ARN = f"arn:aws:sqs:{REGION}:{ACCOUNT_ID}:indexing-queue"
# The function's settings, as the template hands them over; only the table and the CDR bucket are read.
FUNCTION_ENVIRONMENT = {
    "POWERTOOLS_SERVICE_NAME": "voice-connector-credential-rotation",
    "POWERTOOLS_LOG_LEVEL": "WARNING",
    "POWERTOOLS_TRACE_DISABLED": "true",
    "POWERTOOLS_METRICS_NAMESPACE": "VoiceConnectorCredentialRotation",
    "LEDGER_TABLE_NAME": TABLE,
    "CALL_RECORDS_BUCKET": CDR_BUCKET,
    "AUDIT_TOPIC_ARN": f"arn:aws:sns:{REGION}:{ACCOUNT_ID}:audit",
    "ALERTS_TOPIC_ARN": f"arn:aws:sns:{REGION}:{ACCOUNT_ID}:alerts",
    "AUDIT_BUCKET_NAME": "audit",
    "FINGERPRINT_KEY_ARN": f"arn:aws:secretsmanager:{REGION}:{ACCOUNT_ID}:secret:fingerprint-key",
    "DEFAULT_DRY_RUN": "true",
    "DEFAULT_MAX_AGE_DAYS": "90",
    "DEFAULT_MIN_KEEP": "1",
    "DEFAULT_MAX_DELETIONS": "10",
    "DEFAULT_PROTECTED_USERNAMES": "",
    "DEFAULT_VOICE_CONNECTOR_IDS": "",
    "MAX_CONCURRENCY": "4",
    "DEFAULT_ROTATE": "false",
    "DEFAULT_ROTATE_AFTER_DAYS": "60",
    "DEFAULT_GRACE_DAYS": "7",
    "DEFAULT_USERNAME_PREFIX": "",
    "SECRET_NAME_PREFIX": "chime-voice-connector/bench/",
}

# The traffic.
SEED = 20_261_205
DEFAULT_CALLS = 800
CONNECTORS = 3
USERNAMES = 20
UNAUTHENTICATED_SHARE = 0.05  # admitted by the allowed-host list: no SipAuthUser
DUPLICATE_SHARE = 0.03  # S3 and EventBridge deliver at least once
DAY = datetime(2026, 11, 30, tzinfo=UTC)
BATCH_SIZES = (100, 10)  # the template's BatchSize, and a small one to compare

# The estimate of a Lambda invocation's duration on AWS (assumptions, not measurements).
LATENCY_MS = {"s3": 20.0, "dynamodb": 10.0}  # one request, round trip, from a function in the same region
MEMORY_MB = 256  # the template's MemorySize
FULL_VCPU_MB = 1_769  # Lambda documents one vCPU's worth of CPU at 1,769 MB; less memory, a share of it

# Prices, us-east-1, on-demand, in US dollars, without the free tiers: the published figures as this
# project's brief states them on PRICES_AS_OF, not re-read live (this machine has no network). Stored
# copies of the DynamoDB and EventBridge pricing pages confirm the units used here (a write unit per 1 KB,
# two per transactional item; S3's events are "AWS opt-in data events", not free management events), not
# the dollar figures. Check them on the pages named below before quoting a total.
PRICES_AS_OF = "2026-12-05"
PRICES = {
    # https://aws.amazon.com/s3/pricing/ (S3 Standard, GET and all other requests)
    "s3_get": 0.0004 / 1_000,
    # https://aws.amazon.com/dynamodb/pricing/on-demand/ (a write request unit covers 1 KB; a
    # transactional write is 2 units per item; a strongly consistent read of up to 4 KB is 1 read unit)
    "dynamodb_wru": 0.625 / 1_000_000,
    "dynamodb_rru": 0.125 / 1_000_000,
    # https://aws.amazon.com/sqs/pricing/ (standard queue; every 64 KB chunk of a request is one request)
    "sqs_request": 0.40 / 1_000_000,
    # https://aws.amazon.com/eventbridge/pricing/ : "AWS management events" are free, but S3's object
    # events are data-plane events a bucket opts in to ("AWS opt-in data events"), which the page does not
    # list as free. Assumed here at the custom-event rate, $1.00 per million (64 KB chunks).
    "eventbridge_event": 1.00 / 1_000_000,
    # https://aws.amazon.com/lambda/pricing/ (x86, first pricing tier)
    "lambda_gb_second": 0.0000166667,
    "lambda_request": 0.20 / 1_000_000,
    # https://aws.amazon.com/dynamodb/pricing/on-demand/ (Standard table class storage, per GB-month; not
    # in the brief, from memory of the page: shown apart, never in the request total)
    "dynamodb_gb_month": 0.25,
}
SQS_CHUNK_BYTES = 64 * 1024
# Lambda's SQS pollers receive and delete up to 10 messages per request (ReceiveMessage's and
# DeleteMessageBatch's largest), whatever the function's batch size: an assumption about AWS's machinery.
SQS_MESSAGES_PER_REQUEST = 10
# The dedupe row of each counted call is kept this long.
SEEN_DAYS = SEEN_FOR.days
# DynamoDB counts 100 bytes of overhead per item, plus its attribute names and values.
DYNAMODB_ITEM_OVERHEAD = 100


# The traffic


@dataclass(frozen=True)
class Delivery:
    """One SQS message: an S3 "Object Created" event as EventBridge delivers it to the queue."""

    message_id: str
    body: str


@dataclass
class Traffic:
    calls: int
    objects: dict[str, bytes]
    deliveries: list[Delivery]

    @property
    def deliveries_per_call(self) -> float:
        return len(self.deliveries) / self.calls


def _connector_id(rng: random.Random) -> str:
    return "".join(rng.choice("abcdefghijklmnopqrstuvwxyz0123456789") for _ in range(22))


def _uuid(rng: random.Random) -> str:
    return str(uuid.UUID(int=rng.getrandbits(128), version=4))


def object_created(key: str, size: int, at: datetime, rng: random.Random) -> str:
    """The event S3 sends to EventBridge (the S3 user guide's "Object Created" example, detail version 0)."""
    return json.dumps(
        {
            "version": "0",
            "id": _uuid(rng),
            "detail-type": "Object Created",
            "source": "aws.s3",
            "account": ACCOUNT_ID,
            "time": at.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "region": REGION,
            "resources": [f"arn:aws:s3:::{CDR_BUCKET}"],
            "detail": {
                "version": "0",
                "bucket": {"name": CDR_BUCKET},
                "object": {
                    "key": key,
                    "size": size,
                    "etag": f"{rng.getrandbits(128):032x}",
                    "sequencer": f"{rng.getrandbits(72):018X}",
                },
                "request-id": f"{rng.getrandbits(64):016X}",
                "requester": ACCOUNT_ID,
                "source-ip-address": "203.0.113.15",
                "reason": "PutObject",
            },
        }
    )


def generate_traffic(calls: int, seed: int = SEED) -> Traffic:
    """``calls`` documented CDRs over one day, and their deliveries in the order their objects were written
    (a call's record is written when it ends), ``DUPLICATE_SHARE`` of them delivered a second time later."""
    rng = random.Random(seed)  # noqa: S311 (traffic to measure with, not a secret)
    connectors = [_connector_id(rng) for _ in range(CONNECTORS)]
    usernames = [(connectors[n % CONNECTORS], f"pbx-trunk-{n:02d}") for n in range(USERNAMES)]
    weights = [1 / (rank + 1) for rank in range(USERNAMES)]  # a few trunks carry most calls
    objects: dict[str, bytes] = {}
    written: list[tuple[datetime, str]] = []
    for _ in range(calls):
        started = DAY + timedelta(seconds=rng.uniform(0, 86_400))
        if rng.random() < UNAUTHENTICATED_SHARE:
            connector, username = rng.choice(connectors), None
        else:
            connector, username = rng.choices(usernames, weights)[0]
        call_id = f"{rng.getrandbits(128):032x}@203.0.113.9:8080"
        key, body = cdr(connector, started, username, _uuid(rng), CallId=call_id)
        objects[key] = body
        written.append((started + timedelta(seconds=rng.uniform(10, 600)), key))
    again = [
        (at + timedelta(seconds=rng.uniform(1, 900)), key)
        for at, key in rng.sample(written, round(calls * DUPLICATE_SHARE))
    ]
    deliveries = [
        Delivery(_uuid(rng), object_created(key, len(objects[key]), at, rng))
        for at, key in sorted(written + again)
    ]
    return Traffic(calls, objects, deliveries)


def sqs_event(deliveries: list[Delivery], received_at: datetime) -> dict[str, Any]:
    """The event Lambda's SQS event source hands the function: one record per message."""
    sent = str(int(received_at.timestamp() * 1000))
    return {
        "Records": [
            {
                "messageId": delivery.message_id,
                "receiptHandle": f"AQEB{delivery.message_id.replace('-', '')}",
                "body": delivery.body,
                "attributes": {
                    "ApproximateReceiveCount": "1",
                    "SentTimestamp": sent,
                    "SenderId": "AIDAIENQZJOLO23YVJ4VO",
                    "ApproximateFirstReceiveTimestamp": sent,
                },
                "messageAttributes": {},
                "md5OfBody": hashlib.md5(delivery.body.encode(), usedforsecurity=False).hexdigest(),
                "eventSource": "aws:sqs",
                "eventSourceARN": QUEUE_ARN,
                "awsRegion": REGION,
            }
            for delivery in deliveries
        ]
    }


# Counting what the clients send


@dataclass
class Tally:
    """What the handler's clients sent during one batch."""

    requests: Counter[tuple[str, str]] = field(default_factory=Counter)  # (service, operation)
    attempts: Counter[str] = field(default_factory=Counter)  # HTTP attempts, retries included
    write_units: float = 0.0
    read_units: float = 0.0
    largest_write_bytes: int = 0
    emulator_seconds: float = 0.0  # inside moto, between the first and the last before-send handler

    def by_service(self) -> Counter[str]:
        services: Counter[str] = Counter()
        for (service, _), count in self.requests.items():
            services[service] += count
        return services


def _dynamodb_units(operation: str, params: dict[str, Any]) -> tuple[float, float]:
    """(write, read) request units of one DynamoDB request, for items under 1 KB (writes) and 4 KB
    (reads), as the indexer's are (the benchmark reports the largest write it saw)."""
    if operation == "TransactWriteItems":
        return 2.0 * len(params.get("TransactItems", [])), 0.0
    if operation in ("PutItem", "UpdateItem", "DeleteItem"):
        return 1.0, 0.0
    if operation == "BatchWriteItem":
        return float(sum(len(items) for items in params.get("RequestItems", {}).values())), 0.0
    if operation == "TransactGetItems":
        return 0.0, 2.0 * len(params.get("TransactItems", []))
    if operation in ("GetItem", "Query", "Scan"):
        return 0.0, 1.0 if params.get("ConsistentRead") else 0.5
    return 0.0, 0.0


class RequestCounter:
    """Counts every API call of the clients built from a boto3 session, by service and operation.

    The session's clients share its event emitter (botocore 1.44), so what is attached here sees every
    request of every client ``wiring`` builds from that session; a client of another session is not
    counted (tests/unit/test_benchmark_counts.py fails if the handler's requests go uncounted).
    ``before-parameter-build`` fires once per API call, before validation;
    ``before-send`` once per HTTP attempt (moto answers from a ``before-send`` handler of its own, so a
    handler registered first and one registered last bracket the time moto takes).
    """

    def __init__(self) -> None:
        self.tally = Tally()
        self._sending_since: float | None = None

    def attach(self, events: Any) -> None:
        events.register("before-parameter-build", self._request)
        events.register_first("before-send", self._sending)
        events.register_last("before-send", self._sent)

    def take(self) -> Tally:
        """What was counted since the last take."""
        tally, self.tally = self.tally, Tally()
        return tally

    def _request(self, params: dict[str, Any], model: Any, **_: Any) -> None:
        service, operation = model.service_model.service_name, model.name
        self.tally.requests[service, operation] += 1
        if service == "dynamodb":
            writes, reads = _dynamodb_units(operation, params)
            self.tally.write_units += writes
            self.tally.read_units += reads
            if writes:
                size = len(json.dumps(params).encode())
                self.tally.largest_write_bytes = max(self.tally.largest_write_bytes, size)

    def _sending(self, **_: Any) -> None:
        self._sending_since = perf_counter()

    def _sent(self, event_name: str, **_: Any) -> None:
        if self._sending_since is not None:
            self.tally.emulator_seconds += perf_counter() - self._sending_since
            self._sending_since = None
        # before-send.<service id>.<operation>; the service ids of S3 and DynamoDB are their names
        self.tally.attempts[event_name.split(".")[1]] += 1


# Running the real handler over moto


@dataclass
class Batch:
    messages: int
    seconds: float  # the handler's wall time, here
    tally: Tally

    @property
    def records_per_second(self) -> float:
        return self.messages / self.seconds

    @property
    def local_seconds(self) -> float:
        """The handler's time outside moto: our code, Powertools and botocore (building, signing, parsing)."""
        return max(self.seconds - self.tally.emulator_seconds, 0.0)

    def network_ms(self) -> float:
        """The estimate of the requests' time on AWS: each request's assumed latency, one after another."""
        return sum(
            LATENCY_MS.get(service, 10.0) * count for service, count in self.tally.by_service().items()
        )

    def estimated_ms(self) -> float:
        return self.network_ms() + self.local_seconds * 1000 * FULL_VCPU_MB / MEMORY_MB


@contextmanager
def offline_aws() -> Iterator[tuple[RequestCounter, Any]]:
    """moto in this process, the fake environment, and the function's settings; the default boto3 session
    (the one ``wiring`` builds the handler's clients from) counted by a RequestCounter. Yields the counter
    and a client-factory of a separate, uncounted session for the set-up. Everything is put back after."""
    saved_environment = dict(os.environ)
    saved_session = boto3.DEFAULT_SESSION
    try:
        os.environ.update(FAKE_ENVIRONMENT | FUNCTION_ENVIRONMENT)
        with mock_aws():
            boto3.setup_default_session()
            counter = RequestCounter()
            counter.attach(boto3.DEFAULT_SESSION.events)
            wiring.reset()
            setup = boto3.Session()
            _create_resources(setup)
            yield counter, setup
    finally:
        wiring.reset()
        boto3.DEFAULT_SESSION = saved_session
        os.environ.clear()
        os.environ.update(saved_environment)


def _create_resources(session: Any) -> None:
    session.client("s3").create_bucket(Bucket=CDR_BUCKET)
    # The index lives in the ledger's table, beside the ledger's rows.
    create_ledger_table(session.client("dynamodb"), TABLE)


def index_traffic(traffic: Traffic, batch_size: int) -> list[Batch]:
    """Every delivery of ``traffic`` through the real handler, ``batch_size`` messages per invocation, on a
    fresh moto: one Batch per invocation. Raises if any message fails (a benchmark of failures is not one)."""
    with offline_aws() as (counter, setup):
        s3 = setup.client("s3")
        for key, body in traffic.objects.items():
            s3.put_object(Bucket=CDR_BUCKET, Key=key, Body=body)
        handler: Callable[[dict[str, Any], Any], dict[str, Any]] = importlib.import_module(HANDLER).handler
        batches = []
        for start in range(0, len(traffic.deliveries), batch_size):
            chunk = traffic.deliveries[start : start + batch_size]
            event = sqs_event(chunk, DAY)
            context = LambdaContext(
                function_name="index-call-records",
                invoked_function_arn=f"arn:aws:lambda:{REGION}:{ACCOUNT_ID}:function:index-call-records",
                memory_limit_in_mb=MEMORY_MB,
                aws_request_id=f"bench-{start}",
            )
            counter.take()
            started = perf_counter()
            response = handler(event, context)
            seconds = perf_counter() - started
            if response["batchItemFailures"]:
                raise RuntimeError(f"{len(response['batchItemFailures'])} messages failed in one batch")
            batches.append(Batch(len(chunk), seconds, counter.take()))
        return batches


# The report


@dataclass
class Run:
    batch_size: int
    traffic: Traffic
    batches: list[Batch]

    @property
    def messages(self) -> int:
        return sum(batch.messages for batch in self.batches)

    @property
    def steady(self) -> list[Batch]:
        """Full batches after the first: the first builds the clients, as a new container does."""
        full = [batch for batch in self.batches[1:] if batch.messages == self.batch_size]
        return full or self.batches

    def total(self) -> Tally:
        total = Tally()
        for batch in self.batches:
            total.requests.update(batch.tally.requests)
            total.attempts.update(batch.tally.attempts)
            total.write_units += batch.tally.write_units
            total.read_units += batch.tally.read_units
            total.largest_write_bytes = max(total.largest_write_bytes, batch.tally.largest_write_bytes)
        return total

    def per_message(self, count: float) -> float:
        return count / self.messages

    def estimated_invocation_ms(self) -> float:
        return statistics.fmean(batch.estimated_ms() for batch in self.steady)

    def largest_body_bytes(self) -> int:
        return max(len(delivery.body.encode()) for delivery in self.traffic.deliveries)


def _moto_ms_per_request(batch: Batch) -> float:
    return batch.tally.emulator_seconds * 1000 / max(sum(batch.tally.requests.values()), 1)


def _spread(values: list[float]) -> str:
    ordered = sorted(values)
    if len(ordered) < 2:
        return f"median {ordered[0]:8.1f}"
    deciles = statistics.quantiles(ordered, n=10)
    return (
        f"median {statistics.median(ordered):8.1f}  p10 {deciles[0]:8.1f}  p90 {deciles[-1]:8.1f}  "
        f"min {ordered[0]:8.1f}  max {ordered[-1]:8.1f}"
    )


def report_throughput(run: Run) -> None:
    steady = run.steady
    say = print
    say(f"\n== Batch size {run.batch_size}: {len(run.batches)} invocations, {run.messages} messages ==")
    say("Measured in-process over moto: NOT AWS latency; compares versions of the code on one machine.")
    say(f"  {len(steady)} steady batches (full, after the first); per invocation:")
    own_rates = [batch.messages / batch.local_seconds for batch in steady if batch.local_seconds]
    say(f"  records/s, handler wall time   {_spread([batch.records_per_second for batch in steady])}")
    say(f"  records/s, outside moto only   {_spread(own_rates)}")
    say(f"  handler ms                     {_spread([batch.seconds * 1000 for batch in steady])}")
    say(f"  ms outside moto (ours + SDK)   {_spread([batch.local_seconds * 1000 for batch in steady])}")
    first, last = (_moto_ms_per_request(batch) for batch in (steady[0], steady[-1]))
    say(f"  moto's own ms per request: {first:.2f} in the first steady batch, {last:.2f} in the last. moto")
    say("  deep-copies the table on every TransactWriteItems: the wall-clock rate falls as the table grows.")
    say(
        f"  first invocation (builds the clients, as a cold container does): "
        f"{run.batches[0].seconds * 1000:.0f} ms"
    )
    total = run.total()
    say("Measured AWS requests per record (per message delivered):")
    for (service, operation), count in sorted(total.requests.items()):
        say(f"  {service:9} {operation:20} {run.per_message(count):6.3f}")
    for service, count in sorted(total.by_service().items()):
        attempts = total.attempts[service]
        say(
            f"  {service:9} {'all':20} {run.per_message(count):6.3f}  ({count} requests, {attempts} attempts)"
        )
    size = total.largest_write_bytes
    say(
        f"  DynamoDB write units per record {run.per_message(total.write_units):.3f}, read units "
        f"{run.per_message(total.read_units):.3f} (largest write request {size} bytes: "
        f"{'under' if size <= 1024 else 'OVER'} 1 KB, one unit per item)"
    )
    network = statistics.fmean(batch.network_ms() for batch in steady)
    local = statistics.fmean(batch.local_seconds * 1000 * FULL_VCPU_MB / MEMORY_MB for batch in steady)
    estimate = run.estimated_invocation_ms()
    latencies = ", ".join(f"{service} {ms:g} ms" for service, ms in LATENCY_MS.items())
    say("ESTIMATE of one invocation on AWS (not measured):")
    parts = [
        (f"requests x assumed latency ({latencies}), in sequence", network),
        (f"local work measured here x {FULL_VCPU_MB}/{MEMORY_MB} (the CPU share at {MEMORY_MB} MB)", local),
    ]
    for label, ms in parts:
        say(f"  {label:74} {ms:6.0f} ms")
    say(
        f"  total: about {estimate:.0f} ms per invocation of {run.batch_size}, "
        f"about {run.batch_size / estimate * 1000:.0f} records/s per invocation on AWS (estimate)"
    )


@dataclass(frozen=True)
class Line:
    component: str
    basis: str
    dollars: float


def cost_lines(run: Run) -> list[Line]:
    """Dollars per million calls (unique CDRs), from the requests measured per delivered message."""
    total = run.total()
    messages = 1_000_000 * run.traffic.deliveries_per_call  # duplicates are delivered, read and counted
    services = total.by_service()
    s3_gets = run.per_message(total.requests["s3", "GetObject"]) * messages
    other_s3 = run.per_message(services["s3"]) * messages - s3_gets
    writes = run.per_message(total.write_units) * messages
    reads = run.per_message(total.read_units) * messages
    # Each 64 KB chunk of a request's payload is billed as a request: EventBridge's SendMessage carries one
    # message, a receive up to ten, a DeleteMessageBatch only receipt handles.
    send_chunks = math.ceil(run.largest_body_bytes() / SQS_CHUNK_BYTES)
    receive_chunks = math.ceil(SQS_MESSAGES_PER_REQUEST * run.largest_body_bytes() / SQS_CHUNK_BYTES)
    sqs = messages * (send_chunks + (receive_chunks + 1) / SQS_MESSAGES_PER_REQUEST)
    invocations = messages / run.batch_size
    gb_seconds = invocations * run.estimated_invocation_ms() / 1000 * MEMORY_MB / 1024
    return [
        Line("S3 GetObject", f"{s3_gets / 1e6:.3f} M GET", (s3_gets + other_s3) * PRICES["s3_get"]),
        Line("DynamoDB writes", f"{writes / 1e6:.3f} M WRU", writes * PRICES["dynamodb_wru"]),
        Line("DynamoDB reads", f"{reads / 1e6:.3f} M RRU", reads * PRICES["dynamodb_rru"]),
        Line("SQS", f"{sqs / 1e6:.3f} M requests (send + receive + delete)", sqs * PRICES["sqs_request"]),
        Line("EventBridge", f"{messages / 1e6:.3f} M S3 events", messages * PRICES["eventbridge_event"]),
        Line("Lambda requests", f"{invocations:,.0f} invocations", invocations * PRICES["lambda_request"]),
        Line(
            "Lambda duration (ESTIMATE)",
            f"{gb_seconds:,.0f} GB-s at ~{run.estimated_invocation_ms():.0f} ms",
            gb_seconds * PRICES["lambda_gb_second"],
        ),
    ]


def dedupe_storage_dollars() -> tuple[int, float]:
    """(bytes of one dedupe row, dollars to keep a million of them for SEEN_DAYS): DynamoDB's item size,
    100 bytes of overhead plus the names and values of VoiceConnectorId, Username and ExpiresAt."""
    row = (
        DYNAMODB_ITEM_OVERHEAD
        + len("VoiceConnectorId")
        + len(seen_partition("a" * 22))
        + len("Username")
        + 36
        + len("ExpiresAt")
        + 6  # a 10-digit number: about half a byte per digit, plus one
    )
    gb_months = 1_000_000 * row / 1e9 * SEEN_DAYS / 30
    return row, gb_months * PRICES["dynamodb_gb_month"]


ASSUMPTIONS = (
    "EventBridge: S3 object events are opt-in data events, not the free AWS management events;",
    "  assumed $1.00 per million (S3 event notifications straight to SQS would not pay it).",
    "SQS: one SendMessage per event from EventBridge; Lambda's pollers receive and delete 10 messages",
    "  per request; idle long polling (a fixed cost per month, not per call) is left out.",
    "DynamoDB: a cancelled transaction (a duplicate) billed as the writes it would have made (upper bound).",
    f"Lambda: the duration is the estimate above ({MEMORY_MB} MB, x86); cold starts are left out. At low",
    "  traffic the 20 s batching window closes before 100 messages arrive: batches are smaller.",
    "Not counted: Chime's PUTs of the CDRs, CloudWatch Logs (one short line per invocation).",
)


def report_costs(runs: list[Run]) -> None:
    say = print
    say(f"\n== Cost per million calls, us-east-1 on-demand, prices as of {PRICES_AS_OF} ==")
    first = runs[0]
    largest = first.largest_body_bytes()
    chunks = math.ceil(SQS_MESSAGES_PER_REQUEST * largest / SQS_CHUNK_BYTES)
    say(
        f"{first.traffic.deliveries_per_call:.3f} deliveries per call (duplicates included); the largest "
        f"message is {largest} bytes,\nso {SQS_MESSAGES_PER_REQUEST} messages per receive are {chunks} "
        "64 KB chunk(s): one SQS request."
    )
    tables = {run.batch_size: cost_lines(run) for run in runs}
    sizes = [run.batch_size for run in runs]
    say(f"  {'component':28}" + "".join(f"{'batch ' + str(size):>12}" for size in sizes) + "   basis (first)")
    for index, line in enumerate(tables[sizes[0]]):
        dollars = "".join(f"{_dollars(tables[size][index].dollars):>12}" for size in sizes)
        say(f"  {line.component:28}{dollars}   {line.basis}")
    totals = "".join(f"{_dollars(sum(line.dollars for line in tables[size])):>12}" for size in sizes)
    say(f"  {'TOTAL per million calls':28}{totals}")
    row, storage = dedupe_storage_dollars()
    say(
        f"  Not in the total: the dedupe rows, ~{row} bytes each kept {SEEN_DAYS} days at "
        f"${PRICES['dynamodb_gb_month']}/GB-month,\n  ${storage:.4f} per million calls (more with PITR)."
    )
    say("Assumptions (not measured):")
    for assumption in ASSUMPTIONS:
        say(f"  {assumption}")


def _dollars(amount: float) -> str:
    return f"${amount:.4f}"


def main(calls: int = DEFAULT_CALLS) -> None:
    traffic = generate_traffic(calls)
    say = print
    say(
        f"Call-record indexing: {calls} calls, {len(traffic.deliveries)} deliveries; "
        f"{CONNECTORS} connectors, {USERNAMES} usernames,\n"
        f"{UNAUTHENTICATED_SHARE:.0%} of calls without a username, "
        f"{DUPLICATE_SHARE:.0%} delivered twice, seed {SEED}.\n"
        "The real handler over moto's S3 and DynamoDB, in this process."
    )
    say(
        "moto's in-process latency is not AWS's: the records/s measured below are our code plus moto here.\n"
        "The requests per record carry over to AWS; the Lambda duration on AWS is an ESTIMATE from them."
    )
    runs = [Run(size, traffic, index_traffic(traffic, size)) for size in BATCH_SIZES]
    for run in runs:
        report_throughput(run)
    report_costs(runs)


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else DEFAULT_CALLS)
