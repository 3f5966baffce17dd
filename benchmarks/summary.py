"""The summary table of docs/benchmarks/README.md, one or more rows per result file.

Each function takes a parsed result file and returns its rows as ``(goal, target, measured,
script, details)``; the measured cell is built from the file alone, with the verdict against
the target where there is one. :mod:`benchmarks.published` joins them in the order of its
``SUMMARY`` list.
"""

from __future__ import annotations

from typing import Any

from benchmarks.tables import _s

Row = tuple[str, str, str, str, str]


def verdict(met: bool) -> str:
    return "met" if met else "**not met**"


def _load_range(doc: dict[str, Any]) -> str:
    before, after = doc.get("load_average_before"), doc.get("load_average_after")
    if before and after:
        low, high = sorted((before[0], after[0]))
        return f"load average {low:.1f}–{high:.1f}"
    return ""


def data_check_command(doc: dict[str, Any]) -> list[Row]:
    time, memory = doc["ratio_seconds"], doc["ratio_peak_rss_mib"]
    lg, pl = doc["lockgate"], doc["polars_script"]
    measured = (
        f"**{time:.2f}× time, {memory:.2f}× memory** ({_s(lg['seconds_median'])} and "
        f"{lg['peak_rss_mib_median']:,.0f} MiB against {_s(pl['seconds_median'])} and "
        f"{pl['peak_rss_mib_median']:,.0f} MiB; CPU {doc['ratio_cpu_seconds']:.2f}×): "
        f"{verdict(time <= 1.2 and memory <= 1.2)}"
    )
    return [
        (
            f"`lockgate run` data-check vs a plain Polars script, same checks, "
            f"{doc['rows'] / 1e6:g}M rows × {doc['columns']} cols",
            "≤ 1.2× time and memory",
            measured + " (whole processes, alternating)",
            "`benchmarks/data_check/command.py`",
            "[data-check](data-check.md)",
        )
    ]


def data_check(doc: dict[str, Any]) -> list[Row]:
    lg, pl = doc["lockgate"]["seconds_median"], doc["polars"]["seconds_median"]
    ratio = lg / pl
    return [
        (
            "data-check with drift vs hand-written Polars doing the same work",
            "within 1.5×",
            f"**{ratio:.2f}×** the Polars time ({_s(lg)} against {_s(pl)}; same sample, same "
            f"engine, each in its own process; {doc['rows'] / 1e6:g}M rows): "
            f"{verdict(ratio <= 1.5)}",
            "`benchmarks/data_check/bench.py`",
            "[data-check](data-check.md)",
        )
    ]


def validators(doc: dict[str, Any]) -> list[Row]:
    lg = doc["lockgate"]["seconds_median"]
    pandera, gx = doc["pandera"]["seconds_median"] / lg, doc["gx"]["seconds_median"] / lg
    return [
        (
            "… vs pandera / Great Expectations",
            "≥ 5× / ≥ 10×",
            f"**{pandera:.1f}× / {gx:.1f}×** ({verdict(pandera >= 5)} / {verdict(gx >= 10)}; "
            f"all sides warmed up, each in its own process, imports timed apart; "
            f"{doc['rows']:,} rows)",
            "same",
            "[data-check](data-check.md)",
        )
    ]


def data_check_stream(doc: dict[str, Any]) -> list[Row]:
    peak, base, budget = doc["budgeted"]["peak_rss_mib"], doc["baseline_rss_mib"], doc["budget_mib"]
    return [
        (
            "streaming: a file 10× the memory budget",
            "peak within budget",
            f"**{peak:.0f} MiB peak = {base:.0f} MiB libraries + {peak - base:.0f} MiB work, "
            f"budget {budget} MiB** ({verdict(peak - base <= budget)}), file "
            f"{doc['in_memory_mib'] / 1024:.2f} GiB in memory",
            "same",
            "[data-check](data-check.md)",
        )
    ]


