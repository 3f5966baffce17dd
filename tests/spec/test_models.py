"""Stage model rules that need more than one field: an ingest stage is never cached."""

from __future__ import annotations

from pathlib import Path

from lockgate.engine.plan import build_plan
from lockgate.spec.loader import parse_spec

SPEC = """\
version: 1
name: demo
image: {base: lockgate/debian:bookworm}
stages:
  pull:
    uses: lockgate/ingest
    with: {source: {files: {path: raw/*.csv}}}
  check:
    uses: lockgate/data-check
    needs: [pull]
    with: {data: in:pull}
"""


def test_an_ingest_stage_is_uncached_by_default_and_others_stay_cached(tmp_path: Path) -> None:
    pipeline = parse_spec(SPEC, "lockgate.yaml")
    assert pipeline.stages["pull"].cache is False
    assert pipeline.stages["check"].cache is True
    plan = build_plan(pipeline, tmp_path)
    assert {s.name: s.use_cache for s in plan.stages} == {"pull": False, "check": True}


def test_cache_false_on_an_ingest_stage_is_accepted() -> None:
    spec = SPEC.replace("uses: lockgate/ingest\n", "uses: lockgate/ingest\n    cache: false\n")
    assert parse_spec(spec, "lockgate.yaml").stages["pull"].cache is False
