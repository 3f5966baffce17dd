"""The encryption key is masked in every form it is accepted in, through the real CLI and the
local executor: a key secret given as base64 or upper-case hex with whitespace around it (the key
parser strips it), printed by a stage that lists the secret, and the key printed in every other
form it may be written in (hex in either case, base64 and url-safe base64, padded or not), shows
nowhere: not in the CLI's output, the stage's log (``lockgate log``), run.json or any file under
``.lockgate/``."""

from __future__ import annotations

import base64
from pathlib import Path

import pytest

from tests.projects import last_record, lockgate, states, write_project

KEY = bytes.fromhex("6c6f636b676174652d6d61736b2d746573742d6b65792d3332627974657321ab")
SPEC = """\
version: 1
name: masked
image: {base: lockgate/debian:bookworm}
secrets:
  data-key: {env: LG_TEST_KEY}
encryption: {key: data-key}
stages:
  leak:
    run: [sh, -c, 'cat "$LOCKGATE_SECRETS/data-key"; echo; cat forms.txt; echo ok > "$LOCKGATE_OUT/x"']
    secrets: [data-key]
"""


def _forms(key: bytes) -> list[str]:
    """Every text the key may be printed as; the longest first, so a prefix is checked too."""
    padded = [base64.b64encode(key).decode(), base64.urlsafe_b64encode(key).decode()]
    forms = [key.hex(), key.hex().upper(), *padded, *(f.rstrip("=") for f in padded)]
    return sorted(set(forms), key=len, reverse=True)


@pytest.mark.parametrize(
    "value",
    [
        base64.b64encode(KEY).decode() + "\n",
        KEY.hex().upper() + " ",
        " " + KEY.hex() + "\t\n",
    ],
    ids=["base64-newline", "upper-hex-space", "hex-padded"],
)
def test_every_form_of_the_key_is_masked(tmp_path: Path, value: str) -> None:
    forms = _forms(KEY)
    root = write_project(tmp_path / "p", SPEC, {"forms.txt": "\n".join(forms) + "\n"})
    env = {"LG_TEST_KEY": value}
    result = lockgate("run", "--executor", "local", cwd=root, env=env)
    assert result.code == 0, result.stderr
    assert states(last_record(root)) == {"leak": "ok"}
    log = lockgate("log", "leak", cwd=root, env=env)
    assert log.code == 0, log.stderr
    assert log.stdout.count("***") == 1 + len(forms), log.stdout  # the secret file, each form
    record = (Path(last_record(root)["stages"][0]["log"]).parent.parent / "run.json").read_text()
    shown = {"output": result.stdout + result.stderr, "log": log.stdout, "run.json": record}
    at_rest = [p for p in (root / ".lockgate").rglob("*") if p.is_file() and not p.is_symlink()]
    for form in forms:
        for where, text in shown.items():
            assert form not in text, (form, where)
        for path in at_rest:
            assert form.encode() not in path.read_bytes(), (form, path)
