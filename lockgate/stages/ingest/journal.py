"""Where ingested batches land, exactly once.

A batch is committed in two steps: its Parquet parts are written to temporary names, flushed to
disk and renamed into ``data/``; only then is ``journal.json`` (the watermark, the source schema
and the list of committed parts) replaced atomically. A crash between the two leaves parts the
journal does not list: :meth:`Sink.recover` deletes them before the next batch, and the batch is
read again from the unchanged watermark. So a SIGKILL at any instant gives no duplicate and no
gap.

Under ``encryption:`` the journal is ``journal.json.sealed``, sealed under the dataset's name
like its parts: what it lists and the source values it records can then be neither read nor
changed without the key, and a plain journal found there is refused.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from lockgate.errors import LockgateError
from lockgate.stages.ingest.values import decode_value, encode_value

if TYPE_CHECKING:
    import polars as pl

    from lockgate.engine.sealing import Sealer, SealError

JOURNAL = "journal.json"
SEALED = ".sealed"  # suffix of a part (and of the journal) sealed at rest in the state folder
FORMAT = "lockgate-ingest-journal/1"


class JournalError(LockgateError):
    """The journal of an incremental ingest is unreadable or disagrees with the source."""


@dataclass(frozen=True)
class Part:
    file: str
    rows: int
    bytes: int
    sha256: str


Columns = tuple[tuple[str, str], ...]  # (name, type) of each column, in order


@dataclass(frozen=True)
class Journal:
    watermark: Any = None
    key: Any = None  # with incremental.tiebreaker: the last row's key at ``watermark``
    schema: Columns | None = None  # the source's columns, pinned by the first batch
    parts: tuple[Part, ...] = ()
    next_seq: int = 1
    meta: dict[str, Any] = field(default_factory=dict)
    # what ``watermark`` is a value of: the watermark column (and the tiebreaker's), () for a
    # stream over partitions; None in a journal written before it was recorded
    read_by: tuple[str, ...] | None = None
    output: Columns | None = None  # the parts' columns (after the transform), pinned likewise

    def to_json(self) -> dict[str, Any]:
        position = {} if self.key is None else {"tiebreaker": encode_value(self.key)}
        read_by = (
            {}
            if self.read_by is None
            else {"read_by": {"columns": list(self.read_by)} if self.read_by else "partitions"}
        )
        output = {} if self.output is None else {"output_schema": [list(c) for c in self.output]}
        return {
            "format": FORMAT,
            "watermark": encode_value(self.watermark),
            **position,
            **read_by,
            "schema": [list(c) for c in self.schema] if self.schema is not None else None,
            **output,
            "parts": [vars(p) for p in self.parts],
            "next_seq": self.next_seq,
            **self.meta,
        }


def schema_change(
    before: Columns, now: Columns, *, where: str = "upstream", ordered: bool = False
) -> str:
    """How the columns changed, naming each column; "" when they did not (with ``ordered``, a
    change of their order counts too)."""
    old, new = dict(before), dict(now)
    problems = [f"column {n!r} was dropped {where}" for n in old if n not in new]
    problems += [
        f"column {n!r} changed type from {old[n]} to {new[n]}"
        for n in old
        if n in new and new[n] != old[n]
    ]
    problems += [f"column {n!r} was added {where}" for n in new if n not in old]
    if ordered and not problems and list(old) != list(new):
        problems.append(f"the columns were reordered {where}")
    return "; ".join(problems)


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_durably(path: Path, data: bytes, *, sync: bool = True) -> None:
    """Write ``data`` to ``path`` atomically and durably (temp file, fsync, rename, fsync dir);
    atomically only, without the two fsyncs, when ``sync`` is false."""
    tmp = path.with_name(f".{path.name}.tmp")
    with open(tmp, "wb") as handle:
        handle.write(data)
        if sync:
            handle.flush()
            os.fsync(handle.fileno())
    os.replace(tmp, path)
    if sync:
        _fsync_dir(path.parent)


@dataclass
class Sink:
    """Where committed parts and the journal live. ``durable`` (a dataset kept across runs)
    fsyncs each part before the journal names it; a dataset written afresh into the stage's
    output has nothing to resume, so a crash only means the stage runs again, and its parts are
    written without the fsyncs."""

    folder: Path
    sealer: Sealer | None = None
    durable: bool = True

    @property
    def data(self) -> Path:
        return self.folder / "data"

    @property
    def journal_path(self) -> Path:
        """The journal: sealed under ``encryption:``, plain without."""
        return self.folder / (JOURNAL + SEALED if self.sealer is not None else JOURNAL)

    def _journal_text(self) -> str | None:
        """The journal's JSON, opened when sealed; None for a dataset not begun. A journal in
        the other form than ``encryption:`` says is refused: nothing vouches for a plain one."""
        plain, sealed = self.folder / JOURNAL, self.folder / (JOURNAL + SEALED)
        if self.sealer is None:
            if sealed.exists():
                raise JournalError(
                    f"{sealed}: the dataset is sealed, but lockgate.yaml sets no `encryption:`; "
                    "set `encryption:` to that key (the one it was sealed with), or delete "
                    f"{self.folder} to ingest from the beginning"
                )
            return plain.read_text() if plain.exists() else None
        if plain.exists():
            raise JournalError(
                f"{plain}: `encryption:` is set, but the dataset was ingested without it (or by "
                "an earlier lockgate that kept its journal in plaintext): nothing vouches for its "
                f"journal or its parts; delete {self.folder} to ingest from the beginning, sealed"
            )
        if not sealed.exists():
            return None
        from lockgate.engine.sealing import SealError

        try:
            return self.sealer.open(sealed.read_bytes(), self._journal_name, str(sealed)).decode()
        except SealError as exc:
            raise self.restart(exc) from None

    @property
    def _journal_name(self) -> str:
        return f"{self.dataset}/{JOURNAL}{SEALED}"

    def restart(self, exc: SealError) -> JournalError:
        """A sealed file of the dataset that does not open, with the one way on: no stage
        re-writes it, so the dataset starts over (or, sealed under another key, that key)."""
        key = "set `encryption:` to that key, or " if exc.kind == "other-key" else ""
        return JournalError(f"{exc.what}; {key}delete {self.folder} to ingest from the beginning")

    def load(self) -> Journal:
        text = self._journal_text()
        if text is None:
            return Journal()
        try:
            raw = json.loads(text)
            parts = tuple(Part(**p) for p in raw["parts"])
            schema, output = raw.get("schema"), raw.get("output_schema")
            read_by = raw.get("read_by")
            journal = Journal(
                watermark=decode_value(raw.get("watermark")),
                key=decode_value(raw.get("tiebreaker")),
                schema=tuple((c[0], c[1]) for c in schema) if schema is not None else None,
                parts=parts,
                next_seq=int(raw["next_seq"]),
                meta={k: v for k, v in raw.items() if k in ("key_id", "sealed_as")},
                read_by=None
                if read_by is None
                else ()
                if read_by == "partitions"
                else tuple(read_by["columns"]),
                output=tuple((c[0], c[1]) for c in output) if output is not None else None,
            )
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise JournalError(
                f"{self.journal_path}: unreadable ingest journal ({exc}); delete its folder to "
                "ingest from the beginning"
            ) from None
        return self._check_parts(self._check_dataset(self._check_key(journal)))

    def _check_parts(self, journal: Journal) -> Journal:
        """Each part listed once, and sealed when the dataset is."""
        seen: set[str] = set()
        for part in journal.parts:
            if part.file in seen:
                raise self.part_error(self.data / part.file, f"listed twice in {JOURNAL}")
            if self.sealer is not None and not part.file.endswith(SEALED):
                raise self.part_error(
                    self.data / part.file,
                    f"listed in {JOURNAL} but not sealed, under `encryption:`",
                )
            seen.add(part.file)
        return journal

    def _check_key(self, journal: Journal) -> Journal:
        sealed_with = journal.meta.get("key_id")
        mine = self.sealer.key_id if self.sealer else None
        if sealed_with and sealed_with != mine:
            now = f"the configured key is {mine}" if mine else "lockgate.yaml sets no `encryption:`"
            raise JournalError(
                f"{self.journal_path}: the dataset is sealed with key {sealed_with}, but {now}; "
                "set `encryption:` to that key, or delete the folder to ingest from the beginning"
            )
        return journal

    @property
    def dataset(self) -> str:
        """What its sealed parts are bound to: ``ingest/<stage>``, by the state folder's name,
        which stays the same when the project folder moves."""
        return f"ingest/{self.folder.name}"

    def _check_dataset(self, journal: Journal) -> Journal:
        sealed_as = journal.meta.get("sealed_as")
        if sealed_as is not None and sealed_as != self.dataset:
            raise JournalError(
                f"{self.journal_path}: the dataset was sealed as {sealed_as!r}, not "
                f"{self.dataset!r}: it was copied from another stage's state folder; delete "
                f"{self.folder} to ingest from the beginning"
            )
        return journal

    def sealed_name(self, journal: Journal, file: str) -> str:
        """The name a part is sealed under: bound to the dataset, or, in a journal that sealed
        parts before ``sealed_as`` was recorded, the bare file name (for all of its parts)."""
        if "key_id" in journal.meta and "sealed_as" not in journal.meta:
            return file
        return f"{self.dataset}/{file}"

    def part_file(self, part: Part) -> Path:
        """A committed part's file, checked to be there at the size the journal recorded."""
        path = self.data / part.file
        try:
            size = path.stat().st_size
        except FileNotFoundError:
            raise self.part_error(path, f"listed in {JOURNAL} but missing") from None
        if size != part.bytes:
            raise self.part_error(path, f"{size} bytes, but {JOURNAL} recorded {part.bytes}")
        return path

    def part_error(self, path: Path, problem: str) -> JournalError:
        return JournalError(f"{path}: {problem}; delete {self.folder} to ingest from the beginning")

    def recover(self, journal: Journal) -> list[str]:
        """Delete parts a crash left behind (not in the journal); return their names."""
        self.data.mkdir(parents=True, exist_ok=True)
        known = {p.file for p in journal.parts}
        removed = []
        for f in sorted(self.data.iterdir()):
            if f.name not in known:
                f.unlink()
                removed.append(f.name)
        return removed

    def commit(
        self,
        journal: Journal,
        frames: Iterable[pl.DataFrame],
        watermark: Any,
        codec: tuple[str, int | None],
        key: Any = None,
    ) -> Journal:
        """Make ``frames`` durable as parts, one at a time, then advance the journal past them
        to ``watermark`` (or to what it returns, when it is a function: a watermark known only
        once every frame was read) and, with a tiebreaker, to the ``key`` of its last row.
        ``codec`` is the Parquet compression and its level."""
        import io

        compression, level = codec
        meta = dict(journal.meta)
        if self.sealer is not None:
            if "key_id" not in meta:  # nothing sealed yet: bind the parts to this dataset
                meta["sealed_as"] = self.dataset
            meta["key_id"] = self.sealer.key_id
        journal = replace(journal, meta=meta)
        seq, parts, output = journal.next_seq, list(journal.parts), journal.output
        for df in frames:
            columns = tuple((k, str(v)) for k, v in df.schema.items())
            if output is not None and columns != output:
                change = schema_change(output, columns, where="by the transform", ordered=True)
                raise JournalError(
                    f"the dataset's parts would no longer share one schema: {change}; the "
                    f"watermark stays at {journal.watermark!r}. Restore with.transform, or start "
                    f"a new dataset by deleting {self.folder}"
                )
            output = columns
            buf = io.BytesIO()
            df.write_parquet(buf, compression=compression, compression_level=level)  # type: ignore[arg-type]
            body = buf.getvalue()
            name = f"part-{seq:06d}.parquet"
            if self.sealer is not None:
                name += SEALED
                body = self.sealer.seal(body, self.sealed_name(journal, name))
            write_durably(self.data / name, body, sync=self.durable)
            parts.append(Part(name, df.height, len(body), hashlib.sha256(body).hexdigest()))
            seq += 1
        if callable(watermark):
            watermark = watermark()
        new = replace(
            journal, watermark=watermark, key=key, parts=tuple(parts), next_seq=seq, output=output
        )
        body = (json.dumps(new.to_json(), indent=2) + "\n").encode()
        if self.sealer is not None:
            body = self.sealer.seal(body, self._journal_name)
        write_durably(self.journal_path, body, sync=self.durable)
        return new

    def pin_read_by(self, journal: Journal, read_by: tuple[str, ...] | None) -> Journal:
        """Check that the spec still reads past the watermark the journal recorded (the same
        column, or partitions); record it on the first batch."""
        recorded = journal.read_by
        if read_by is None or recorded is None or journal.watermark is None:
            return replace(journal, read_by=read_by) if read_by is not None else journal
        fresh = f"or start a new dataset by deleting {self.folder}"

        def named(by: tuple[str, ...]) -> str:
            return f"column {by[0]!r}" if by else "partition (mode: stream over files)"

        if recorded[:1] != read_by[:1]:
            back = (
                f"set incremental.watermark back to {recorded[0]!r}"
                if recorded
                else "remove incremental"
            )
            raise JournalError(
                f"the dataset's watermark ({journal.watermark!r}) is a value of "
                f"{named(recorded)}, but lockgate.yaml now reads past {named(read_by)}: rows "
                f"would be skipped or read twice. {back[0].upper()}{back[1:]}, {fresh}"
            )
        stopped_inside = journal.key is not None and len(recorded) > 1
        if stopped_inside and len(read_by) > 1 and recorded[1] != read_by[1]:
            raise JournalError(
                f"the ingest journal stopped inside watermark value {journal.watermark!r} at "
                f"tiebreaker {recorded[1]!r} = {journal.key!r}, but lockgate.yaml now names "
                f"incremental.tiebreaker {read_by[1]!r}. Set it back to {recorded[1]!r}, {fresh}"
            )
        # a tiebreaker removed keeps its name until the journal no longer needs it
        kept = recorded if journal.key is not None and len(read_by) < len(recorded) else read_by
        return replace(journal, read_by=kept)

    def pin_schema(self, journal: Journal, schema: tuple[tuple[str, str], ...]) -> Journal:
        """Check the source's columns against the journal's; record them on the first batch
        (again while no part is committed: a stream of empty partitions pinned none)."""
        if journal.schema is None or not journal.parts:
            return replace(journal, schema=schema)
        change = schema_change(journal.schema, schema)
        if change:
            raise JournalError(
                f"the source's columns changed since the last batch: {change}; the watermark "
                f"stays at {journal.watermark!r}. Restore the column, or start a new dataset by "
                f"deleting {self.folder}"
            )
        return journal
