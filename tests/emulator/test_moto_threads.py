"""The sandbox serialises moto's backends that its concurrent executions share (sandbox/moto_threads.py).

Each test races a writer against readers with the interpreter switching threads as often as it can: without
the serialisation, moto raises "dictionary changed size during iteration" in a reader within a few hundred
calls (a Map's connectors issuing successors while others read theirs did, under CI's load).
"""

import sys
import threading
from collections.abc import Callable, Iterator

import boto3
import pytest

from sandbox.moto_threads import serialised_backends

SECRETS = 150


@pytest.fixture
def rapid_thread_switching() -> Iterator[None]:
    interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)
    yield
    sys.setswitchinterval(interval)


def race(writer: Callable[[], None], reader: Callable[[], None], readers: int = 3) -> list[BaseException]:
    errors: list[BaseException] = []

    def guarded(work: Callable[[], None]) -> Callable[[], None]:
        def run() -> None:
            try:
                work()
            except Exception as error:  # what a task would have raised
                errors.append(error)

        return run

    threads = [threading.Thread(target=guarded(writer))]
    threads += [threading.Thread(target=guarded(reader)) for _ in range(readers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return errors


def test_secrets_are_read_while_others_are_created(mocked_aws, rapid_thread_switching):
    secrets = boto3.client("secretsmanager")
    for n in range(SECRETS):
        secrets.create_secret(Name=f"prefix/{n}", SecretString="value")

    def create() -> None:
        for n in range(SECRETS, 2 * SECRETS):
            secrets.create_secret(Name=f"prefix/{n}", SecretString="value")

    def read() -> None:
        for n in range(2 * SECRETS):
            secrets.describe_secret(SecretId=f"prefix/{n % SECRETS}")
            secrets.get_secret_value(SecretId=f"prefix/{n % SECRETS}")

    with serialised_backends():
        errors = race(create, read)

    assert errors == []
    assert len(secrets.list_secrets(MaxResults=100)["SecretList"]) == 100
