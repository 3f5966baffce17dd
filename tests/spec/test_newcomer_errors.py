"""Mistakes people make in their first hand-written lockgate.yaml, through the real CLI: each gets
one located line that says what to write instead, exit 2, never a traceback."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from lockgate.__main__ import main
from tests.projects import REPO_ROOT

HEAD = "version: 1\nname: demo\nimage: {base: lockgate/debian:bookworm}\n"


def _refusal(
    root: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], *argv: str
) -> str:
    monkeypatch.chdir(root)
    code = main(["validate", *argv])
    out, err = capsys.readouterr()
    assert code == 2, err
    assert out == "" and "Traceback" not in err and "internal error" not in err
    assert err.startswith("lockgate: error: ") and err.count("\n") == 1
    return err.removeprefix("lockgate: error: ").strip()


@pytest.fixture
def refused(tmp_path, monkeypatch, capsys):
    """The one error line ``lockgate validate`` gives for a spec of this text (or bytes)."""

    def check(spec: str | bytes) -> str:
        path = tmp_path / "lockgate.yaml"
        path.write_bytes(spec.encode() if isinstance(spec, str) else spec)
        return _refusal(tmp_path, monkeypatch, capsys)

    return check


@pytest.mark.parametrize(
    ("stage", "message"),
    [
        (
            "a: {run: x}\n  b: {run: y, needs: a}",
            "lockgate.yaml:6:22: stages.b.needs: must be a list, not 'a'; write it as a list: "
            "needs: [a]",
        ),
        (
            "a: {run: x, inputs: '*.py'}",
            "lockgate.yaml:5:23: stages.a.inputs: must be a list, not '*.py'; write it as a "
            'list: inputs: ["*.py"]',
        ),
        (
            "a: {run: x, when: push}",
            "lockgate.yaml:5:21: stages.a.when: must be a list, not 'push'; write it as a list: "
            "when: [push]",
        ),
        ("a: {run: 5}", "lockgate.yaml:5:12: stages.a.run: must be a list or a string, not 5"),
        ("a:", "lockgate.yaml:5:5: stages.a: must be a mapping, not an empty value"),
        (
            "a:\n    run:[python3, train.py]",
            "lockgate.yaml:6:5: stages.a: must be a mapping, not 'run:[python3, train.py]'; put a "
            "space after the colon: run: [python3, train.py]",
        ),
        (
            "a: {run: x, env: [A=1]}",
            "lockgate.yaml:5:20: stages.a.env: must be a mapping, not a list",
        ),
    ],
    ids=["needs", "inputs-glob", "when", "run-number", "stage-empty", "no-space", "env-list"],
)
def test_a_value_of_the_wrong_shape_says_which_shape_and_how(refused, stage, message):
    assert refused(f"{HEAD}stages:\n  {stage}\n") == message


def test_a_secret_written_as_a_string_names_the_keys_it_takes(refused):
    spec = f"{HEAD}secrets:\n  token: TOKEN\nstages:\n  a: {{run: x}}\n"
    assert refused(spec) == (
        "lockgate.yaml:5:10: secrets.token: must be a mapping, not 'TOKEN' (keys: env, file)"
    )


def test_no_stages_at_all(refused):
    assert refused(f"{HEAD}stages: {{}}\n") == (
        "lockgate.yaml:4:9: stages: is empty; give at least 1 entry"
    )


@pytest.mark.parametrize("text", ["", "# nothing yet\n", "\n\n"])
def test_an_empty_file_says_what_a_spec_starts_with(refused, text):
    message = refused(text)
    assert message.startswith("lockgate.yaml:1:1: the file holds no spec; start from ")
    for key in ("version: 1", "name:", "image:", "stages:"):
        assert key in message


def test_a_name_is_explained_not_shown_as_a_regular_expression(refused):
    message = refused("version: 1\nname: My Pipeline\nimage: {base: b}\nstages: {a: {run: x}}\n")
    assert message == (
        "lockgate.yaml:2:7: name: invalid name 'My Pipeline': use lowercase letters, digits, "
        "'-' and '_' (at most 63, starting with a letter or digit)"
    )


def test_a_misspelled_required_key_is_the_misspelling_alone(refused):
    assert refused(f"{HEAD}stagse:\n  a: {{run: x}}\n") == (
        "lockgate.yaml:4:1: stagse: unknown key 'stagse'; did you mean 'stages'?"
    )


@pytest.mark.parametrize(("written", "shown"), [('"1"', "'1'"), ("2", "2"), ("1.0", "1.0")])
def test_the_version_is_the_number_one(refused, written, shown):
    assert refused(
        f"version: {written}\nname: d\nimage: {{base: b}}\nstages: {{a: {{run: x}}}}\n"
    ) == (
        f"lockgate.yaml:1:10: version: lockgate reads spec version 1 (a number), not {shown}; "
        "write version: 1"
    )


def test_an_unknown_need_without_a_close_name_lists_the_stages(refused):
    spec = f"{HEAD}stages:\n  prepare: {{run: x}}\n  fit: {{run: y, needs: [data]}}\n"
    assert refused(spec) == (
        "lockgate.yaml:6:25: stages.fit.needs[0]: unknown stage 'data' (the other stages: prepare)"
    )


@pytest.mark.parametrize("newline", ["\n", "\r\n"], ids=["lf", "crlf"])
def test_a_tab_in_the_indentation_is_named(refused, newline):
    spec = f"version: 1{newline}name: d{newline}image:{newline}\tbase: b{newline}"
    assert refused(spec) == (
        "lockgate.yaml:4:1: invalid YAML: a tab character; YAML indents with spaces only: "
        "replace the tab with spaces"
    )


def test_a_key_indented_off_its_mapping_says_to_check_the_indentation(refused):
    spec = f"{HEAD}stages:\n  a:\n    run: [x]\n   needs: []\n"
    assert refused(spec) == (
        "lockgate.yaml:7:4: invalid YAML: did not find expected key (check this line's "
        "indentation: the keys of one mapping start in the same column, and a list item under a "
        "key starts with '- ')"
    )


def test_an_unquoted_colon_in_a_value_says_to_quote_it(refused):
    message = refused(f"{HEAD}stages:\n  a:\n    run: echo a: b\n")
    assert message.startswith("lockgate.yaml:6:16: invalid YAML: mapping values are not allowed")
    assert message.endswith(
        "(a value that holds ': ' must be quoted, e.g. run: \"echo a: b\"; or this line is "
        "indented deeper than the key above it)"
    )


def test_windows_line_ends_validate(tmp_path, monkeypatch, capsys):
    spec = f"{HEAD}stages:\n  a: {{run: x}}\n".replace("\n", "\r\n")
    (tmp_path / "lockgate.yaml").write_bytes(spec.encode())
    monkeypatch.chdir(tmp_path)
    assert main(["validate"]) == 0
    assert capsys.readouterr().out.startswith("ok: lockgate.yaml")


def test_text_that_is_not_utf8_is_located_at_its_line(tmp_path, refused):
    message = refused(f"{HEAD}stages:\n  a: {{run: 'caf".encode() + b"\xe9'}\n")
    assert message == (
        f"{tmp_path / 'lockgate.yaml'}:5:16: not UTF-8 text (byte 0xe9); save the file as UTF-8"
    )


@pytest.mark.parametrize("encoding", ["utf-16", "utf-32"])
def test_a_spec_saved_as_utf16_or_utf32_is_named(tmp_path, refused, encoding):
    message = refused(f"{HEAD}stages: {{a: {{run: x}}}}\n".encode(encoding))
    assert message == (
        f"{tmp_path / 'lockgate.yaml'}: saved as {encoding.upper()}; save it as UTF-8"
    )


def test_a_folder_named_lockgate_yaml_is_not_skipped(tmp_path, monkeypatch, capsys):
    (tmp_path / "lockgate.yaml").mkdir()
    assert _refusal(tmp_path, monkeypatch, capsys) == (
        f"{tmp_path / 'lockgate.yaml'}: a folder, not a spec file; pass the spec file: --spec PATH"
    )


def test_a_broken_link_is_named_not_skipped(tmp_path, monkeypatch, capsys):
    (tmp_path / "lockgate.yaml").symlink_to("moved.yaml")
    assert _refusal(tmp_path, monkeypatch, capsys) == (
        f"{tmp_path / 'lockgate.yaml'}: a symbolic link to moved.yaml, which does not exist; "
        "fix the link"
    )


def test_a_symlink_loop_is_named_found_or_passed(tmp_path, monkeypatch, capsys):
    os.symlink("b", tmp_path / "a")
    os.symlink("a", tmp_path / "b")
    os.symlink("a", tmp_path / "lockgate.yaml")
    loop = "a symbolic link that leads back to itself (a loop); point it at the spec file"
    assert _refusal(tmp_path, monkeypatch, capsys) == f"{tmp_path / 'lockgate.yaml'}: {loop}"
    assert _refusal(tmp_path, monkeypatch, capsys, "--spec", "a") == f"a: {loop}"


def test_spec_given_as_the_project_folder_names_the_file(tmp_path, monkeypatch, capsys):
    project = tmp_path / "project"
    project.mkdir()
    (project / "lockgate.yaml").write_text(f"{HEAD}stages: {{a: {{run: x}}}}\n")
    assert _refusal(tmp_path, monkeypatch, capsys, "--spec", "project") == (
        f"{project}: a folder, not a spec file; pass --spec {project / 'lockgate.yaml'}"
    )


def test_the_json_schema_accepts_every_valid_example():
    """What ``lockgate validate`` accepts, an editor using ``lockgate schema`` must not flag:
    durations (``timeout: 10m``, ``approval_ttl: 24h``) and ``runner:`` as a list of labels."""
    import jsonschema

    from lockgate.commands.schema import spec_schema
    from lockgate.spec.yamlpos import load_yaml, read_spec_text

    validator = jsonschema.Draft202012Validator(spec_schema())
    specs = [
        *REPO_ROOT.glob("pipelines/*/lockgate.yaml"),
        *REPO_ROOT.glob("tests/spec/examples/good/*.yaml"),
    ]
    assert len(specs) > 5
    for path in specs:
        raw, _ = load_yaml(read_spec_text(path), str(path))
        problems = [f"{list(e.absolute_path)}: {e.message}" for e in validator.iter_errors(raw)]
        assert not problems, (path.relative_to(REPO_ROOT), problems[:3])
    stage = {"run": "x", "timeout": "10m", "runner": ["self-hosted", "gpu"]}
    spec = {"version": 1, "name": "d", "image": {"base": "b"}, "stages": {"a": stage}}
    assert validator.is_valid(spec)
    assert not validator.is_valid({**spec, "stages": {"a": {**stage, "timeout": "10 minutes"}}})


def test_the_reference_calls_a_duration_a_duration():
    from lockgate.spec.reference import render

    text = render()
    assert "| `timeout` | duration (seconds, or `30m`, `1h30m`, ...) (optional) |" in text
    assert "| `approval_ttl` | duration (seconds, or `30m`, `1h30m`, ...) | `86400` |" in text
    assert "\n## triggers\n\nWhat starts the pipeline" in text
