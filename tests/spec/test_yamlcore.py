"""The core-schema reader: what plain YAML becomes, where merged keys point, and that hostile files
end in a located error quickly. Runs libyaml itself (PyYAML's C parser), nothing stubbed."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from lockgate.errors import SpecError
from lockgate.spec.loader import load_spec
from lockgate.spec.yamlcore import MAX_ALIASES, MAX_DEPTH, resolve_plain
from lockgate.spec.yamlpos import load_yaml

BAD = Path(__file__).parent / "examples" / "bad"
HOSTILE = [
    "alias-bomb",
    "alias-recursive",
    "deep-nesting",
    "huge-integer",
    "merge-not-mapping",
    "unhashable-key",
    "tag-python",
]


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("~", None),
        ("", None),
        ("True", True),
        ("FALSE", False),
        ("-12", -12),
        ("0o17", 15),
        ("0x1F", 31),
        ("010", 10),
        ("1.5e3", 1500.0),
        ("-.inf", -math.inf),
        # YAML 1.1 readings that the core schema does not make:
        ("yes", "yes"),
        ("on", "on"),
        ("1:20", "1:20"),
        ("2024-01-01", "2024-01-01"),
        ("0b101", "0b101"),
    ],
)
def test_plain_scalars_follow_the_core_schema(text, value):
    assert resolve_plain(text) == value
    assert type(resolve_plain(text)) is type(value)


def test_keys_keep_their_text_and_non_string_values_keep_theirs():
    raw, positions = load_yaml("on: 0x10\nyes: [~, 1.50]\n", "f.yaml")
    assert raw == {"on": 16, "yes": [None, 1.5]}
    assert positions.text(("on",), 16) == "0x10"
    assert positions.text(("yes", 0), None) == "~"
    assert positions.text(("yes", 1), 1.5) == "1.50"


def test_merge_keys_yield_to_written_keys_and_point_at_the_merge():
    text = "a: &a {x: 1, y: 2}\nb: &b {y: 3, z: 4}\nc:\n  <<: [*a, *b]\n  x: 9\n"
    raw, positions = load_yaml(text, "f.yaml")
    assert raw["c"] == {"y": 2, "z": 4, "x": 9}
    assert positions.where(("c", "x"), key=True) == "f.yaml:5:3"
    assert positions.where(("c", "z"), key=True) == "f.yaml:4:7"


def test_a_quoted_merge_key_is_an_ordinary_key():
    raw, _ = load_yaml("c: {'<<': 1}\n", "f.yaml")
    assert raw == {"c": {"<<": 1}}


def test_nesting_is_allowed_up_to_the_limit_and_refused_past_it():
    ok = "[" * MAX_DEPTH + "]" * MAX_DEPTH
    assert load_yaml(ok, "f.yaml")[0] is not None
    too_deep = "[" * (MAX_DEPTH + 1) + "]" * (MAX_DEPTH + 1)
    with pytest.raises(SpecError, match=rf"f.yaml:1:{MAX_DEPTH + 1}: .*deeper than {MAX_DEPTH}"):
        load_yaml(too_deep, "f.yaml")


def test_alias_uses_are_counted():
    uses = ", ".join(["*a"] * (MAX_ALIASES + 1))
    with pytest.raises(SpecError, match=rf"f.yaml:2:\d+: b\[{MAX_ALIASES}\]: more than"):
        load_yaml(f"a: &a x\nb: [{uses}]\n", "f.yaml")


def test_oversized_file_is_refused_before_it_is_read(tmp_path):
    spec = tmp_path / "lockgate.yaml"
    spec.write_text("version: 1\n" + "#" * (5 * 1024 * 1024))
    with pytest.raises(SpecError, match=r"lockgate.yaml: 5,242,891 bytes; a spec may be at most"):
        load_spec(spec)


@pytest.mark.timeout(60)  # a guard against a hang; how fast it is lives in benchmarks/spec_fuzz.py
@pytest.mark.parametrize("name", HOSTILE)
def test_hostile_files_end_in_a_located_error(name):
    with pytest.raises(SpecError, match=r"\.yaml:\d+:\d+: "):
        load_spec(BAD / f"{name}.yaml")


def test_a_control_character_is_located_by_characters_not_bytes():
    with pytest.raises(SpecError, match=r"^f.yaml:2:5: control characters are not allowed$"):
        load_yaml("a: ééé\nb: x\x07\n", "f.yaml")
