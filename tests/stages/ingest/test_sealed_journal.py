"""Under ``encryption:`` the ingest journal is sealed (``journal.json.sealed``, under the dataset's
name): someone who can write the state folder but holds no key can no longer list a plain part,
list a part twice, drop parts or move the watermark, and the source values it records are not in
plaintext. A plain journal where a sealed one belongs (and the reverse) is refused in one line.
The stage runs in process on real Parquet files; nothing is stubbed."""

from __future__ import annotations

import hashlib
import json
import re
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
NAME = "ingest/ingest/journal.json.sealed"


def _context(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, run: str) -> StageContext:
    monkeypatch.setenv(ENV_ENCRYPTION_KEY, "data-key")
    ctx = stage_context(tmp_path, {"source": {"files": {"path": "raw"}}, "mode": "stream"}, run)
    (ctx.secrets_dir / "data-key").write_text(KEY.hex() + "\n")
    return ctx


def _day(tmp_path: Path, day: str, names: list[str]) -> None:
    import polars as pl

    folder = tmp_path / "ws" / "raw" / f"day={day}"
    folder.mkdir(parents=True, exist_ok=True)
    frame = pl.DataFrame({"id": range(len(names)), "name": names})
    frame.write_parquet(folder / "p.parquet", compression="uncompressed")


def _names(ctx: StageContext) -> list[str]:
    import polars as pl

    return [
        n for p in manifest_files(ctx.out / "manifest.json") for n in pl.read_parquet(p)["name"]
    ]


def _state(tmp_path: Path) -> Path:
    return tmp_path / "state" / "ingest" / "ingest"


def _journal(state: Path) -> dict[str, Any]:
    path = state / "journal.json.sealed"
    return dict(json.loads(SEALER.open(path.read_bytes(), NAME, str(path))))


def _refused(ctx: StageContext, message: str) -> None:
    with pytest.raises(LockgateError) as caught:
        main(ctx)
    assert str(caught.value) == message
    assert not (ctx.out / "manifest.json").exists()


