"""Docs tables and summary rows for the engine benchmarks: the no-op re-run, CLI start-up and
planning (``engine.json``), the default executor's no-op (``executor-choice.json``), ``generate
all`` (``generate.json``) and ``lockgate validate`` on mutated specs (``spec_fuzz.json``).

Each renderer takes the parsed result file and returns the block's text (see
benchmarks/published.py); each ``summary_NAME`` returns that file's rows of the summary table in
docs/benchmarks/README.md (goal, target, measured, script, details). Nothing here measures, and
the targets live here, beside the verdicts they decide, rather than in the measurements.
"""

from __future__ import annotations

from typing import Any

from benchmarks.tables import _machine

Row = tuple[str, str, str, str, str]

NOOP_FASTER = 3.0  # no-op re-run: at least this many times faster than `dvc repro`
OVERHEAD_S = 0.3  # the re-run's wall minus a bare interpreter start
HELP_S = 0.2
PLAN_S = 1.0  # parse + validate + plan a 1,000-stage DAG, in process
DOCKER_S = 1.0  # one stage through the docker executor
GENERATE_S = 0.5  # `lockgate generate all` as a command, 20-stage spec
ENGINE = "`benchmarks/engine.py`"


def _t(seconds: float) -> str:
    """A median: seconds to the millisecond from 0.1 s, below that milliseconds."""
    if seconds >= 0.1:
        return f"{seconds:.3f} s"
    ms = seconds * 1000
    return f"{ms:.1f} ms" if ms < 10 else f"{ms:.0f} ms"


def _raw(side: dict[str, Any]) -> str:
    """A side's raw timings, in the unit that keeps them readable (ms below one second)."""
    values = side["raw"]
    if max(values) >= 1:
        return ", ".join(f"{v:.2f}" for v in values) + " s"
    digits = 1 if max(values) < 0.01 else 0
    return ", ".join(f"{v * 1000:.{digits}f}" for v in values) + " ms"


def _met(ok: bool) -> str:
    return "met" if ok else "**not met**"


def _footer(doc: dict[str, Any]) -> str:
    """Machine, versions, load and command; result files that kept the load under another key
    (``load_1m``) or no machine at all (the first executor-choice file) are read as they are."""
    if "machine" not in doc:
        load = doc.get("load_average")
        at = f", load average {load[0]:.1f}" if load else ""
        return (
            f"{doc.get('cpus', '?')} cores{at}; this result file predates result files recording "
            "the machine, the versions and the raw timings."
        )
    if "load_1m" in doc and "load_average_before" not in doc:
        load = doc["load_1m"]
        doc = {
            **doc,
            "load_average_before": [load["before"]],
            "load_average_after": [load["after"]],
        }
    return _machine(doc)


# engine.json


def _noop_rows(doc: dict[str, Any]) -> list[str]:
    noop = doc["noop"]
    lg, py, dvc = noop["lockgate"], noop["python"], noop.get("dvc")
    stages = noop["stages"]
    if dvc:
        faster = dvc["median"] / lg["median"]
        first = (
            f"| no-op re-run, {stages} cached stages (wall) | {_t(lg['median'])} "
            f"| `dvc repro` {_t(dvc['median'])} "
            f"| **{faster:.1f}× faster** "
            f"(target ≥ {NOOP_FASTER:.0f}×: {_met(faster >= NOOP_FASTER)}) "
            f"| {_raw(lg)} / {_raw(dvc)} |"
        )
    else:
        first = (
            f"| no-op re-run, {stages} cached stages (wall) | {_t(lg['median'])} "
            f"| `dvc repro` not measured (no dvc given) | | {_raw(lg)} |"
        )
    overhead = lg["median"] - py["median"]
    return [
        first,
        f"| … engine overhead (wall − bare `python -c pass` {_t(py['median'])}) "
        f"| {_t(overhead)} | | target ≤ {OVERHEAD_S} s: {_met(overhead <= OVERHEAD_S)} "
        f"| `python -c pass`: {_raw(py)} |",
        f"| … time inside the runner (from run.json) | {_t(noop['runner']['median'])} | | "
        f"| {_raw(noop['runner'])} |",
        f"| `lockgate --help` | {_t(noop['help']['median'])} | "
        f"| target ≤ {HELP_S} s: {_met(noop['help']['median'] <= HELP_S)} "
        f"| {_raw(noop['help'])} |",
    ]


