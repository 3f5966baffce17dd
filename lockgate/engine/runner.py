"""Run a plan: schedule stages in DAG order with bounded parallelism, stop dependents of a
failure (and report every failure), and write the run record. What happens to one stage (cache
reuse, image, retries, keeping outputs) is :mod:`lockgate.engine.stage_run`."""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Mapping
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from pathlib import Path
from typing import Any

from lockgate.engine.digests import sha256_json
from lockgate.engine.events import Event, Reporter
from lockgate.engine.executor import Executor
from lockgate.engine.leftovers import LiveMark, sweep
from lockgate.engine.minting import StageCredentials
from lockgate.engine.plan import Plan
from lockgate.engine.records import RunRecord, StageResult, new_run_id, write_record
from lockgate.engine.sealed_outputs import SealedOutputs, resolve_sealer
from lockgate.engine.secrets import Masker, resolve_secrets
from lockgate.engine.stage_run import StageRun
from lockgate.engine.stagespec import StageSpec
from lockgate.engine.workspace import KeyResolver, Workspace


class RunInterrupted(Exception):
    """Ctrl-C or SIGTERM during a run; the record is written, containers are stopped."""

    def __init__(self, record: RunRecord) -> None:
        super().__init__("interrupted")
        self.record = record


class Runner:
    def __init__(
        self,
        full: Plan,
        selected: Plan,
        executor: Executor,
        *,
        secrets: Mapping[str, Mapping[str, Any]],
        reporter: Reporter,
        jobs: int = 1,
        use_cache: bool = True,
        upstream_dir: Path | None = None,
        export_dir: Path | None = None,
        git_sha: str = "",
        spec_text: str = "",
        command_started: float | None = None,
    ) -> None:
        self.full, self.plan, self.executor = full, selected, executor
        self.reporter = reporter
        self.jobs, self.git_sha = max(1, jobs), git_sha
        self.spec_digest = sha256_json(spec_text)
        self.command_started = command_started  # the summary line counts the whole command
        names = {n for s in selected.stages for n in s.secrets}
        self.secret_values = resolve_secrets(secrets, sorted(names), full.project)
        sealer, key_texts = resolve_sealer(
            full.encryption,
            secrets,
            full.project,
            dict(full.encryption_credentials),
            full.encryption_ca,
        )
        self.masker = Masker([*self.secret_values.values(), *key_texts, *_url_credentials(full)])
        self.ws = Workspace(full.project, sealer)
        self.files = self.ws.files()
        self.run_id = new_run_id()
        self.run_dir = self.ws.runs / self.run_id
        self.sealed = SealedOutputs(sealer, self.run_dir, self.ws.cache.root)
        self.keys = KeyResolver(
            full,
            self.ws,
            self.files,
            upstream_dir,
            self.sealed.sealed_digest,
            self.sealed.entry_problem,
        )
        self.cancel = threading.Event()
        use_images = getattr(executor, "use_images", None)  # executors that build images
        if use_images is not None:
            use_images({s.image.tag for s in full.stages})
        self.stage_run = StageRun(
            executor=executor,
            reporter=reporter,
            ws=self.ws,
            keys=self.keys,
            sealed=self.sealed,
            masker=self.masker,
            secret_values=self.secret_values,
            run_id=self.run_id,
            run_dir=self.run_dir,
            git_sha=git_sha,
            use_cache=use_cache,
            export_dir=export_dir,
            cancel=self.cancel,
            mint=StageCredentials(full, secrets)
            if any(s.minted_credentials for s in selected.stages)
            else None,
        )

    def run(self) -> RunRecord:
        started = time.time()
        self.reporter.emit(
            Event(
                "run-started",
                data={
                    "run_id": self.run_id,
                    "pipeline": self.plan.pipeline_name,
                    "executor": self.executor.name,
                    "stages": [s.name for s in self.plan.stages],
                },
            )
        )
        results: dict[str, StageResult] = {}
        pending = list(self.plan.stages)
        running: dict[Future[StageResult], str] = {}
        interrupted = False
        live = LiveMark(self.run_dir)
        try:
            if self.sealed.sealer is not None:  # what killed runs left in plaintext
                sweep(self.ws.runs, self.run_dir)
            self._schedule(pending, running, results)
        except KeyboardInterrupt:
            interrupted = True
        finally:
            self.sealed.drop_plaintext()
        try:
            record = self._record(started, results)
        finally:
            live.release()
        if interrupted:
            raise RunInterrupted(record)
        return record

    def _schedule(
        self,
        pending: list[StageSpec],
        running: dict[Future[StageResult], str],
        results: dict[str, StageResult],
    ) -> None:
        with ThreadPoolExecutor(max_workers=self.jobs, thread_name_prefix="stage") as pool:
            try:
                while pending or running:
                    for spec in list(pending):
                        blocked = [
                            n for n in spec.needs if n in results and not results[n].succeeded
                        ]
                        if blocked:
                            pending.remove(spec)
                            results[spec.name] = self._skip(
                                spec, f"upstream {blocked[0]!r} did not succeed"
                            )
                        elif (
                            all(n in results or n not in self._selected for n in spec.needs)
                            and len(running) < self.jobs
                        ):
                            pending.remove(spec)
                            running[pool.submit(self.stage_run.run, spec)] = spec.name
                    if not running:
                        continue
                    done, _ = wait(list(running), timeout=0.2, return_when=FIRST_COMPLETED)
                    for fut in done:
                        results[running.pop(fut)] = fut.result()
            except KeyboardInterrupt:
                self.cancel.set()
                for fut, name in running.items():
                    results[name] = fut.result()
                for spec in pending:
                    results[spec.name] = self._skip(spec, "run interrupted", state="interrupted")
                raise

    @property
    def _selected(self) -> set[str]:
        return {s.name for s in self.plan.stages}

    def _skip(self, spec: StageSpec, reason: str, state: str = "skipped") -> StageResult:
        self.reporter.emit(Event("stage-skipped", spec.name, {"state": state, "reason": reason}))
        return StageResult(spec.name, state, reason=reason)

    def _record(self, started: float, results: Mapping[str, StageResult]) -> RunRecord:
        self.files.save()
        ordered = tuple(results[s.name] for s in self.plan.stages if s.name in results)
        path = self.run_dir / "run.json"
        record = RunRecord(
            self.run_id,
            self.plan.pipeline_name,
            self.spec_digest,
            self.executor.name,
            self.git_sha,
            started,
            time.time(),
            ordered,
            str(path),
        )
        write_record(record, path, self.masker)
        self.reporter.emit(
            Event(
                "run-finished",
                data={
                    "state": record.state,
                    "duration": record.finished - (self.command_started or started),
                    "counts": record.counts(),
                    "record": str(path),
                },
            )
        )
        return record


def _url_credentials(plan: Plan) -> list[str]:
    """Credentials inside URLs that reach stages whole: the host's ``MLFLOW_TRACKING_URI`` and
    any URL a stage's environment carries (the spec's ``tracking_uri``, ``with:`` settings)."""
    from lockgate.engine.stage_env import TRACKING_URI, url_credentials

    values = [os.environ.get(TRACKING_URI, ""), *(v for s in plan.stages for _, v in s.env)]
    return [c for v in values for c in url_credentials(v)]
