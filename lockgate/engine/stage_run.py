"""One stage of a run, from its cache key to its :class:`StageResult`: reuse a cached output,
or build its image, run it with its retries, judge the outcome and keep the outputs in the cache;
every step is reported as an event. The run's worker threads share one :class:`StageRun`."""

from __future__ import annotations

import shutil
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from lockgate.engine.digests import tree_digest
from lockgate.engine.events import Event, Reporter
from lockgate.engine.executor import ExecOutcome, Executor
from lockgate.engine.records import StageResult
from lockgate.engine.sealed_log import LogWriter
from lockgate.engine.sealed_outputs import SealedOutputs
from lockgate.engine.sealed_tree import is_sealed
from lockgate.engine.secrets import Masker, SecretFiles
from lockgate.engine.stagespec import StagePaths, StageSpec
from lockgate.engine.verdict import judge, lay_out
from lockgate.engine.workspace import KeyResolver, Workspace
from lockgate.errors import LockgateError

if TYPE_CHECKING:
    from lockgate.engine.minting import StageCredentials


@dataclass(kw_only=True)
class StageRun:
    """What running a stage needs from its run; :meth:`run` runs one stage."""

    executor: Executor
    reporter: Reporter
    ws: Workspace
    keys: KeyResolver
    sealed: SealedOutputs
    masker: Masker
    secret_values: Mapping[str, str]
    run_id: str
    run_dir: Path
    git_sha: str
    use_cache: bool
    export_dir: Path | None
    cancel: threading.Event
    # ``encryption.stage_credentials: minted``: a stage's credentials for one attempt
    mint: StageCredentials | None = None
    # plaintext cache entries a sealed run re-makes, and the images already built or asked for
    _replace: set[str] = field(default_factory=set, init=False)
    _images_seen: set[str] = field(default_factory=set, init=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, init=False)

    def run(self, spec: StageSpec) -> StageResult:
        """The stage's result: reused from the cache, or run now and kept."""
        t0 = time.monotonic()
        try:
            with self._lock:
                key = self.keys.key(spec)
        except LockgateError as exc:
            return self._finish(spec, "failed", t0, reason=str(exc))
        entry = self.ws.cache.get(key) if (self.use_cache and spec.use_cache) else None
        problem = self.sealed.entry_problem(entry, spec.name) if entry else None
        if problem == "replace":  # cached before encryption was on: run again, store it sealed
            entry = None
            self._replace.add(spec.name)
        elif problem:
            return self._finish(spec, "failed", t0, key=key, reason=problem)
        if entry is not None:
            with self._lock:
                self.keys.outputs[spec.name] = (entry.outputs_digest, entry.out)
            try:
                self._export(spec.name, entry.out, entry.outputs_digest)
            except LockgateError as exc:
                return self._finish(spec, "failed", t0, key=key, reason=str(exc))
            return self._finish(
                spec, "cached", t0, key=key, out=entry.out, digest=entry.outputs_digest
            )
        try:
            self._prepare_image(spec)
        except LockgateError as exc:
            return self._finish(spec, "failed", t0, key=key, reason=str(exc))
        return self._execute(spec, key, time.monotonic())  # the image's time is its own step

    def _prepare_image(self, spec: StageSpec) -> None:
        """Build or find the stage's image as a step of its own (``image-started`` /
        ``image-finished``), so a long build is shown as one and not charged to the first stage.
        Executors without a separate image step (local, dagger) are left alone."""
        prepare = getattr(self.executor, "prepare_image", None)
        if prepare is None:
            return
        with self._lock:
            first = spec.image.tag not in self._images_seen
            self._images_seen.add(spec.image.tag)
        if not first:
            prepare(spec.image, lambda line: None)  # waits for the build another stage started
            return
        t0 = time.monotonic()
        image = {"image": spec.image.tag}
        self.reporter.emit(Event("image-started", data=image))

        def output(line: str) -> None:
            self.reporter.emit(Event("image-output", data={**image, "line": self.masker(line)}))

        built = prepare(spec.image, output)
        self.reporter.emit(
            Event(
                "image-finished", data={**image, "duration": time.monotonic() - t0, "built": built}
            )
        )

    def _execute(self, spec: StageSpec, key: str, t0: float) -> StageResult:
        """Run a stage the cache did not have: lay out its folders, run it (with its retries),
        judge the outcome, and keep its outputs."""
        stage_dir = self.run_dir / spec.name
        try:
            with self._lock:
                found = {n: self.keys.upstream_output(n) for n in spec.needs}
            for n, (digest, folder) in found.items():
                if spec.reads_sealed:  # the stage opens it in place: check what it vouches for
                    self.sealed.vouch(n, folder, digest)
            inputs = {
                n: folder if spec.reads_sealed else self.sealed.readable(n, folder, digest)
                for n, (digest, folder) in found.items()
            }
            in_place = {  # what the stage's own reads must find the folders vouch for
                n: digest
                for n, (digest, folder) in found.items()
                if spec.reads_sealed and is_sealed(folder)
            }
        except LockgateError as exc:
            return self._finish(spec, "failed", t0, key=key, reason=str(exc))
        caches = {
            n: self.sealed.cache_folder(n, self.ws.root / "caches" / n) for n, _ in spec.caches
        }
        in_dir = lay_out(stage_dir, inputs, caches, self.ws.state)
        secrets = {n: self.secret_values[n] for n in spec.secrets}
        log = self.sealed.log_writer(stage_dir)
        log_path = stage_dir / log.at_rest
        files = SecretFiles(secrets)
        with log, files as secrets_dir:
            paths = StagePaths(
                self.ws.project,
                inputs,
                stage_dir / "out",
                secrets_dir,
                self.ws.state.resolve(),
                caches,
                in_dir,
                in_place,
            )
            output = _Output(self.masker, spec.name, log, self.reporter)
            outcome, attempts = self._attempts(spec, key, paths, secrets, output, files)
        if isinstance(outcome, LockgateError):
            return self._finish(
                spec, "failed", t0, key=key, reason=str(outcome), attempts=attempts, log=log_path
            )
        common: dict[str, Any] = {
            "key": key,
            "attempts": attempts,
            "log": log_path,
            "image_id": outcome.image_id,
        }
        verdict = judge(spec, outcome, cancelled=self.cancel.is_set(), out=stage_dir / "out")
        if verdict.state != "ok":
            reason, exit_code = verdict.reason, verdict.exit_code
            return self._finish(
                spec, verdict.state, t0, reason=reason, exit_code=exit_code, **common
            )
        return self._keep(spec, stage_dir, t0, common)

    def _attempts(
        self,
        spec: StageSpec,
        key: str,
        paths: StagePaths,
        secrets: Mapping[str, str],
        output: _Output,
        files: SecretFiles,
    ) -> tuple[ExecOutcome | LockgateError, int]:
        """Run the stage until it succeeds, is interrupted, or has used its retries; a fresh
        ``out/`` (and freshly minted credentials) for every attempt. A :class:`LockgateError`
        from the executor or the minting ends the tries."""
        outcome: ExecOutcome | None = None
        attempts = 0
        for attempts in range(1, spec.retries + 2):
            if paths.out.exists():
                shutil.rmtree(paths.out)
            paths.out.mkdir()
            self.reporter.emit(
                Event("stage-started", spec.name, {"attempt": attempts, "cache_key": key})
            )
            minted: dict[str, str] = {}
            try:
                if spec.minted_credentials and self.mint is not None:
                    minted = self.mint(spec)
                    files.put(minted)
                    output.masker = self.masker.extend(self.mint.masked(minted))
                outcome = self.executor.run(
                    spec,
                    paths,
                    run_id=self.run_id,
                    git_sha=self.git_sha,
                    secrets={**secrets, **minted},
                    output=output,
                    cancel=self.cancel,
                )
            except LockgateError as exc:
                output(f"lockgate: {exc}")
                return exc, attempts
            finally:
                if minted and self.mint is not None:
                    self._release(minted, output)
            if outcome.exit_code == 0 or outcome.interrupted or self.cancel.is_set():
                break
        assert outcome is not None
        return outcome, attempts

    def _release(self, minted: Mapping[str, str], output: _Output) -> None:
        """Revoke an attempt's minted credentials (a Vault child token); a failure is a warning
        in the stage's lines, never the stage's outcome."""
        assert self.mint is not None
        try:
            problem = self.mint.release(minted)
        except LockgateError as exc:
            problem = str(exc)
        if problem:
            output(f"lockgate: warning: {problem}")

    def _keep(
        self, spec: StageSpec, stage_dir: Path, t0: float, common: dict[str, Any]
    ) -> StageResult:
        """Digest the outputs, move them into the cache (``out`` becomes a link to them), and
        make them the inputs of the stages that need this one."""
        out = kept = stage_dir / "out"
        digest = tree_digest(out)
        sealing = self.sealed.sealer is not None
        try:
            if spec.use_cache:
                replace = not self.use_cache or spec.name in self._replace
                kept = self.ws.cache.put(common["key"], spec.name, out, digest, replace=replace).out
                if not sealing:  # the plaintext moved into the cache: the run links to it
                    out = kept
                    (stage_dir / "out").symlink_to(kept.resolve(), target_is_directory=True)
            elif sealing:
                kept = self.sealed.seal_uncached(spec.name, out, digest)
        except LockgateError as exc:
            return self._finish(spec, "failed", t0, reason=str(exc), **common)
        if sealing:
            self.sealed.kept[spec.name] = kept
        with self._lock:
            self.keys.outputs[spec.name] = (digest, out)  # plaintext, for this run's readers
        try:
            self._export(spec.name, kept, digest)
        except LockgateError as exc:
            return self._finish(spec, "failed", t0, reason=str(exc), **common)
        return self._finish(spec, "ok", t0, out=kept, digest=digest, exit_code=0, **common)

    def _export(self, name: str, out: Path, digest: str) -> None:
        if self.export_dir is not None:
            self.sealed.export(name, out, self.export_dir, digest)

    def _finish(
        self,
        spec: StageSpec,
        state: str,
        t0: float,
        *,
        key: str = "",
        out: Path | None = None,
        digest: str = "",
        exit_code: int | None = None,
        reason: str = "",
        attempts: int = 0,
        log: Path | None = None,
        image_id: str = "",
    ) -> StageResult:
        result = StageResult(
            spec.name,
            state,
            cache_key=key,
            exit_code=exit_code,
            duration=time.monotonic() - t0,
            outputs_digest=digest,
            out=str(out or ""),
            image=spec.image.digest,
            image_id=image_id,
            attempts=attempts,
            reason=reason,
            log=str(log or ""),
            argv=spec.argv,
            env=dict(spec.env),
            secrets=spec.secrets,
        )
        kind = "stage-cached" if state == "cached" else "stage-finished"
        self.reporter.emit(
            Event(
                kind,
                spec.name,
                {"state": state, "duration": result.duration, "reason": reason, "cache_key": key},
            )
        )
        return result


class _Output:
    """Where a stage's lines go: masked (its secrets, and credentials minted for it), to its
    log file and to the reporter."""

    def __init__(self, masker: Masker, stage: str, log: LogWriter, reporter: Reporter) -> None:
        self.masker, self.stage, self.log, self.reporter = masker, stage, log, reporter

    def __call__(self, line: str) -> None:
        line = self.masker(line)
        self.log.write_line(line)
        self.reporter.emit(Event("stage-output", self.stage, {"line": line}))
