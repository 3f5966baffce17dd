"""The sealed parts of an ingest dataset are bound to it: each is sealed under ``ingest/<stage>/``
and its name, recorded in the sealed journal as ``sealed_as``, and checked against the journal's
size and sha256 before the stage uses it. A part copied from another stage's dataset, an earlier
version of a part, or a part gone missing is one line naming the file; a journal written before
``sealed_as`` keeps sealing under the bare file name and still opens. The stage runs in process
on real Parquet files; nothing is stubbed."""

from __future__ import annotations

import hashlib
import json
import re
import shutil
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from lockgate.contract import ENV_ENCRYPTION_KEY
from lockgate.engine.sealing import Sealer
from lockgate.errors import LockgateError
from lockgate.stages.context import StageContext
from lockgate.stages.ingest import main
from lockgate.stages.ingest.manifest import manifest_files
from tests.stages.ingest.conftest import stage_context

KEY = bytes(range(32))
SEALER = Sealer.from_key(KEY)
FIRST = "data/part-000001.parquet.sealed"


def _context(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, stage: str, run: str, raw: str = "raw"
) -> StageContext:
    monkeypatch.setenv(ENV_ENCRYPTION_KEY, "data-key")
    with_ = {"source": {"files": {"path": raw}}, "mode": "stream"}
    ctx = replace(stage_context(tmp_path, with_, run=f"{stage}-{run}"), stage=stage)
    (ctx.secrets_dir / "data-key").write_text(KEY.hex() + "\n")
    return ctx


def _day(tmp_path: Path, raw: str, day: str, names: list[str]) -> None:
    import polars as pl

    folder = tmp_path / "ws" / raw / f"day={day}"
    folder.mkdir(parents=True, exist_ok=True)
    pl.DataFrame({"id": range(len(names)), "name": names}).write_parquet(folder / "p.parquet")


def _state(tmp_path: Path, stage: str) -> Path:
    return tmp_path / "state" / "ingest" / stage


def _journal(state: Path) -> dict[str, Any]:
    """The dataset's journal, opened with the key (sealed under ``ingest/<stage>/``)."""
    path = state / "journal.json.sealed"
    name = f"ingest/{state.name}/journal.json.sealed"
    return dict(json.loads(SEALER.open(path.read_bytes(), name, str(path))))


def _rewrite_journal(state: Path, journal: dict[str, Any]) -> None:
    """What only a holder of the key can do: seal a changed journal in place."""
    name = f"ingest/{state.name}/journal.json.sealed"
    (state / "journal.json.sealed").write_bytes(SEALER.seal(json.dumps(journal).encode(), name))


def _names(ctx: StageContext) -> list[str]:
    import polars as pl

    return [
        n for p in manifest_files(ctx.out / "manifest.json") for n in pl.read_parquet(p)["name"]
    ]


@pytest.mark.parametrize("copied", ["part", "part and its journal entry", "state folder"])
def test_a_part_from_another_stages_dataset_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, copied: str
) -> None:
    _day(tmp_path, "raw-a", "2024-05-01", ["a-row-1", "a-row-2"])
    _day(tmp_path, "raw-b", "2024-05-01", ["b-row-1", "b-row-2"])
    assert main(_context(tmp_path, monkeypatch, "ing-a", "1", "raw-a")) == 0
    assert main(_context(tmp_path, monkeypatch, "ing-b", "1", "raw-b")) == 0
    a, b = _state(tmp_path, "ing-a"), _state(tmp_path, "ing-b")
    if copied == "state folder":
        shutil.rmtree(b)
        shutil.copytree(a, b)
        message = (  # the journal is sealed under its dataset's name too
            f"{b / 'journal.json.sealed'}: authentication failed: the file was altered, truncated "
            f"or moved; delete {b} to ingest from the beginning"
        )
    else:
        shutil.copyfile(a / FIRST, b / FIRST)  # same key, same file name
        message = f"{b / FIRST}: "
        if copied == "part and its journal entry":
            journal = _journal(b)
            journal["parts"][0] = _journal(a)["parts"][0]
            _rewrite_journal(b, journal)
            message += "authentication failed"  # only the name it is sealed under tells
    with pytest.raises(LockgateError, match=re.escape(message)) as caught:
        main(_context(tmp_path, monkeypatch, "ing-b", "2", "raw-b"))
    assert "\n" not in str(caught.value)


