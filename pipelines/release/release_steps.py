"""The steps of the release demo, each one lockgate command (or a few), timed and printed."""

from __future__ import annotations

import contextlib
import json
import os
import ssl
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from demo_state import APPROVERS, AUTHOR, PROMOTER


class StepFailed(RuntimeError):
    """A step did not end as the release path expects; the message says which and why."""


@dataclass
class Flow:
    envs: dict[str, str]
    executor: str
    project: Path = Path()
    env: dict[str, str] = field(default_factory=dict)
    people: Path = Path()
    pristine_spec: str = ""
    outcome: dict[str, Any] = field(default_factory=lambda: {"steps": [], "candidates": []})

    # -- plumbing -----------------------------------------------------------------------------
    @contextlib.contextmanager
    def step(self, name: str) -> Iterator[None]:
        print(f"release: ▶ {name}", flush=True)
        begin = time.perf_counter()
        try:
            yield
        finally:
            took = time.perf_counter() - begin
            self.outcome["steps"].append({"name": name, "seconds": round(took, 2)})
            print(f"release: ✔ {name}  {took:.1f}s", flush=True)

    def configure(
        self, project: Path, *, registry_ca: Path, secrets: dict[str, str], people: Path
    ) -> None:
        self.project, self.people = project, people
        self.pristine_spec = (project / "lockgate.yaml").read_text()
        bundle = project.parent / "ca-bundle.pem"  # the system's CAs plus the registry's
        system = os.environ.get("SSL_CERT_FILE") or ssl.get_default_verify_paths().cafile
        trusted = Path(system).read_text() if system and Path(system).is_file() else ""
        bundle.write_text(trusted + "\n" + registry_ca.read_text())
        self.env = {**secrets, "SSL_CERT_FILE": str(bundle), "REQUESTS_CA_BUNDLE": str(bundle)}

    def lockgate(
        self, *args: str, who: str | None = None, check: bool = True
    ) -> subprocess.CompletedProcess[str]:
        env = {**os.environ, **self.env, "NO_COLOR": "1"}
        if who is not None:
            env["LOCKGATE_IDENTITY_KEY"] = str(self.people / who)
        done = subprocess.run(
            [sys.executable, "-m", "lockgate", *args],
            cwd=self.project,
            env=env,
            capture_output=True,
            text=True,
            check=False,
        )
        if check and done.returncode != 0:
            tail = (done.stderr.strip() or done.stdout.strip())[-3000:]
            raise StepFailed(f"lockgate {' '.join(args[:2])} exited {done.returncode}:\n{tail}")
        return done

    @contextlib.contextmanager
    def traffic(self, env: str) -> Iterator[None]:
        """Users: random standardized rows through the environment's router while a canary or
        the monitor judges it (none before the first deploy: there is no router yet)."""
        from lockgate.delivery.environment import open_environment
        from lockgate.delivery.rollout.traffic import LoadGenerator
        from lockgate.errors import LockgateError

        try:
            url = open_environment(env, quiet=True, start=self.project).target.url()
        except LockgateError:
            yield
            return
        load = LoadGenerator(url, 30.0, 600.0, rows=2, features=30).start()
        try:
            yield
        finally:
            outcomes = load.stop()
            failed = sum(1 for o in outcomes if o.failed)
            print(f"release:   traffic on {env}: {len(outcomes)} requests, {failed} failed")

    def teardown_environments(self) -> None:
        """Remove the containers and networks a previous demo left in these environments."""
        import docker

        client = docker.from_env()
        for env in self.envs.values():
            wanted = {"label": f"lockgate.delivery.env={env}"}
            for container in client.containers.list(all=True, filters=wanted):
                container.remove(force=True)
            for network in client.networks.list(filters=wanted):
                network.remove()

    # -- the path -----------------------------------------------------------------------------
    def release(self, title: str, edits: dict[str, str], canary_must_abort: bool) -> dict[str, Any]:
        print(f"\nrelease: ── {title}", flush=True)
        spec = self.pristine_spec
        for old, new in edits.items():
            spec = spec.replace(old, new)
        (self.project / "lockgate.yaml").write_text(spec)
        staging, production = self.envs["staging"], self.envs["production"]
        with self.step("lockgate run: data-check, train, evaluate, export, package, scan, sign"):
            self.lockgate("run", "--executor", self.executor, "--export-dir", "export")
        self._print_stages()
        image = json.loads((self.project / "export/package/image.json").read_text())
        metrics = json.loads((self.project / "export/evaluate/metrics.json").read_text())
        ref, model = image["ref"], f"models:/release/{metrics['registered_version']}"
        found: dict[str, Any] = {"title": title, "ref": ref, "model": model}
        self.outcome["candidates"].append(found)
        print(f"release:   {model} → {ref}")
        with self.step("verify: signature, SBOM, provenance, evaluation, scan verdict"):
            self.lockgate("verify", ref, "--policy", "verify.yaml")
        promote = ("--image", ref, "--model", model, "--author", AUTHOR)
        data_check = ("--data-check", "export/data-check/data-check.json")
        how = "canary with analysis" if self._serving(staging) else "first deploy"
        with self.step(f"promote {staging} ({how})"), self.traffic(staging):
            done = self.lockgate("promote", staging, *promote, *data_check, who=PROMOTER,
                                 check=not canary_must_abort)  # fmt: skip
        found["staging"] = _last_line(done)
        print(f"release:   {found['staging']}")
        if canary_must_abort:
            if done.returncode == 0:
                raise StepFailed(f"the bad candidate's canary in {staging} did not abort")
            found["abort"] = done.stderr.strip()
            return found
        if self.outcome.get("refused") is None and len(self.outcome["candidates"]) > 1:
            with self.step(f"promote {production} before anyone approved it (refused)"):
                refused = self.lockgate("promote", production, *promote, who=PROMOTER, check=False)
            if refused.returncode == 0:
                raise StepFailed(f"{production} accepted a release nobody approved")
            self.outcome["refused"] = refused.stderr.strip()
            print("release:   " + refused.stderr.strip().replace("\n", "\nrelease:   "))
        for person in APPROVERS:
            with self.step(f"approve {production} as {person} (SSH-signed statement)"):
                self.lockgate("approve", production, "--digest", ref.split("@")[1], who=person)
        label = "canary with analysis" if self._serving(production) else "first deploy"
        with self.step(f"promote {production} ({label})"), self.traffic(production):
            found["production"] = _last_line(self.lockgate("promote", production, *promote,
                                                           who=PROMOTER))  # fmt: skip
        print(f"release:   {found['production']}")
        return found

    def finish(self, good: dict[str, Any]) -> None:
        production = self.envs["production"]
        with self.step(f"monitor {production} (2 windows)"), self.traffic(production):
            monitored = self.lockgate("monitor", production, "--windows", "2", check=False)
        print("release:   " + _last_line(monitored))
        serving = self._serving(production)
        self.outcome["production_serves"] = serving
        if serving != good["ref"]:
            raise StepFailed(f"{production} serves {serving}, not candidate 2's {good['ref']}")
        with self.step("lineage of the production digest"):
            lineage = self.lockgate("lineage", good["ref"], check=False)
            self.outcome["lineage"] = json.loads(
                self.lockgate("lineage", good["ref"], "--json", check=False).stdout or "[]"
            )
        print(f"\nrelease: {production} serves {serving}\n{lineage.stdout.rstrip()}\n")
        with self.step("audit verify"):
            audit = self.lockgate("audit", "verify")
        self.outcome["audit"] = audit.stdout.strip()
        print(f"audit verify: ok ({audit.stdout.strip()})")

    def _serving(self, env: str) -> str | None:
        status = self.lockgate("rollout", "status", env, "--json", check=False)
        try:
            stable = json.loads(status.stdout).get("stable")
        except ValueError:
            return None
        return stable.get("ref") if isinstance(stable, dict) else stable

    def _print_stages(self) -> None:
        runs = sorted((self.project / ".lockgate" / "runs").glob("*/run.json"))
        record = json.loads(runs[-1].read_text())
        for stage in record["stages"]:
            print(f"release:   {stage['name']:<11} {stage['state']:<7} {stage['duration']:6.1f}s")
        self.outcome.setdefault("stage_states", []).append(
            {s["name"]: s["state"] for s in record["stages"]}
        )


def _last_line(done: subprocess.CompletedProcess[str]) -> str:
    lines = (done.stdout.strip() or done.stderr.strip()).splitlines()
    return lines[-1] if lines else ""