def ingest(doc: dict[str, Any]) -> list[Row]:
    med = doc["median_seconds"]
    lockgate, copy = med["lockgate"], med["copy_polars"]
    rows = f"{doc['rows'] / 1e6:g}M × {doc['columns']}"
    speed = copy / lockgate
    measured = f"**{speed:.2f}×** the `COPY` pipe's speed ({verdict(speed >= 0.8)})"
    if "pandas_read_sql" in med:
        pandas = med["pandas_read_sql"] / lockgate
        client = doc["median_cpu_seconds"]["lockgate"]
        ceiling = med["pandas_read_sql"] / ((client["client"] + client["server"]) / 2)
        measured += (
            f" / **{pandas:.2f}×** `pandas.read_sql` ({verdict(pandas >= 5)}: on "
            f"{doc['machine']['cpus']} cores lockgate's CPU allows at most {ceiling:.2f}×)"
        )
    else:
        measured += "; `pandas.read_sql` not run at this size (it does not fit in memory)"
    adbc = med.get("adbc_polars")
    if adbc:
        measured += f"; {adbc / lockgate:.2f}× ADBC into Polars"
    peak = doc["peak_rss_mib"]
    measured += f"; peak RSS {peak['lockgate']:,.0f} MiB" + (
        f" vs pandas {peak['pandas_read_sql']:,.0f} MiB"
        if "pandas_read_sql" in peak
        else f" vs {peak['copy_polars']:,.0f} MiB for the `COPY` pipe"
    )
    return [
        (
            f"ingest PostgreSQL → Parquet, {rows}, vs `COPY` into Polars (the limit) / "
            "`pandas.read_sql`",
            "≥ 0.8× / ≥ 5×",
            measured,
            "`benchmarks/ingest.py`",
            "[ingest](../ingest.md#performance)",
        )
    ]


def ingest_memory(doc: dict[str, Any]) -> list[Row]:
    from lockgate.stages.data_check.spec import size_bytes

    footprints = {
        "postgres": doc["fixed_footprint_mib"],
        "csv": doc.get("file_footprint_mib", doc["fixed_footprint_mib"]),
    }
    checked = [
        (v, size_bytes(v["budget"]) / 2**20 + footprints[v["source"]])
        for v in doc["variants"].values()
        if v["budget"] and v["rows"] == doc["rows"]
    ]
    worst = max(checked, key=lambda pair: pair[0]["max_peak_rss_mib"] / pair[1])
    return [
        (
            "ingest a table larger than `memory_budget`",
            "peak bounded by the budget",
            f"**{verdict(all(v['max_peak_rss_mib'] < limit for v, limit in checked))}** in "
            f"{len(checked)} of {len(checked)} budgeted runs: closest "
            f"{worst[0]['max_peak_rss_mib']:.0f} MiB against a bound of {worst[1]:.0f} MiB "
            f"({worst[0]['source']}, {worst[0]['budget']}); "
            f"{doc['table_mib']['in_memory_estimate']:.0f} MiB table",
            "`benchmarks/ingest_memory.py`",
            "[ingest](../ingest.md#performance)",
        )
    ]


def encryption(doc: dict[str, Any]) -> list[Row]:
    scenarios, reads = doc["scenarios"], doc["reads"]
    opened = scenarios["hit_read"]["ratio"]
    in_place = reads["whole"]["in_place"]["ratio"]
    return [
        (
            f"encrypted cache hit vs a plain one, {doc['output_mib']:,} MiB output",
            "≤ 1.3×",
            f"read in place (`lockgate/train`): **{in_place:.2f}×** ({verdict(in_place <= 1.3)}); "
            f"opened into plaintext for a `run:` command or container: **{opened:.2f}×** "
            f"({verdict(opened <= 1.3)}: writing the plaintext is the cost, not the cipher)",
            "`benchmarks/encryption.py`",
            "[encryption](../encryption.md#cost)",
        )
    ]


def serving(doc: dict[str, Any]) -> list[Row]:
    ratios = [c["lockgate"]["rps"] / c["fastapi"]["rps"] for c in doc["cases"]]
    uvicorn = doc["uvicorn"]
    return [
        (
            "serving requests/s vs FastAPI + uvicorn (MLflow's server), sync endpoint",
            "report",
            f"**{min(ratios):.1f}–{max(ratios):.1f}×** the requests/s over "
            f"{len(ratios)} cases (model × concurrency; uvicorn loop {uvicorn['loop']}, "
            f"http {uvicorn['http']})",
            "`benchmarks/serving.py`",
            "[package](package.md)",
        )
    ]


