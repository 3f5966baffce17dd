"""Rules on values beyond their types, on plain values as read from YAML (libyaml, no stubs).
The exact messages of each refusal are in tests/spec/examples/bad; these are the edges."""

from __future__ import annotations

import pytest

from lockgate.errors import SpecError
from lockgate.spec.checks import check_values
from lockgate.spec.yamlpos import load_yaml

HEAD = "image: {base: b}\nstages:\n  a:\n    run: x\n"


def _check(stage_lines: str) -> None:
    raw, positions = load_yaml(HEAD + stage_lines, "f.yaml")
    check_values(raw, positions)


@pytest.mark.parametrize(
    "lines",
    [
        "    gpu: 0\n",
        "    gpu: 3\n",
        "    gpu: all\n",
        "    outputs: [a/b.txt, ./c, 'x..y', '.hidden']\n",
        "    env: {A: '', B: '3', C: 'null'}\n",
        "    needs: [b, c]\n",
    ],
)
def test_values_within_the_rules_pass(lines):
    raw, positions = load_yaml(HEAD + lines, "f.yaml")
    check_values(raw, positions)  # raises on a refusal
    key = lines.split(":", 1)[0].strip()
    assert key in raw["stages"]["a"]  # the value reached the checks, as written


@pytest.mark.parametrize(
    ("lines", "where"),
    [
        ("    gpu: 1.0\n", "f.yaml:5:10: stages.a.gpu: must be a count of GPUs"),
        ("    gpu: 'all '\n", "f.yaml:5:10: stages.a.gpu: must be a count of GPUs"),
        ("    outputs: ['~/model.pt']\n", "f.yaml:5:15: stages.a.outputs[0]: '~/model.pt' is not"),
        ("    outputs: [a/../../b]\n", "f.yaml:5:15: stages.a.outputs[0]: 'a/../../b' is not"),
        ("    outputs: ['']\n", "f.yaml:5:15: stages.a.outputs[0]: '' is not inside"),
        ("    needs: [b, c, b]\n", "f.yaml:5:19: stages.a.needs[2]: 'b' is listed twice"),
        ("    needs: [~]\n", "f.yaml:5:13: stages.a.needs[0]: YAML reads ~ as null"),
        ("    env: {A: [1]}\n", "f.yaml:5:14: stages.a.env.A: an environment variable's value"),
        ("    env: {A: 1.50}\n", "f.yaml:5:14: stages.a.env.A: YAML reads 1.50 as a number"),
    ],
)
def test_values_past_the_rules_are_refused_where_they_stand(lines, where):
    with pytest.raises(SpecError) as caught:
        _check(lines)
    assert str(caught.value).startswith(where)


def test_a_run_stage_with_run_replaced_by_blank_text_is_refused():
    raw, positions = load_yaml("stages:\n  a: {run: '   '}\n", "f.yaml")
    with pytest.raises(SpecError, match=r"^f.yaml:2:12: stages.a.run: is empty"):
        check_values(raw, positions)
