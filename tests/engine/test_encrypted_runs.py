"""Encryption at rest through the real CLI and the local executor: with ``encryption:`` set, cache
entries, exports and uncached outputs are sealed, a downstream stage reads a sealed cache hit
as plain files, no plaintext output and no key is left anywhere, and a tampered or wrongly keyed
entry stops the stage with one clear line, never a traceback."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest

from tests.projects import CliResult, last_record, lockgate, states, write_project

KEY = "6c6f636b676174652d746573742d6b65792d3332627974657321212121212121"  # 32 bytes, hex
PAYLOAD = "patient-7731,diagnosis=rare-condition"
SPEC = """\
version: 1
name: sealed
image: {base: lockgate/debian:bookworm}
secrets:
  data-key: {file: keys/data.key}
encryption: {key: data-key}
stages:
  extract:
    run: [sh, -c, 'cat data/rows.csv > "$LOCKGATE_OUT/rows.csv"; mkdir "$LOCKGATE_OUT/m"; echo w > "$LOCKGATE_OUT/m/w.bin"']
    inputs: ["data/*.csv"]
  count:
    run: [sh, -c, 'grep -c diagnosis "$LOCKGATE_IN/extract/rows.csv" > "$LOCKGATE_OUT/n.txt"; echo $MODE >> "$LOCKGATE_OUT/n.txt"; echo "{\\"rows\\": 1}" > "$LOCKGATE_OUT/metrics.json"']
    needs: [extract]
    env: {MODE: one}
  peek:
    run: [sh, -c, 'head -c 9 "$LOCKGATE_IN/extract/rows.csv" > "$LOCKGATE_OUT/head.txt"']
    needs: [extract]
    cache: false
