"""The sealed log's framing, written and read with the real cipher: lines are sealed as they are
flushed, a log whose writer never closed it opens up to what was flushed and says so, and every
way of altering one (a flipped bit, segments swapped, a cut inside a segment, bytes appended
after the end, another run's or stage's log, another key) is refused."""

from __future__ import annotations

import struct
import time
from pathlib import Path

import pytest

from lockgate.engine import sealed_log
from lockgate.engine.sealed_log import HEADER, SealedLogWriter, open_log
from lockgate.engine.sealing import Sealer, SealError

SEALER = Sealer.from_key(bytes(range(32)))
NAME = "log:r1/train"


def _segments(data: bytes) -> list[bytes]:
    """The raw segments after the header (length prefix, ciphertext and tag each)."""
    out, at = [], HEADER
    while at < len(data):
        (n,) = struct.unpack_from(">I", data, at)
        out.append(data[at : at + 4 + n + 16])
        at += 4 + n + 16
    return out


def _written(tmp_path: Path, batches: list[list[str]], *, close: bool = True) -> Path:
    """A log written in ``batches``, each flushed as one segment."""
    path = tmp_path / "log.txt.sealed"
    writer = SealedLogWriter(SEALER, path, NAME)
    for batch in batches:
        for line in batch:
            writer.write_line(line)
        with writer._lock:
            writer._flush(last=False)
    if close:
        writer.close()
    return path


def test_lines_come_back_and_no_line_is_on_disk_in_plaintext(tmp_path: Path) -> None:
    path = _written(tmp_path, [["row-17,secret-value"], ["epoch 1", "epoch 2"]])
    assert b"secret-value" not in path.read_bytes() and b"epoch" not in path.read_bytes()
    opened = open_log(SEALER, path, NAME)
    assert opened.text == b"row-17,secret-value\nepoch 1\nepoch 2\n"
    assert opened.complete and opened.lines == 3
    assert len(_segments(path.read_bytes())) == 3  # two flushes and the (empty) last segment


def test_buffered_lines_reach_the_disk_without_a_close(tmp_path: Path) -> None:
    path = tmp_path / "log.txt.sealed"
    writer = SealedLogWriter(SEALER, path, NAME)
    writer.write_line("first line")
    deadline = time.monotonic() + 5
    while path.stat().st_size == HEADER and time.monotonic() < deadline:
        time.sleep(0.02)
    opened = open_log(SEALER, path, NAME)  # what a reader sees while the run is going
    assert opened.text == b"first line\n" and not opened.complete and opened.lines == 1
    writer.close()
    assert open_log(SEALER, path, NAME).complete


def test_a_full_buffer_is_flushed_at_once(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sealed_log, "FLUSH_SECONDS", 60.0)  # only the size can flush here
    path = tmp_path / "log.txt.sealed"
    writer = SealedLogWriter(SEALER, path, NAME)
    line = "x" * 1000
    for _ in range(sealed_log.FLUSH_BYTES // 1000 + 1):
        writer.write_line(line)
    assert path.stat().st_size > HEADER
    writer.close()
    assert open_log(SEALER, path, NAME).lines == sealed_log.FLUSH_BYTES // 1000 + 1


def test_a_log_never_closed_says_it_was_cut_short(tmp_path: Path) -> None:
    path = _written(tmp_path, [["a", "b"], ["c"]], close=False)
    opened = open_log(SEALER, path, NAME)
    assert opened.text == b"a\nb\nc\n" and not opened.complete and opened.lines == 3
    # the same log cut at a segment boundary after its last segment: also only "cut short"
    (tmp_path / "closed").mkdir()
    closed = _written(tmp_path / "closed", [["a"], ["b"]])
    data = closed.read_bytes()
    closed.write_bytes(data[: len(data) - len(_segments(data)[-1])])
    assert not open_log(SEALER, closed, NAME).complete


@pytest.mark.parametrize(
    ("alter", "message"),
    [
        (lambda h, s: h + s[0] + s[1][:-1] + bytes([s[1][-1] ^ 1]) + s[2], "authentication failed"),
        (lambda h, s: h + s[1] + s[0] + s[2], "authentication failed"),
        (lambda h, s: h + s[0] + s[0] + s[1] + s[2], "authentication failed"),
        (lambda h, s: h + s[0] + s[1][:-5], "cut short inside"),
        (lambda h, s: h + s[0] + s[1][:2], "cut short inside"),
        (lambda h, s: h + s[0] + s[1] + s[2] + s[1], "added after the log's last segment"),
        (lambda h, s: h[:-1] + bytes([h[-1] ^ 1]) + s[0] + s[1] + s[2], "authentication failed"),
    ],
    ids=["flipped", "reordered", "repeated", "cut-in-tag", "cut-in-length", "appended", "nonce"],
)
def test_an_altered_log_is_refused(tmp_path: Path, alter, message: str) -> None:  # type: ignore[no-untyped-def]
    path = _written(tmp_path, [["a"], ["b"]])
    data = path.read_bytes()
    path.write_bytes(alter(data[:HEADER], _segments(data)))
    with pytest.raises(SealError, match=message) as caught:
        open_log(SEALER, path, NAME)
    assert str(path) in str(caught.value)


def test_a_log_opens_only_as_its_run_and_stage_with_its_key(tmp_path: Path) -> None:
    path = _written(tmp_path, [["a"]])
    for other in ("log:r2/train", "log:r1/evaluate"):
        with pytest.raises(SealError, match="authentication failed"):
            open_log(SEALER, path, other)
    with pytest.raises(SealError, match="but the configured key is"):
        open_log(Sealer.from_key(bytes(32)), path, NAME)