def _plan_rows(doc: dict[str, Any]) -> list[str]:
    plan = doc["plan"]
    inproc, changed, unchanged = plan["in_process"], plan["cli_changed"], plan["cli_unchanged"]
    return [
        f"| plan a {plan['stages']:,}-stage DAG: parse + validate + plan, in process "
        f"| {_t(inproc['median'])} | | target ≤ {PLAN_S:.0f} s: {_met(inproc['median'] <= PLAN_S)} "
        f"| {_raw(inproc)} |",
        f"| … `lockgate plan` CLI, spec changed / unchanged (compiled plan reused) "
        f"| {_t(changed['median'])} / {_t(unchanged['median'])} | | "
        f"| {_raw(changed)} / {_raw(unchanged)} |",
    ]


def _docker_row(doc: dict[str, Any]) -> str:
    d = doc["docker"]
    label = "docker executor, one `true` stage (container create → exit → removed)"
    if not d:
        return f"| {label} | not measured (run with `--docker`) | | | |"
    stage, plain = d["lockgate_stage"], d["docker_run"]
    return (
        f"| {label} | {_t(stage['median'])} | `docker run --rm` {_t(plain['median'])} "
        f"| target ≤ {DOCKER_S:.0f} s: {_met(stage['median'] <= DOCKER_S)} "
        f"| {_raw(stage)} / {_raw(plain)} |"
    )


def engine(doc: dict[str, Any]) -> str:
    """``engine.json``: the no-op re-run against `dvc repro`, start-up, planning, docker."""
    noop, docker = doc["noop"], doc["docker"]
    dvc = noop.get("dvc")
    lines = [
        "| measurement | lockgate | alternative | ratio / target | raw (lockgate / alternative) |",
        "|---|---|---|---|---|",
        *_noop_rows(doc),
        *_plan_rows(doc),
        _docker_row(doc),
    ]
    tools = []
    if noop["dvc_tool"]:
        dvc_tool = noop["dvc_tool"]
        tools.append(
            f"DVC {dvc_tool['version']} in its own virtual environment (`{dvc_tool['command']}`, "
            f"analytics {dvc_tool['analytics']})"
        )
    if docker:
        tools.append(
            f"Docker {docker['docker']}; the docker row is the stage's duration from its run "
            "record, the whole `lockgate run` command took "
            f"{_t(docker['lockgate_command']['median'])} ({_raw(docker['lockgate_command'])})"
        )
    first = ["the no-op re-run", "a bare `python -c pass`", "`lockgate --help`"]
    first += ["`dvc repro`"] if dvc else []
    rotations = (
        ", ".join(first[:-1])
        + f" and {first[-1]} in one rotation, each tool in a project folder of its own; the plan "
        "rows in a second" + ("; the docker pair in a third" if docker else "")
    )
    lines += [
        "",
        f"{doc['repeat']} alternating rounds after one warm-up of every side ({rotations}); each "
        f"side a whole process unless in process; {doc['bytecode']}. "
        + "".join(f"{tool}. " for tool in tools)
        + _footer(doc),
    ]
    return "\n".join(lines) + "\n"


def summary_engine(doc: dict[str, Any]) -> list[Row]:
    """The summary rows the engine result answers: no-op vs DVC, overhead, help, plan, docker."""
    noop, plan, docker = doc["noop"], doc["plan"], doc["docker"]
    lg, py, dvc = noop["lockgate"], noop["python"], noop.get("dvc")
    if dvc:
        faster = dvc["median"] / lg["median"]
        vs_dvc = (
            f"**{faster:.1f}×** ({_t(lg['median'])} vs {_t(dvc['median'])}): "
            f"{_met(faster >= NOOP_FASTER)}"
        )
    else:
        vs_dvc = f"not measured (no dvc given); lockgate {_t(lg['median'])}"
    overhead = lg["median"] - py["median"]
    inproc = plan["in_process"]["median"]
    if docker:
        stage, plain = docker["lockgate_stage"]["median"], docker["docker_run"]["median"]
        in_docker = (
            f"**{_t(stage)}** (plain `docker run --rm`: {_t(plain)}): {_met(stage <= DOCKER_S)}"
        )
    else:
        in_docker = "not measured (run with `--docker`)"
    return [
        (
            f"no-op re-run of a {noop['stages']}-stage fully cached pipeline, vs `dvc repro`",
            f"≥ {NOOP_FASTER:.0f}× faster",
            vs_dvc,
            ENGINE,
            "below",
        ),
        (
            "… engine overhead (wall minus bare interpreter start)",
            f"≤ {OVERHEAD_S} s",
            f"**{_t(overhead)}**: {_met(overhead <= OVERHEAD_S)}",
            ENGINE,
            "below",
        ),
        (
            "`lockgate --help`",
            f"≤ {HELP_S} s",
            f"**{_t(noop['help']['median'])}**: {_met(noop['help']['median'] <= HELP_S)}",
            ENGINE,
            "below",
        ),
        (
            f"plan a {plan['stages']:,}-stage DAG",
            f"≤ {PLAN_S:.0f} s",
            f"**{_t(inproc)}** (parse + validate + plan): {_met(inproc <= PLAN_S)}",
            ENGINE,
            "below",
        ),
        (
            "docker executor overhead per stage",
            f"≤ {DOCKER_S:.0f} s",
            in_docker,
            "`benchmarks/engine.py --docker`",
            "below",
        ),
    ]