def test_an_earlier_version_of_a_part_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Sealed by the same stage under the same key and name, so it authenticates; the journal's
    sha256 refuses it."""
    _day(tmp_path, "raw", "2024-05-01", ["old-row-1", "old-row-2"])
    assert main(_context(tmp_path, monkeypatch, "ingest", "1")) == 0
    state = _state(tmp_path, "ingest")
    earlier = (state / FIRST).read_bytes()
    shutil.rmtree(state)
    _day(tmp_path, "raw", "2024-05-01", ["new-row-1", "new-row-2"])
    assert main(_context(tmp_path, monkeypatch, "ingest", "2")) == 0
    assert len((state / FIRST).read_bytes()) == len(earlier)
    (state / FIRST).write_bytes(earlier)
    ctx = _context(tmp_path, monkeypatch, "ingest", "3")
    message = (
        f"{state / FIRST}: not the part journal.json recorded (its sha256 differs); "
        f"delete {state} to ingest from the beginning"
    )
    with pytest.raises(LockgateError, match=f"^{re.escape(message)}$"):
        main(ctx)
    assert not (ctx.out / "data" / "part-000001.parquet").exists()


def test_a_replaced_unsealed_part_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _day(tmp_path, "raw-a", "2024-05-01", ["a-row-1", "a-row-2"])
    _day(tmp_path, "raw-b", "2024-05-01", ["b-row-1", "b-row-2"])
    monkeypatch.delenv(ENV_ENCRYPTION_KEY, raising=False)
    with_ = {"source": {"files": {"path": "raw-a"}}, "mode": "stream"}
    assert main(replace(stage_context(tmp_path, with_, run="a"), stage="ing-a")) == 0
    with_ = {"source": {"files": {"path": "raw-b"}}, "mode": "stream"}
    assert main(replace(stage_context(tmp_path, with_, run="b1"), stage="ing-b")) == 0
    plain = "data/part-000001.parquet"
    a, b = _state(tmp_path, "ing-a"), _state(tmp_path, "ing-b")
    shutil.copyfile(a / plain, b / plain)
    with pytest.raises(LockgateError, match=re.escape(f"{b / plain}: ")):
        main(replace(stage_context(tmp_path, with_, run="b2"), stage="ing-b"))


@pytest.mark.parametrize(
    ("sealed", "gone"),
    [
        (True, "part-000001.parquet.sealed"),  # found missing when published
        (True, "part-000002.parquet.sealed"),  # the newest: read first, for the schema
        (False, "part-000001.parquet"),
    ],
)
def test_a_part_missing_from_the_state_folder_is_one_clear_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, sealed: bool, gone: str
) -> None:
    for day in ("2024-05-01", "2024-05-02"):
        _day(tmp_path, "raw", day, ["row-1", "row-2"])
    ctx = _context(tmp_path, monkeypatch, "ingest", "1")
    if not sealed:
        monkeypatch.delenv(ENV_ENCRYPTION_KEY)
    assert main(ctx) == 0
    state = _state(tmp_path, "ingest")
    (state / "data" / gone).unlink()
    message = (
        f"{state / 'data' / gone}: listed in journal.json but missing; delete {state} to ingest "
        "from the beginning"
    )
    with pytest.raises(LockgateError, match=f"^{re.escape(message)}$"):
        main(replace(ctx, out=tmp_path / "out-2", run_id="2"))


def test_a_journal_sealed_under_bare_names_still_opens_and_keeps_its_scheme(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for day in ("2024-05-01", "2024-05-02"):
        _day(tmp_path, "raw", day, [f"{day}-1", f"{day}-2"])
    assert main(_context(tmp_path, monkeypatch, "ingest", "1")) == 0
    state = _state(tmp_path, "ingest")
    journal = _journal(state)
    assert journal["sealed_as"] == "ingest/ingest"
    # what lockgate wrote before `sealed_as`: each part sealed under its bare file name
    for entry in journal["parts"]:
        path = state / "data" / entry["file"]
        plain = SEALER.open(path.read_bytes(), f"ingest/ingest/{entry['file']}", str(path))
        body = SEALER.seal(plain, entry["file"])
        path.write_bytes(body)
        entry.update(bytes=len(body), sha256=hashlib.sha256(body).hexdigest())
    del journal["sealed_as"]
    _rewrite_journal(state, journal)
    _day(tmp_path, "raw", "2024-05-03", ["2024-05-03-1", "2024-05-03-2"])
    ctx = _context(tmp_path, monkeypatch, "ingest", "2")
    assert main(ctx) == 0
    journal = _journal(state)
    assert "sealed_as" not in journal
    assert [p["file"] for p in journal["parts"]][-1] == "part-000003.parquet.sealed"
    for entry in journal["parts"]:  # the new part too: one scheme for the whole dataset
        path = state / "data" / entry["file"]
        SEALER.open(path.read_bytes(), entry["file"], str(path))
    days = ("2024-05-01", "2024-05-02", "2024-05-03")
    assert _names(ctx) == [f"{day}-{i}" for day in days for i in (1, 2)]