def test_the_journal_is_sealed_and_holds_no_source_value_in_plaintext(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _day(tmp_path, "2024-05-01", ["secret-row-1"])
    assert main(_context(tmp_path, monkeypatch, "1")) == 0
    state = _state(tmp_path)
    assert sorted(p.name for p in state.iterdir()) == ["data", "journal.json.sealed"]
    body = (state / "journal.json.sealed").read_bytes()
    assert b"day=2024-05-01" not in body and b"part-000001" not in body
    assert _journal(state)["watermark"] == "day=2024-05-01/p.parquet"
    _day(tmp_path, "2024-05-02", ["secret-row-2"])
    ctx = _context(tmp_path, monkeypatch, "2")
    assert main(ctx) == 0
    assert _names(ctx) == ["secret-row-1", "secret-row-2"]


def test_a_plain_journal_planted_beside_a_sealed_dataset_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The attack: a plain part listed in a plain journal, and a sealed part listed twice."""
    import polars as pl

    _day(tmp_path, "2024-05-01", ["secret-row-1", "secret-row-2"])
    assert main(_context(tmp_path, monkeypatch, "1")) == 0
    state = _state(tmp_path)
    journal = _journal(state)  # what the attacker would have to guess: the parts' entries
    forged = state / "data" / "part-000099.parquet"
    pl.DataFrame({"id": [0], "name": ["FORGED-ROW"]}).write_parquet(forged)
    body = forged.read_bytes()
    entry = {"file": forged.name, "rows": 1, "bytes": len(body)}
    journal["parts"] += [{**entry, "sha256": hashlib.sha256(body).hexdigest()}]
    journal["parts"] += [journal["parts"][0]]
    (state / "journal.json").write_text(json.dumps(journal))
    _refused(
        _context(tmp_path, monkeypatch, "2"),
        f"{state / 'journal.json'}: `encryption:` is set, but the dataset was ingested without "
        "it (or by an earlier lockgate that kept its journal in plaintext): nothing vouches for "
        f"its journal or its parts; delete {state} to ingest from the beginning, sealed",
    )


def test_encryption_turned_on_for_a_plain_dataset_is_refused_until_it_starts_over(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Its plain parts would otherwise stay in the state folder and be published on."""
    _day(tmp_path, "2024-05-01", ["patient-7731"])
    monkeypatch.delenv(ENV_ENCRYPTION_KEY, raising=False)
    plain = stage_context(tmp_path, {"source": {"files": {"path": "raw"}}, "mode": "stream"})
    assert main(plain) == 0
    state = _state(tmp_path)
    _refused(
        _context(tmp_path, monkeypatch, "2"),
        f"{state / 'journal.json'}: `encryption:` is set, but the dataset was ingested without "
        "it (or by an earlier lockgate that kept its journal in plaintext): nothing vouches for "
        f"its journal or its parts; delete {state} to ingest from the beginning, sealed",
    )
    import shutil

    shutil.rmtree(state)
    ctx = _context(tmp_path, monkeypatch, "3")
    assert main(ctx) == 0
    assert _names(ctx) == ["patient-7731"]
    for part in (state / "data").iterdir():
        assert part.name.endswith(".sealed") and b"patient-7731" not in part.read_bytes()


def test_a_sealed_journal_without_encryption_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _day(tmp_path, "2024-05-01", ["row"])
    assert main(_context(tmp_path, monkeypatch, "1")) == 0
    monkeypatch.delenv(ENV_ENCRYPTION_KEY)
    state = _state(tmp_path)
    _refused(
        stage_context(tmp_path, {"source": {"files": {"path": "raw"}}, "mode": "stream"}, "2"),
        f"{state / 'journal.json.sealed'}: the dataset is sealed, but lockgate.yaml sets no "
        "`encryption:`; set `encryption:` to that key (the one it was sealed with), or delete "
        f"{state} to ingest from the beginning",
    )


@pytest.mark.parametrize("change", ["flip a byte", "cut short", "another dataset's"])
def test_a_sealed_journal_that_does_not_open_is_one_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, change: str
) -> None:
    _day(tmp_path, "2024-05-01", ["row"])
    assert main(_context(tmp_path, monkeypatch, "1")) == 0
    state = _state(tmp_path)
    path = state / "journal.json.sealed"
    body = path.read_bytes()
    if change == "flip a byte":
        body = body[:-1] + bytes([body[-1] ^ 1])
    elif change == "cut short":
        body = body[:20]
    else:  # sealed under the same key for another stage's dataset
        body = SEALER.seal(SEALER.open(body, NAME, str(path)), "ingest/other/journal.json.sealed")
    path.write_bytes(body)
    with pytest.raises(LockgateError) as caught:
        main(_context(tmp_path, monkeypatch, "2"))
    assert str(caught.value).startswith(f"{path}: ")
    assert str(caught.value).endswith(f"; delete {state} to ingest from the beginning")
    assert "\n" not in str(caught.value) and "re-run the stage" not in str(caught.value)


@pytest.mark.parametrize("listed", ["a plain part", "a part twice"])
def test_a_sealed_journal_may_list_only_sealed_parts_each_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, listed: str
) -> None:
    """Defence in depth: a journal sealed by a holder of the key that lists them anyway."""
    _day(tmp_path, "2024-05-01", ["row"])
    assert main(_context(tmp_path, monkeypatch, "1")) == 0
    state = _state(tmp_path)
    journal = _journal(state)
    first = journal["parts"][0]
    if listed == "a plain part":
        journal["parts"][0] = {**first, "file": first["file"].removesuffix(".sealed")}
        problem = "listed in journal.json but not sealed, under `encryption:`"
    else:
        journal["parts"].append(first)
        problem = "listed twice in journal.json"
    (state / "journal.json.sealed").write_bytes(SEALER.seal(json.dumps(journal).encode(), NAME))
    file = journal["parts"][0]["file"]
    _refused(
        _context(tmp_path, monkeypatch, "2"),
        f"{state / 'data' / file}: {problem}; delete {state} to ingest from the beginning",
    )


def test_a_tampered_newest_part_in_a_run_of_no_new_rows_says_to_start_over(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The run reads the newest part for the output's schema; re-running never mends it."""
    _day(tmp_path, "2024-05-01", ["row"])
    assert main(_context(tmp_path, monkeypatch, "1")) == 0
    state = _state(tmp_path)
    part = state / "data" / "part-000001.parquet.sealed"
    body = bytearray(part.read_bytes())
    body[60] ^= 1  # the same size: only opening it tells
    part.write_bytes(bytes(body))
    for run in ("2", "3"):
        message = (
            f"{part}: authentication failed: the file was altered, truncated or moved; "
            f"delete {state} to ingest from the beginning"
        )
        with pytest.raises(LockgateError, match=f"^{re.escape(message)}$"):
            main(_context(tmp_path, monkeypatch, run))