# executor-choice.json


def _choice_median(doc: dict[str, Any], name: str) -> float:
    """A side's median: flat ``NAME_s`` keys (every executor-choice file has them)."""
    value: float = doc[f"{name}_s"]
    return value


def executor_choice(doc: dict[str, Any]) -> str:
    """``executor-choice.json``: the default no-op re-run, this lockgate against an earlier one."""
    raw = doc.get("raw", {})
    before, now, local = (
        _choice_median(doc, name) for name in ("baseline_default", "default", "local")
    )
    baseline = f" ({doc['baseline']})" if doc.get("baseline") else ""
    rows = [
        (
            f"before{baseline}: the choice imports the Dagger SDK (and then `docker`)",
            _t(before),
            "baseline_default",
        ),
        (
            "now: environment variables + socket signs, nothing probed when all cached",
            f"**{_t(now)}** ({before / now:.1f}× faster)",
            "default",
        ),
        ("`--executor local` (the floor)", _t(local), "local"),
    ]
    head = (
        f"| no-op re-run, {doc['stages']} cached stages, no `--executor` "
        f"(wall, median of {doc['repeat']}) | time |"
    )
    lines = [head + (" raw |" if raw else ""), "|---|---|" + ("---|" if raw else "")]
    for label, shown, name in rows:
        lines.append(f"| {label} | {shown} |" + (f" {_raw({'raw': raw[name]})} |" if raw else ""))
    lines += [
        "",
        f"{doc['repeat']} alternating rounds"
        + (" after one warm-up" if doc.get("warmup") else "")
        + ", the two checkouts taking turns, each on its own copy of the project"
        + (f"; {doc['bytecode']}" if doc.get("bytecode") else "")
        + f". {_footer(doc)}",
    ]
    return "\n".join(lines) + "\n"


def summary_executor_choice(doc: dict[str, Any]) -> list[Row]:
    """The default executor's no-op re-run against the lockgate before the choice changed."""
    before, now, local = (
        _choice_median(doc, name) for name in ("baseline_default", "default", "local")
    )
    was = doc.get("baseline", "the previous lockgate")
    return [
        (
            f"no-op re-run of a {doc['stages']}-stage fully cached pipeline with no `--executor` "
            "(the default choice), vs the previous lockgate",
            "report",
            f"**{_t(now)}** vs {_t(before)} with {was} ({before / now:.1f}× faster); "
            f"`--executor local` {_t(local)}",
            "`benchmarks/executor_choice.py`",
            "below",
        )
    ]


# generate.json

GENERATE_LABELS = {
    "command": "`python -m lockgate generate all` (the command a user runs)",
    "python": "… a bare interpreter start (`python -c pass`)",
    "import_spec": "… an interpreter importing the spec models (`import lockgate.spec.models`)",
    "check_jsonschema": "check-jsonschema github-workflows on the result (for scale)",
    "actionlint": "actionlint on the result (for scale)",
}


