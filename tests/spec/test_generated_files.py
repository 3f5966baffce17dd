"""Committed generated files (the spec reference and the JSON Schema) must match the code that
generates them; regenerate with the commands in their headers."""

from __future__ import annotations

import json

from lockgate.commands.schema import spec_schema
from lockgate.spec.reference import render
from tests.projects import REPO_ROOT


def test_docs_spec_md_is_current():
    committed = (REPO_ROOT / "docs" / "spec.md").read_text()
    assert committed == render(), "regenerate: python -m lockgate.spec.reference > docs/spec.md"


def test_json_schema_is_current():
    committed = json.loads((REPO_ROOT / "schema" / "lockgate.v1.json").read_text())
    assert committed == spec_schema(), "regenerate: lockgate schema > schema/lockgate.v1.json"


def test_reference_documents_every_field():
    from lockgate.spec import models

    text = render()
    for model in (models.Pipeline, models.Stage, models.Image, models.Environment):
        for name, field in model.model_fields.items():
            assert f"`{field.alias or name}`" in text
            assert field.description, f"{model.__name__}.{name} has no description"
