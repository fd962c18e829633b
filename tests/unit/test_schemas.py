"""The published schemas are the ones the models generate: never written, or changed, by hand."""

import json

import pytest

from credential_rotation.domain.audit_documents import SCHEMAS, schema
from sandbox.template import REPOSITORY


@pytest.mark.parametrize("file_name", sorted(SCHEMAS))
def test_the_published_schema_has_not_drifted_from_its_model(file_name):
    model, name = SCHEMAS[file_name]
    published = json.loads((REPOSITORY / "schemas" / file_name).read_text())

    assert published == schema(model, name), f"run `make schemas` and commit schemas/{file_name}"


def test_the_event_and_the_report_carry_the_schema_version_the_builder_writes():
    from credential_rotation.tasks import audit

    for file_name in SCHEMAS:
        published = json.loads((REPOSITORY / "schemas" / file_name).read_text())
        assert published["properties"]["SchemaVersion"]["const"] == audit.SCHEMA_VERSION
