import pytest

from sandbox.template import load_template
from tests.security.cloudformation import Deployment, deployments, parameter_variants, sam_transform


@pytest.fixture(scope="session")
def transformed() -> dict[str, dict]:
    """template.yaml through the SAM translator, once per parameter variant."""
    return sam_transform(parameter_variants(load_template()))


@pytest.fixture(scope="session")
def every_deployment(transformed) -> list[Deployment]:
    return deployments(transformed)