def generate(doc: dict[str, Any]) -> str:
    """``generate.json``: `generate all` in process and as a command, the validators for scale."""
    target, sides, warm = doc["target_s"], doc["sides"], doc["in_process"]
    lines = [
        f"| measurement ({doc['stages']}-stage spec) | median | vs {target} s target | raw |",
        "|---|---|---|---|",
        f"| `generate all` in process: render + write the files | {_t(warm['median'])} "
        f"| {warm['median'] / target:.2f}x | {_raw(warm)} |",
    ]
    for name, label in GENERATE_LABELS.items():
        if name in sides:
            side = sides[name]
            ratio = f"{side['median'] / target:.2f}x"
            if name == "command":
                ratio = f"**{ratio}** ({_met(side['median'] <= target)})"
            lines.append(f"| {label} | {_t(side['median'])} | {ratio} | {_raw(side)} |")
    command = sides["command"]["median"]
    start = sides["python"]["median"]
    models = sides["import_spec"]["median"] - start
    reading = (
        f"Of the command's {_t(command)}, {_t(start)} is the interpreter start and "
        f"{_t(models)} importing the spec models (pydantic)."
    )
    if "check_jsonschema" in sides:
        other = sides["check_jsonschema"]["median"]
        than = "less" if command < other else "more"
        reading += (
            f" Generating takes {than} time than check-jsonschema validating the workflow it "
            f"wrote ({command / other:.2f}x)."
        )
    tools = ", ".join(f"{k} {v}" for k, v in sorted(doc["tools"].items()))
    lines += [
        "",
        reading,
        "",
        f"In process: {doc['in_process_runs']} runs after one warm-up. Commands: "
        f"{doc['repeat']} alternating rounds after one warm-up, each a whole process; "
        f"{doc['bytecode']}" + (f"; {tools}" if tools else "") + f". {_footer(doc)}",
    ]
    return "\n".join(lines) + "\n"


def summary_generate(doc: dict[str, Any]) -> list[Row]:
    """`generate all` as a command against its target, the in-process time beside it."""
    command, warm = doc["sides"]["command"]["median"], doc["in_process"]["median"]
    return [
        (
            f"`generate all`, {doc['stages']}-stage spec",
            f"≤ {doc['target_s']} s",
            f"**{_t(command)}** as a command ({_t(warm)} in process): "
            f"{_met(command <= doc['target_s'])}",
            "`benchmarks/generate.py`",
            "[generate](generate.md)",
        )
    ]


# spec_fuzz.json


def _slowest(doc: dict[str, Any]) -> str:
    return f"a mutant of `{doc['slowest_mutant']['source']}`"


def spec_fuzz(doc: dict[str, Any]) -> str:
    """``spec_fuzz.json``: what `lockgate validate` made of the mutants, and how long it took."""
    cpu, wall = "validation_cpu_s", "validation_wall_s"
    lines = [
        f"| {doc['mutants']:,} mutants of {doc['corpus_files']} reference specs and examples "
        f"(seed {doc['seed']}) | count |",
        "|---|---|",
        f"| internal errors | **{doc['internal_errors']}** |",
        f"| hangs (over {doc['time_limit_cpu_s']:g} s of CPU) | **{doc['hangs']}** |",
        f"| refused with a located error | {doc['refused_with_a_located_error']:,} |",
        f"| valid | {doc['validated_ok']:,} |",
        "",
        "| one validation | median | 99th percentile | slowest |",
        "|---|---|---|---|",
        f"| CPU time | {_t(doc['median_' + cpu])} | {_t(doc['p99_' + cpu])} "
        f"| {_t(doc['slowest_' + cpu])} ({_slowest(doc)}) |",
        f"| wall clock | {_t(doc['median_' + wall])} | | {_t(doc['slowest_' + wall])} |",
        "",
        f"Each mutant validated in one process through the CLI's own dispatch, {doc['total_s']} s "
        f"in all; CPU time is what a shared machine's load does not stretch. {_footer(doc)}",
    ]
    return "\n".join(lines) + "\n"


def summary_spec_fuzz(doc: dict[str, Any]) -> list[Row]:
    """The fuzz run's verdict (no internal error, no hang) and its slowest validation."""
    ok = doc["internal_errors"] == 0 and doc["hangs"] == 0
    load = doc["load_1m"]["before"]
    return [
        (
            f"`lockgate validate` on {doc['mutants']:,} seeded mutations of the reference specs "
            "and examples",
            "0 internal errors, 0 hangs",
            f"**{doc['internal_errors']} internal errors, {doc['hangs']} hangs**: {_met(ok)}; "
            f"slowest {_t(doc['slowest_validation_cpu_s'])} CPU ({_slowest(doc)}), median "
            f"{_t(doc['median_validation_cpu_s'])} CPU; slowest "
            f"{_t(doc['slowest_validation_wall_s'])} wall at load {load:.1f}",
            "`benchmarks/spec_fuzz.py`",
            "[spec](../spec.md#how-the-file-is-read), below",
        )
    ]