def train_startup(doc: dict[str, Any]) -> list[Row]:
    ratios = {name: m["stage_over_plain"] for name, m in doc["models"].items()}
    shown = ", ".join(f"{name} **{r:.2f}×**" for name, r in ratios.items())
    return [
        (
            f"train stage as a process vs a plain PyTorch script as a process, short "
            f"{doc['device'].upper()} run",
            "≤ 1.1× wall",
            f"{shown}: {verdict(max(ratios.values()) <= 1.1)}; the GPU side needs a GPU run",
            "`benchmarks/train/startup.py`",
            "[train](train.md#start-up-the-train-stage-as-a-process-against-a-plain-script)",
        )
    ]


def _vouched(doc: dict[str, Any]) -> str:
    """The first signed audit that a signed checkpoint spares most signatures, when measured."""
    found = doc["command_s"].get("audit_verify_signed_checkpoint")
    if found is None:
        return ""
    after = f"{doc['checkpoint']['entries_after']:,}"
    return (
        f"; with a signed checkpoint {after} entries before the end **{_s(found['median'])}** "
        f"({verdict(found['median'] <= 1)})"
    )


def ledger_command(doc: dict[str, Any]) -> list[Row]:
    s = doc["command_s"]
    first = s["audit_verify_signed_full"]["median"]
    repeat, unsigned = s["audit_verify_signed"]["median"], s["audit_verify"]["median"]
    cpu = doc["command_cpu_s"]["audit_verify_signed_full"]["median"]
    entries = f"{doc['entries']:,}"
    return [
        (
            f"`audit verify`, {entries}-entry ledger, as a command",
            "≤ 1 s",
            f"a repeat audit **{_s(repeat)}** signed / {_s(unsigned)} unsigned "
            f"({verdict(repeat <= 1)}); a first signed audit **{_s(first)}** "
            f"({verdict(first <= 1)}: {cpu:.1f} s of CPU on {doc['workers']} cores, bound by "
            f"{entries} Ed25519 verifications){_vouched(doc)}; {_load_range(doc)}",
            "`benchmarks/ledger.py`",
            "[ledger](ledger.md)",
        ),
        (
            "`history --at`, same ledger",
            "≤ 0.2 s",
            f"**{_s(doc['in_process_s']['history_at_warm']['median'])}** query "
            f"({verdict(doc['in_process_s']['history_at_warm']['median'] <= 0.2)}); "
            f"{_s(s['history_at']['median'])} as a command, "
            f"{_s(s['history_at_ledger_dir']['median'])} with `--ledger DIR`",
            "same",
            "[ledger](ledger.md)",
        ),
    ]


def ledger_gate(doc: dict[str, Any]) -> list[Row]:
    s, before = doc["seconds"], doc["baseline"]
    return [
        (
            f"promote / `history ENV` reading a signed {doc['entries']:,}-entry ledger, vs "
            "the previous lockgate",
            "report",
            f"**{_s(s['promote']['median'])} vs {_s(s['baseline_promote']['median'])}** promote, "
            f"**{_s(s['history']['median'])} vs {_s(s['baseline_history']['median'])}** "
            f"history, against {before}; in process, entries from the parsed copy "
            f"{_s(s['in_process_parse_copy']['median'])} vs "
            f"{_s(s['in_process_parse_lines']['median'])} parsing every line",
            "`benchmarks/ledger_gate.py`",
            "[ledger](ledger.md#a-signed-ledger-gate-reads-and-the-first-audit)",
        )
    ]


def ui(doc: dict[str, Any]) -> list[Row]:
    audit, target = doc["with_audit"], doc["target_ms"]
    return [
        (
            f"release page, {doc['entries']:,}-entry ledger, whole GET with the audit",
            f"≤ {target} ms",
            f"**{audit['median_ms']:.0f} ms** median, {audit['p95_ms']:.0f} ms p95 "
            f"({verdict(audit['p95_ms'] <= target)}; load average {doc['load_avg_1m']:.1f})",
            "`benchmarks/ui.py`",
            "[delivery](../delivery.md)",
        )
    ]