"""


def _run(root: Path, *args: str) -> CliResult:
    return lockgate("run", "--executor", "local", *args, cwd=root)


def _first_run(root: Path) -> Path:
    write_project(root, SPEC, {"data/rows.csv": f"{PAYLOAD}\n", "keys/data.key": KEY + "\n"})
    first = _run(root)
    assert first.code == 0, first.stderr
    assert states(last_record(root)) == {"extract": "ok", "count": "ok", "peek": "ok"}
    return root


@pytest.fixture
def fresh_project(tmp_path: Path) -> Path:
    """A first run of its own, where everything at rest is what that run left."""
    return _first_run(tmp_path / "p")


@pytest.fixture(scope="module")
def first_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _first_run(tmp_path_factory.mktemp("sealed") / "p")


@pytest.fixture
def project(first_run: Path, tmp_path: Path) -> Path:
    """A copy of one first run: sealed entries read the same from any folder."""
    return Path(shutil.copytree(first_run, tmp_path / "p", symlinks=True))


def _files(folder: Path) -> list[Path]:
    return [p for p in folder.rglob("*") if p.is_file() and not p.is_symlink()]


def _entry(root: Path, stage: str) -> Path:
    for meta in (root / ".lockgate" / "cache").glob("*/entry.json"):
        if json.loads(meta.read_text())["stage"] == stage:
            return meta.parent
    raise AssertionError(f"no cache entry for {stage}")


def test_nothing_at_rest_is_plaintext_and_the_key_is_nowhere(fresh_project: Path) -> None:
    from lockgate.engine.sealing import Sealer

    project = fresh_project

    key_id = Sealer.from_key(bytes.fromhex(KEY)).key_id
    for stage in ("extract", "count"):
        meta = json.loads((_entry(project, stage) / "entry.json").read_text())
        assert meta["encryption"] == {"cipher": "AES-256-GCM", "key_id": key_id}
    record = last_record(project)
    peek = next(s for s in record["stages"] if s["name"] == "peek")
    assert peek["out"].endswith("out.sealed")  # an uncached stage's outputs stay sealed
    for path in _files(project / ".lockgate"):
        data = path.read_bytes()
        assert PAYLOAD.encode() not in data and b"patient-7731" not in data, path
        assert KEY.encode() not in data and bytes.fromhex(KEY) not in data, path
    run_dir = Path(record["stages"][0]["log"]).parent.parent
    assert not [p for p in run_dir.glob("*/out") if p.is_dir() and not p.is_symlink()]
    # each stage's out links to its sealed outputs, whose report files `lockgate report` reads
    assert (run_dir / "count" / "out").resolve() == (_entry(project, "count") / "out").resolve()
    assert (run_dir / "peek" / "out").resolve() == Path(peek["out"]).resolve()
    report = lockgate("report", cwd=project)
    assert report.code == 0 and "| rows | 1 |" in report.stdout, report.stdout + report.stderr


def test_a_sealed_cache_hit_is_read_downstream_as_plain_files(project: Path) -> None:
    again = _run(project)
    assert again.code == 0, again.stderr
    assert states(last_record(project)) == {"extract": "cached", "count": "cached", "peek": "ok"}
    spec = project / "lockgate.yaml"
    spec.write_text(spec.read_text().replace("MODE: one", "MODE: two"))
    changed = _run(project, "--export-dir", "exported")
    assert changed.code == 0, changed.stderr
    assert states(last_record(project)) == {"extract": "cached", "count": "ok", "peek": "ok"}
    from lockgate.engine.sealed_tree import open_tree
    from lockgate.engine.sealing import Sealer

    sealer = Sealer.from_key(bytes.fromhex(KEY))
    exported = project / "exported"
    assert b"two" not in (exported / "count" / "n.txt").read_bytes()  # exports are sealed
    assert json.loads((exported / "count" / "metrics.json").read_text()) == {"rows": 1}
    summary = lockgate("ci", "summary", "count", "--export-dir", "exported", cwd=project)
    assert "| rows | 1 |" in summary.stdout, summary.stdout  # the job summary still shows it
    open_tree(exported / "count", project / "opened", sealer, stage="count")
    assert (project / "opened" / "n.txt").read_text() == "1\ntwo\n"
    open_tree(exported / "peek", project / "peeked", sealer, stage="peek")
    assert (project / "peeked" / "head.txt").read_text() == PAYLOAD[:9]


def test_a_sealed_upstream_dir_feeds_a_later_job(project: Path) -> None:
    """What CI does: one job exports, the next passes the artifacts as --upstream-dir."""
    assert _run(project, "--stage", "extract", "--export-dir", "artifacts").code == 0
    shutil.rmtree(project / ".lockgate" / "cache")
    later = _run(project, "--stage", "count", "--only", "--upstream-dir", "artifacts")
    assert later.code == 0, later.stderr
    assert states(last_record(project)) == {"count": "ok"}


def test_a_tampered_entry_stops_its_reader_with_one_line(project: Path) -> None:
    rows = _entry(project, "extract") / "out" / "rows.csv"
    body = bytearray(rows.read_bytes())
    body[-20] ^= 1
    os.chmod(rows, 0o644)
    rows.write_bytes(bytes(body))
    spec = project / "lockgate.yaml"
    spec.write_text(spec.read_text().replace("MODE: one", "MODE: three"))
    result = _run(project)
    assert result.code != 0 and "Traceback" not in result.stderr
    count = next(s for s in last_record(project)["stages"] if s["name"] == "count")
    assert count["state"] == "failed"
    assert "rows.csv: authentication failed: the file was altered" in count["reason"]


def test_another_key_refuses_the_entries_sealed_with_the_first(project: Path) -> None:
    from lockgate.engine.sealing import Sealer

    (project / "keys" / "data.key").write_text(os.urandom(32).hex())
    result = _run(project, "--stage", "count", "--only")
    assert result.code != 0 and "Traceback" not in result.stderr
    reason = last_record(project)["stages"][0]["reason"]
    old = Sealer.from_key(bytes.fromhex(KEY)).key_id
    assert f"is sealed with key {old}, but the configured key is" in reason
    assert "re-run with --no-cache" in reason


def test_plaintext_entries_from_before_are_remade_sealed(tmp_path: Path) -> None:
    plain_spec = SPEC.replace("encryption: {key: data-key}\n", "")
    root = write_project(
        tmp_path / "p", plain_spec, {"data/rows.csv": f"{PAYLOAD}\n", "keys/data.key": KEY}
    )
    assert _run(root).code == 0
    assert PAYLOAD in (_entry(root, "extract") / "out" / "rows.csv").read_text()
    (root / "lockgate.yaml").write_text(SPEC)
    sealed = _run(root)
    assert sealed.code == 0, sealed.stderr
    assert states(last_record(root)) == {"extract": "ok", "count": "ok", "peek": "ok"}
    assert PAYLOAD.encode() not in (_entry(root, "extract") / "out" / "rows.csv").read_bytes()


@pytest.mark.parametrize(
    ("key", "message"),
    [
        (
            "k8s://ns/data-key",
            "lockgate.yaml:6:19: encryption.key: k8s keys cannot encrypt data at rest yet: "
            "wrapping lockgate's data key is built for AWS KMS, Google Cloud KMS, Azure Key "
            "Vault and Vault's transit engine only; use awskms://[ENDPOINT]/KEY, gcpkms://",
        ),
        (
            "gcpkms://projects/p/locations/l/keyRings/r/cryptoKeys/k",
            "lockgate.yaml:6:19: encryption.key: gcpkms needs GOOGLE_SERVICE_ACCOUNT_KEY: name "
            "the declared secrets that hold them",
        ),
        (
            "azurekms://vault.vault.azure.net/key",
            "encryption.key: azurekms needs AZURE_TENANT_ID and AZURE_CLIENT_ID and "
            "AZURE_CLIENT_SECRET",
        ),
        (
            "gcpkms://projects/p/keyRings/r/cryptoKeys/k",
            "lockgate.yaml:6:19: encryption.key: gcpkms://projects/p/keyRings/r/cryptoKeys/k: "
            "expected gcpkms://projects/PROJECT/locations/LOCATION/keyRings/RING/cryptoKeys/KEY",
        ),
        (
            "azurekms://my-vault.vault.azure.net",
            "lockgate.yaml:6:19: encryption.key: azurekms://my-vault.vault.azure.net: expected "
            "azurekms://VAULT_NAME.vault.azure.net/KEY[/VERSION]",
        ),
        (
            "awskms:///alias/lockgate",
            "lockgate.yaml:6:19: encryption.key: awskms needs AWS_ACCESS_KEY_ID and "
            "AWS_SECRET_ACCESS_KEY: name the declared secrets that hold them",
        ),
        ("data-kee", "encryption.key: secret 'data-kee' is not declared under top-level"),
    ],
)
def test_unusable_key_references_are_located_spec_errors(
    tmp_path: Path, key: str, message: str
) -> None:
    root = write_project(tmp_path / "p", SPEC.replace("{key: data-key}", "{key: " + key + "}"))
    result = lockgate("validate", cwd=root)
    assert result.code != 0 and "Traceback" not in result.stderr
    assert message in result.stderr


def test_a_stage_that_prints_the_key_file_shows_it_masked(tmp_path: Path) -> None:
    spec = SPEC.split("stages:\n")[0] + (
        "stages:\n  leak:\n    run: [sh, -c, 'cat keys/data.key; echo done > $LOCKGATE_OUT/x']\n"
    )
    root = write_project(tmp_path / "p", spec, {"keys/data.key": KEY + "\n"})
    result = _run(root)
    assert result.code == 0, result.stderr
    from lockgate.engine.sealed_log import read_log
    from lockgate.engine.sealing import Sealer

    sealed_log = Path(last_record(root)["stages"][0]["log"])
    assert sealed_log.name == "log.txt.sealed" and KEY.encode() not in sealed_log.read_bytes()
    log = read_log(Sealer.from_key(bytes.fromhex(KEY)), sealed_log.parent).text.decode()
    assert "***" in log and KEY not in log and KEY not in result.stdout + result.stderr


@pytest.mark.docker
def test_the_docker_executor_reads_a_sealed_hit_through_its_mounts(
    tmp_path: Path, base_image: str
) -> None:
    """The opened folder is what the container gets at /lockgate/in/extract."""
    spec = SPEC.replace(
        "{base: lockgate/debian:bookworm}", "{base: " + base_image + ", lockgate: false}"
    )
    spec = spec.replace("    cache: false\n", "")
    root = write_project(
        tmp_path / "p", spec, {"data/rows.csv": f"{PAYLOAD}\n", "keys/data.key": KEY + "\n"}
    )
    first = lockgate("run", "--executor", "docker", cwd=root)
    assert first.code == 0, first.stderr
    (root / "lockgate.yaml").write_text(spec.replace("MODE: one", "MODE: two"))
    second = lockgate("run", "--executor", "docker", "--export-dir", "exported", cwd=root)
    assert second.code == 0, second.stderr
    assert states(last_record(root)) == {"extract": "cached", "count": "ok", "peek": "cached"}
    from lockgate.engine.sealed_tree import open_tree
    from lockgate.engine.sealing import Sealer

    sealer = Sealer.from_key(bytes.fromhex(KEY))
    open_tree(root / "exported" / "count", root / "opened", sealer, stage="count")
    assert (root / "opened" / "n.txt").read_text() == "1\ntwo\n"
    for path in _files(root / ".lockgate"):
        assert PAYLOAD.encode() not in path.read_bytes(), path


def test_cache_folders_last_one_run_when_encryption_is_on(tmp_path: Path) -> None:
    """A stage's `caches:` folder is shared by the run's stages, and removed with the run's
    other plaintext when it ends: nothing a stage put there stays at rest unsealed."""
    spec = SPEC.split("stages:\n")[0] + (
        "stages:\n"
        "  fill:\n"
        '    run: [sh, -c, \'cat data/rows.csv > "$LOCKGATE_CACHE_DL/rows.csv"; echo ok > '
        '"$LOCKGATE_OUT/x"\']\n'
        "    caches: {dl: /cache/dl}\n"
        "  use:\n"
        '    run: [sh, -c, \'grep -c diagnosis "$LOCKGATE_CACHE_DL/rows.csv" > '
        '"$LOCKGATE_OUT/n.txt"\']\n'
        "    caches: {dl: /cache/dl}\n"
        "    needs: [fill]\n"
    )
    root = write_project(
        tmp_path / "p", spec, {"data/rows.csv": f"{PAYLOAD}\n", "keys/data.key": KEY + "\n"}
    )
    result = _run(root)
    assert result.code == 0, result.stderr
    assert states(last_record(root)) == {"fill": "ok", "use": "ok"}  # `use` saw fill's file
    lockgate_dir = root / ".lockgate"
    assert not (lockgate_dir / "caches").exists()
    assert [p for p in _files(lockgate_dir) if PAYLOAD.encode() in p.read_bytes()] == []
    plain = write_project(tmp_path / "plain", spec.replace("encryption: {key: data-key}\n", ""))
    (plain / "data").mkdir(exist_ok=True)
    (plain / "data" / "rows.csv").write_text(f"{PAYLOAD}\n")
    assert _run(plain).code == 0
    assert (plain / ".lockgate" / "caches" / "dl" / "rows.csv").read_text() == f"{PAYLOAD}\n"
