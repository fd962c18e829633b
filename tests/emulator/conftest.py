"""Shared by the emulator's tests: the Chime SDK Voice emulator installed in moto, in the fake AWS
environment."""

import boto3
import pytest
from botocore.config import Config

from sandbox import chime_emulator
from sandbox.chime_emulator import chimesdkvoice_backends


@pytest.fixture
def emulated_chime(mocked_aws) -> None:
    """moto, with the emulator answering Chime SDK Voice."""
    chime_emulator.install()


@pytest.fixture
def chime(emulated_chime):
    # One attempt per call, as the functions' client: every injected fault reaches the caller.
    return boto3.client(
        "chime-sdk-voice", region_name="us-east-1", config=Config(retries={"total_max_attempts": 1})
    )


@pytest.fixture
def backend(emulated_chime):
    """The emulator's state and fault injection for the fake account and region."""
    return chimesdkvoice_backends["123456789012"]["us-east-1"]
