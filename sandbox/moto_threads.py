"""moto's backends are not thread-safe; the sandbox's Step Functions are (Map iterations and concurrent
executions run on moto's threads). Each backend named here is serialised: one operation at a time.

What breaks without it (never in AWS):
- DynamoDB applies a conditional write atomically; moto checks the condition and then writes, with
  nothing between two threads, so two simultaneous lock acquisitions could both pass. A read iterates a
  table's partitions while another thread may add one ("dictionary changed size during iteration").
- Secrets Manager finds a secret by iterating every secret (``SecretsStore.__getitem__`` matches names
  and ARNs), so a DescribeSecret or GetSecretValue fails with the same RuntimeError while another
  connector's CreateSecret adds one: under load, one connector of a large run then failed its issuing.
"""

import threading
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from typing import Any
from unittest import mock

from moto.dynamodb.models import DynamoDBBackend
from moto.secretsmanager.models import SecretsManagerBackend

# The item operations the stack's tables see; the rest (CreateTable) happen before any execution.
DYNAMODB_OPERATIONS = (
    "put_item",
    "update_item",
    "delete_item",
    "get_item",
    "query",
    "scan",
    "describe_table",
)


def _public_operations(backend: type) -> tuple[str, ...]:
    return tuple(
        name
        for name, value in vars(backend).items()
        if not name.startswith("_") and callable(value) and not isinstance(value, (staticmethod, classmethod))
    )


SERIALISED: dict[type, tuple[str, ...]] = {
    DynamoDBBackend: DYNAMODB_OPERATIONS,
    SecretsManagerBackend: _public_operations(SecretsManagerBackend),
}


def _holding(lock: threading.RLock, original: Callable[..., Any]) -> Callable[..., Any]:
    def operation(self: Any, *args: Any, **kwargs: Any) -> Any:
        with lock:
            return original(self, *args, **kwargs)

    return operation


@contextmanager
def serialised_backends() -> Iterator[None]:
    """One lock per backend class: an operation waits only for operations of the same service."""
    with ExitStack() as patches:
        for backend, names in SERIALISED.items():
            lock = threading.RLock()
            for name in names:
                patches.enter_context(
                    mock.patch.object(backend, name, _holding(lock, getattr(backend, name)))
                )
        yield
