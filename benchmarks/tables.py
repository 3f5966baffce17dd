"""Markdown tables for docs/, one function per result file (see benchmarks/published.py).

Each takes the parsed JSON document and returns the block's text; nothing here measures. A
``*_figures`` function returns the named figures of a result file that the prose around its
table quotes, formatted as the prose writes them."""

from __future__ import annotations

from typing import Any


def _load(doc: dict[str, Any]) -> str:
    before, after = doc.get("load_average_before"), doc.get("load_average_after")
    if before and after:
        return f"load average {before[0]:.1f} before, {after[0]:.1f} after"
    return f"load average {doc['load_average'][0]:.1f}" if doc.get("load_average") else ""


def _machine(doc: dict[str, Any]) -> str:
    m = doc["machine"]
    versions = ", ".join(f"{k} {v}" for k, v in sorted(doc["versions"].items()) if v != "absent")
    features = f" ({', '.join(m['cpu_features'])})" if m.get("cpu_features") else ""
    return (
        f"Machine: {m['cpu']}{features}, {m['cpus']} cores, {m['memory_gib']} GiB, "
        f"Python {m['python']}; "
        f"{versions}; {_load(doc)}. Command: `{doc['command']}`."
    )


def _s(seconds: float) -> str:
    return f"{seconds:.2f} s" if seconds >= 0.1 else f"{seconds * 1000:.0f} ms"


def _raw(values: list[float]) -> str:
    return ", ".join(f"{v:.2f}" for v in values)


def _span(values: list[float]) -> str:
    """A side's rounds from the quickest to the slowest: ``0.58–0.71 s``."""
    return f"{min(values):.2f}–{max(values):.2f} s"


def run_figures(doc: dict[str, Any]) -> dict[str, str]:
    """The figures of how a run was taken, for any result file that records them: ``rounds``,
    and the 1-minute load average as ``load_before`` and ``load_after`` (at the run's start and
    end) or ``load`` (one reading)."""
    figures = {"rounds": str(doc["repeat"])} if "repeat" in doc else {}
    machine = doc.get("machine", {})
    before = doc.get("load_average_before") or [machine.get("load_average_at_start")]
    after = doc.get("load_average_after") or [machine.get("load_average_at_end")]
    if before[0] is not None and after[0] is not None:
        figures |= {"load_before": f"{before[0]:.1f}", "load_after": f"{after[0]:.1f}"}
    if doc.get("load_average"):
        figures["load"] = f"{doc['load_average'][0]:.1f}"
    return figures


def data_check_command(doc: dict[str, Any]) -> str:
    lg, pl = doc["lockgate"], doc["polars_script"]
    target = "met" if max(doc["ratio_seconds"], doc["ratio_peak_rss_mib"]) <= 1.2 else "not met"
    rounds = "rotating" if doc.get("rotated") else "alternating"
    return f"""\
| {doc["rows"]:,} rows x {doc["columns"]} cols ({doc["file_mib"]} MiB Parquet) | wall (median) | CPU (median) | peak RSS (median) | raw wall, s |
|---|---|---|---|---|
| `lockgate run` of one data-check stage | {_s(lg["seconds_median"])} | {_s(lg["cpu_seconds_median"])} | {lg["peak_rss_mib_median"]:.0f} MiB | {_raw([r["seconds"] for r in lg["raw"]])} |
| plain Polars script, one streaming `select` | {_s(pl["seconds_median"])} | {_s(pl["cpu_seconds_median"])} | {pl["peak_rss_mib_median"]:.0f} MiB | {_raw([r["seconds"] for r in pl["raw"]])} |
| **ratio lockgate / script** | **{doc["ratio_seconds"]:.2f}x** | **{doc["ratio_cpu_seconds"]:.2f}x** | **{doc["ratio_peak_rss_mib"]:.2f}x** | |
{_data_check_parts(doc)}
Target (≤ 1.2x time and memory, engine included): **{target}** in this run. {doc["repeat"]} {rounds} rounds after one warm-up of each side; {doc["bytecode"]}. {_machine(doc)}
"""


def _data_check_parts(doc: dict[str, Any]) -> str:
    """Where lockgate's extra wall time goes, when the result file holds the two processes that
    split it: the engine's share (the whole run minus the stage process alone) and the stage
    process's own (minus the script), against what importing Polars costs both sides."""
    if "stage_process" not in doc:
        return ""
    lg, pl = doc["lockgate"]["seconds_median"], doc["polars_script"]["seconds_median"]
    stage, polars = doc["stage_process"], doc["import_polars"]
    alone = stage["seconds_median"]
    exit = (
        "; it then ends without the interpreter's teardown, which the script pays"
        if doc.get("stage_quick_exit")
        else "; both end through the interpreter's teardown"
    )
    return f"""\
| … the stage process alone (`lockgate stage data-check`) | {_s(alone)} | {_s(stage["cpu_seconds_median"])} | {stage["peak_rss_mib_median"]:.0f} MiB | {_raw([r["seconds"] for r in stage["raw"]])} |
| … an interpreter that only imports Polars | {_s(polars["seconds_median"])} | {_s(polars["cpu_seconds_median"])} | {polars["peak_rss_mib_median"]:.0f} MiB | {_raw([r["seconds"] for r in polars["raw"]])} |

Of the {_s(lg - pl)} lockgate takes beyond the script (medians), about {_s(alone - pl)} is the stage process's own (its interpreter runs the same query as the script, after importing lockgate's stage code and pydantic, which validates `with:`{exit}) and about {_s(lg - alone)} is the `lockgate run` process around it (its interpreter and modules, the plan from the plan cache, the run record). Both sides also pay the {_s(polars["seconds_median"])} of an interpreter importing Polars.
"""


def data_check(doc: dict[str, Any]) -> str:
    lg, pl = doc["lockgate"], doc["polars"]
    where = ", each in a process of its own" if doc.get("sides") else ", both in one process"
    return f"""\
| {doc["rows"]:,} rows x {doc["columns"]} cols ({doc["file_mib"]} MiB Parquet) | median | raw, s | verdict |
|---|---|---|---|
| lockgate data-check stage | {_s(lg["seconds_median"])} | {_raw(lg["raw"])} | drifted: {", ".join(lg["drifted"])} |
| hand-written Polars, same sample, same engine | {_s(pl["seconds_median"])} | {_raw(pl["raw"])} | drifted: {", ".join(pl["drifted"])} |
| **Polars time / lockgate time** | **{doc["polars_over_lockgate"]:.2f}** | | |

{doc["repeat"]} alternating rounds after one warm-up of each side{where}. {_machine(doc)}
"""


def data_check_figures(doc: dict[str, Any]) -> dict[str, str]:
    """``data-check.json``: each side's median and the ratio of the table."""
    return run_figures(doc) | {
        "lockgate": _s(doc["lockgate"]["seconds_median"]),
        "polars": _s(doc["polars"]["seconds_median"]),
        "polars_over_lockgate": f"{doc['polars_over_lockgate']:.2f}",
    }


def validators(doc: dict[str, Any]) -> str:
    base = doc["lockgate"]["seconds_median"]
    names = {
        "lockgate": "lockgate data-check stage",
        "pandera": "pandera (pandas) + numpy/scipy drift",
        "gx": "Great Expectations (pandas) + numpy/scipy drift",
    }
    lines = [
        f"| {doc['rows']:,} rows x {doc['columns']} cols | median | other / lockgate | raw, s | "
        "import of its libraries (fresh interpreter) |",
        "|---|---|---|---|---|",
    ]
    for key, label in names.items():
        side = doc[key]
        ratio = side["seconds_median"] / base
        lines.append(
            f"| {label} | {_s(side['seconds_median'])} | {ratio:.1f}x | {_raw(side['raw'])} | "
            f"{_s(doc['import_seconds'][key])} |"
        )
    lines += [
        "",
        f"{doc['repeat']} alternating rounds after one warm-up of every side (imports and page "
        f"cache warm on every side; import times measured apart"
        + ("; each side in a process of its own" if doc.get("sides") else "")
        + f"). {_machine(doc)}",
    ]
    return "\n".join(lines) + "\n"


def validators_figures(doc: dict[str, Any]) -> dict[str, str]:
    """``data-check-validators.json``: each side's median (``lockgate``, ``pandera``, ``gx``)
    and the other sides' time over lockgate's (``pandera_ratio``, ``gx_ratio``), as in the
    table."""
    base = doc["lockgate"]["seconds_median"]
    figures = run_figures(doc)
    for key in ("lockgate", "pandera", "gx"):
        figures[key] = _s(doc[key]["seconds_median"])
        figures[f"{key}_ratio"] = f"{doc[key]['seconds_median'] / base:.1f}x"
    return figures


def serving(doc: dict[str, Any]) -> str:
    uv = doc["uvicorn"]
    lines = [
        "| model | clients | server | req/s | p50 ms | p99 ms | throughput lockgate / FastAPI |",
        "|---|---|---|---|---|---|---|",
    ]
    model = {"python": "pure-Python rule", "torch": "tiny torch MLP (2→8→3)"}
    for case in doc["cases"]:
        lg, fa = case["lockgate"], case["fastapi"]
        ratio = lg["rps"] / fa["rps"]
        for name, side, shown in (("lockgate", lg, f"{ratio:.2f}x"), ("FastAPI", fa, "")):
            lines.append(
                f"| {model[case['model']]} | {case['concurrency']} | {name} | {side['rps']:.0f} | "
                f"{side['p50_ms']:.2f} | {side['p99_ms']:.2f} | {shown} |"
            )
    lines += [
        "",
        f"FastAPI endpoint: a plain `def` (run in FastAPI's thread pool); uvicorn with "
        f"`loop={uv['loop']}`, `http={uv['http']}`. Medians of {doc['repeat']} alternating "
        f"rounds, each a fresh server, {doc['warmup']} warm-up then {doc['requests']} requests. "
        f"{_machine(doc)}",
    ]
    return "\n".join(lines) + "\n"


def ledger_command(doc: dict[str, Any]) -> str:
    cmd, inproc = doc["command_s"], doc["in_process_s"]
    rows = [
        ("`lockgate audit verify --full` (command, unsigned ledger)", cmd["audit_verify_full"]),
        ("`lockgate audit verify` (command, unsigned, audited here before)", cmd["audit_verify"]),
        (
            "`lockgate audit verify --full --public-key K` (command, every entry signed)",
            cmd["audit_verify_signed_full"],
        ),
        (
            "`lockgate audit verify --public-key K` (command, signed, audited here before)",
            cmd["audit_verify_signed"],
        ),
    ]
    if "audit_verify_signed_checkpoint" in cmd:
        vouch = doc["checkpoint"]
        rows.append(
            (
                "`lockgate audit verify --public-key K` (command, signed, never audited here; "
                f"a signed checkpoint {vouch['entries_after']:,} entries before the end)",
                cmd["audit_verify_signed_checkpoint"],
            )
        )
    for name, what in (("signed", "signed audit"), ("signed_full", "first signed audit")):
        if f"baseline_audit_verify_{name}" in cmd:
            label = f"… the {what} with the earlier lockgate ({doc['baseline']})"
            rows.append((label, cmd[f"baseline_audit_verify_{name}"]))
    rows += [
        ("`lockgate history ENV --at T` (command)", cmd["history_at"]),
        ("`lockgate history ENV --at T --ledger DIR` (command)", cmd["history_at_ledger_dir"]),
        ("`lockgate --help`", cmd["help"]),
    ]
    lines = [
        f"| {doc['entries']:,}-entry ledger ({doc['ledger_mb']} MB) | median | raw, s |",
        "|---|---|---|",
    ]
    lines += [f"| {label} | {_s(v['median'])} | {_raw(v['raw'])} |" for label, v in rows]
    rows = [
        ("audit, in process (no signatures)", inproc["audit"]),
        ("… parse, re-serialise, re-hash each entry, in process", inproc["naive_audit"]),
        ("`history --at` query, in process, index present", inproc["history_at_warm"]),
        ("… first query (builds the index)", inproc["history_at_cold"]),
        ("… reading the whole ledger instead", inproc["naive_history"]),
    ]
    lines += [f"| {label} | {_s(v['median'])} | {_raw(v['raw'])} |" for label, v in rows]
    lines += [
        "",
        f"Commands and in-process rows: {doc['repeat']} alternating rounds each, after one "
        f"warm-up; signatures checked on {doc['workers']} "
        f"{doc.get('signature_workers', 'worker processes')}. {_cpu(doc)}{_machine(doc)}",
    ]
    return "\n".join(lines) + "\n"


def ledger_command_figures(doc: dict[str, Any]) -> dict[str, str]:
    """``ledger-command.json``: every median by its name in the file (``audit_verify_signed``;
    ``in_process_audit`` for the in-process rows; ``audit_verify_signed_full_cpu`` for CPU
    seconds), and the first signed audit's CPU to a tenth of a second
    (``audit_verify_signed_full_cpu_tenths``); the checkpoint's one-off write
    (``checkpoint_write``) and how many entries follow it (``checkpoint_entries_after``)."""
    figures = run_figures(doc)
    figures |= {name: _s(v["median"]) for name, v in doc["command_s"].items()}
    figures |= {f"in_process_{name}": _s(v["median"]) for name, v in doc["in_process_s"].items()}
    cpu = doc.get("command_cpu_s", {})
    figures |= {f"{name}_cpu": _s(v["median"]) for name, v in cpu.items()}
    if "audit_verify_signed_full" in cpu:
        tenths = f"{cpu['audit_verify_signed_full']['median']:.1f} s"
        figures["audit_verify_signed_full_cpu_tenths"] = tenths
    if "checkpoint" in doc:
        figures["checkpoint_write"] = _s(doc["checkpoint"]["write_s"])
        figures["checkpoint_seq"] = f"{doc['checkpoint']['seq']:,}"
        figures["checkpoint_entries_after"] = f"{doc['checkpoint']['entries_after']:,}"
    return figures


def _cpu(doc: dict[str, Any]) -> str:
    """The first signed audits' CPU seconds, when recorded: the work, whatever the load."""
    cpu = doc.get("command_cpu_s", {})
    said = [
        f"{label}: {_s(cpu[name]['median'])} of CPU ({_raw(cpu[name]['raw'])})"
        for name, label in (
            ("audit_verify_signed_full", "First signed audit"),
            ("baseline_audit_verify_signed_full", "with the earlier lockgate"),
            ("audit_verify_signed_checkpoint", "first signed audit with a checkpoint"),
        )
        if name in cpu
    ]
    return "; ".join(said) + ". " if said else ""


def ledger_gate(doc: dict[str, Any]) -> str:
    sec, base = doc["seconds"], doc["baseline"]

    def row(label: str, name: str, before: str | None = None) -> str:
        now = sec[name]["median"]
        if before is None:
            return f"| {label} | {_s(now)} | | | {_raw(sec[name]['raw'])} |"
        was = sec[before]["median"]
        return (
            f"| {label} | {_s(now)} | {_s(was)} | {was / now:.1f}x | "
            f"{_raw(sec[name]['raw'])} / {_raw(sec[before]['raw'])} |"
        )

    ssl, sodium = sec["in_process_audit_full_openssl"], sec["in_process_audit_full_libsodium"]
    lines = [
        f"| {doc['entries']:,}-entry signed ledger ({doc['ledger_mb']} MB) | this lockgate | "
        f"{base} | faster | raw, s (this / earlier) |",
        "|---|---|---|---|---|",
        row(
            "promote to staging, this machine's records present (audit; parsed copy: this side)",
            "promote",
            "baseline_promote",
        ),
        row("promote to staging, no record (a fresh machine)", "promote_first"),
        *(
            [
                row(
                    "… no record, a signed checkpoint "
                    f"{doc['checkpoint']['entries_after']:,} entries before the end",
                    "promote_first_checkpoint",
                )
            ]
            if "promote_first_checkpoint" in sec
            else []
        ),
        *(
            [
                row(
                    "… the same, due a checkpoint (`checkpoint_every: "
                    f"{doc['checkpoint']['entries_after']:,}`): the promotion, then it writes one",
                    "promote_first_writes_checkpoint",
                )
            ]
            if "promote_first_writes_checkpoint" in sec
            else []
        ),
        row("`lockgate history staging` (status read)", "history", "baseline_history"),
        row("`lockgate audit verify --full --public-key K`", "audit_full", "baseline_audit_full"),
        *(
            [
                row(
                    "`lockgate audit verify --public-key K`, no record, the same checkpoint",
                    "audit_first_checkpoint",
                )
            ]
            if "audit_first_checkpoint" in sec
            else []
        ),
        row(
            "full audit in process, Ed25519 by libsodium (PyNaCl)",
            "in_process_audit_full_libsodium",
        ),
        row(
            "full audit in process, Ed25519 by OpenSSL (cryptography)",
            "in_process_audit_full_openssl",
        ),
        row(
            "a read's entries, in process: every line parsed (no parsed copy)",
            "in_process_parse_lines",
        ),
        row("… from this machine's parsed copy (used)", "in_process_parse_copy"),
        row(
            "… from compact gate-only JSON rows (measured, not used)",
            "in_process_parse_compact_json",
        ),
        row("writing the parsed copy, in process", "in_process_keep_copy"),
        "",
        f"libsodium / OpenSSL, full audit in process: {sodium['median'] / ssl['median']:.2f} of "
        f"the time. Parsed copy: {doc['parsed_copy_mb']} MB. Each side a fresh process (interpreter start included) unless in process; "
        f"{doc['repeat']} alternating rounds; signatures on {doc['workers']} "
        f"{doc.get('signature_workers', 'worker processes')}. "
        f"{_machine(doc)}",
    ]
    return "\n".join(lines) + "\n"


def ledger_gate_figures(doc: dict[str, Any]) -> dict[str, str]:
    """``ledger-gate.json``: every median by its name in the file (``promote``,
    ``baseline_promote``, ``in_process_parse_copy``...) and the spread of its rounds
    (``promote_rounds``); the sizes of the ledger and of the parsed copy in whole MB; libsodium's
    full audit over OpenSSL's (``libsodium_over_openssl``)."""
    sec = doc["seconds"]
    figures = run_figures(doc)
    figures |= {name: _s(v["median"]) for name, v in sec.items()}
    figures |= {f"{name}_rounds": _span(v["raw"]) for name, v in sec.items()}
    ssl, sodium = sec["in_process_audit_full_openssl"], sec["in_process_audit_full_libsodium"]
    if "checkpoint" in doc:
        figures["checkpoint_entries_after"] = f"{doc['checkpoint']['entries_after']:,}"
    return figures | {
        "ledger_mb": f"{doc['ledger_mb']:.0f} MB",
        "parsed_copy_mb": f"{doc['parsed_copy_mb']:.0f} MB",
        "libsodium_over_openssl": f"{sodium['median'] / ssl['median']:.2f}",
    }


def ledger_payload(doc: dict[str, Any]) -> str:
    sec = doc["seconds"]
    then, now = sec["walk_then_match"], sec["walk_with_spans"]
    return (
        f"| {doc['entries']:,} signed lines, one core, no Ed25519 | median | raw, s |\n"
        "|---|---|---|\n"
        f"| chain walk, then each payload cut by matching the line again (before) | "
        f"{_s(then['median'])} | {_raw(then['raw'])} |\n"
        f"| chain walk keeping where each signature sits, payload cut there (now) | "
        f"{_s(now['median'])} | {_raw(now['raw'])} |\n\n"
        f"now / before: {now['median'] / then['median']:.2f} of the time; "
        f"{doc['repeat']} alternating rounds after one warm-up, in one process. {_machine(doc)}\n"
    )


def secret_scan(doc: dict[str, Any]) -> str:
    lg, same, defaults = doc["lockgate"], doc["trivy_same_skip"], doc["trivy_defaults"]
    skip = ",".join(doc["skip_dirs"])
    if defaults is None:
        defaults_row = "| trivy's defaults (`--scanners secret`, no skip) | not run | |"
        defaults_runs = "was not run"
    else:
        defaults_row = f"| trivy's defaults (`--scanners secret`, no skip: also scans {skip}) | {_s(defaults['median'])} | {_raw(defaults['raw'])} |"
        defaults_runs = f"ran {len(defaults['raw'])} time(s) (minutes each)"
    return f"""\
| cold secret scan, {doc["image"]} | median | raw, s |
|---|---|---|
| lockgate's scan (defaults: `skip_dirs: [{skip}]`) | {_s(lg["median"])} | {_raw(lg["raw"])} |
| trivy {doc["trivy_version"]} with the same skip (`--scanners secret --skip-dirs {skip}`): **the fair pair** | {_s(same["median"])} | {_raw(same["raw"])} |
{defaults_row}

lockgate / trivy with the same skip: **{lg["median"] / same["median"]:.2f}x** the time. The first two
rows ran in {doc["repeat"]} alternating rounds after one warm-up, each round with an empty trivy
cache; the defaults row {defaults_runs}. {_machine(doc)}
"""


def encryption(doc: dict[str, Any]) -> str:
    s = doc["scenarios"]
    names = {
        "hit_read": "cache hit, read by the next stage (encrypted: opened for it)",
        "hit_only": "cache hit, nothing reads it (neither side opens it)",
        "store": "both stages run again, the output enters the cache (encrypted: sealed)",
    }
    rows = "".join(
        f"| {names[k]} | {_s(s[k]['plain']['median'])} | {_s(s[k]['encrypted']['median'])} "
        f"| **{s[k]['ratio']:.2f}x** | {s[k]['cpu_ratio']:.2f}x | {_raw(s[k]['plain']['raw'])} / "
        f"{_raw(s[k]['encrypted']['raw'])} |\n"
        for k in ("hit_read", "hit_only", "store")
    )
    steps = doc["steps"]
    labels = {
        "open": "open (segmented, what a read hit adds)",
        "open_single": "open the same bytes sealed as one message (the reader before segments)",
        "seal": "seal (segmented, what a store adds)",
        "copy": "plain copy of the file (no cipher)",
        "sha256": "sha256 of the file (both sides digest a fresh output)",
    }
    step_rows = "".join(
        f"| {labels[k]} | {_s(steps[k]['median'])} | {steps[k]['mib_per_s']:,} MiB/s "
        f"| {_s(steps[k]['cpu_median'])} | {_raw(steps[k]['raw'])} |\n"
        for k in labels
    )
    return f"""\
| `lockgate run`, one {doc["output_mib"]:,} MiB output | plain (median) | {doc["cipher"]} (median) | encrypted / plain, wall | CPU | raw plain / encrypted, s |
|---|---|---|---|---|---|
{rows}
| one {doc["output_mib"]:,} MiB file, in one process | wall (median) | rate | CPU (median, all threads) | raw wall, s |
|---|---|---|---|---|
{step_rows}{_encryption_reads(doc)}
Wall time of the whole command, and the CPU seconds of lockgate and its stages together, {doc["repeat"]} alternating rounds after one warm-up; the steps likewise, {doc["segment_mib"]} MiB segments. {_machine(doc)}
"""


def encryption_figures(doc: dict[str, Any]) -> dict[str, str]:
    """``encryption.json``, as the prose under its tables quotes it.

    Per ``lockgate run`` scenario (``hit_read``, ``hit_only``, ``store``): each side's median
    (``hit_read_plain``, ``hit_read_encrypted``), the ratios of the table (``hit_read_ratio``,
    ``hit_read_cpu_ratio``) and the spread of each side's two quickest rounds
    (``hit_read_plain_quickest``). Per step: its median and its CPU seconds as a bare number
    (``step_open``, ``step_open_cpu``). Per read of the Parquet file (``whole``, ``few``) and way
    (``plain``, ``in_place``, ``file_object``, ``opened``): the median (``read_whole_in_place``)
    and, but for ``plain``, the ratios (``read_whole_in_place_ratio``,
    ``read_whole_in_place_cpu_ratio``). The read in a fresh process: ``fresh_ratio``,
    ``fresh_seconds`` (one figure when both sides give the same), ``fresh_rounds``,
    ``fresh_plain_peak``, ``fresh_in_place_peak``. The ciphers: ``aes_open_rate`` in GiB/s on
    one thread, and how many times slower ChaCha20-Poly1305 is (``chacha_slower``: one figure
    when sealing and opening agree)."""
    figures = run_figures(doc)
    for name, run in doc["scenarios"].items():
        figures[f"{name}_ratio"] = f"{run['ratio']:.2f}x"
        figures[f"{name}_cpu_ratio"] = f"{run['cpu_ratio']:.2f}x"
        for side in ("plain", "encrypted"):
            figures[f"{name}_{side}"] = _s(run[side]["median"])
            figures[f"{name}_{side}_quickest"] = _span(sorted(run[side]["raw"])[:2])
    for name, step in doc["steps"].items():
        figures[f"step_{name}"] = _s(step["median"])
        figures[f"step_{name}_cpu"] = f"{step['cpu_median']:.2f}"
    reads = doc.get("reads", {})
    for what in ("whole", "few"):
        for way, read in reads.get(what, {}).items():
            figures[f"read_{what}_{way}"] = _s(read["median"])
            if way != "plain":
                figures[f"read_{what}_{way}_ratio"] = f"{read['ratio']:.2f}x"
                figures[f"read_{what}_{way}_cpu_ratio"] = f"{read['cpu_ratio']:.2f}x"
    fresh = reads.get("fresh_process")
    if fresh:
        plain, sealed = fresh["plain"], fresh["in_place"]
        both = [_s(plain["median"]), _s(sealed["median"])]
        figures |= {
            "fresh_ratio": f"{sealed['median'] / plain['median']:.2f}x",
            "fresh_seconds": f"{both[0]} each" if both[0] == both[1] else " against ".join(both),
            "fresh_rounds": str(len(plain["raw"])),
            "fresh_plain_peak": f"{plain['peak_mib_median']:,} MiB",
            "fresh_in_place_peak": f"{sealed['peak_mib_median']:,} MiB",
        }
    aeads = doc.get("ciphers")
    if aeads:
        rate = {name: aead["mib_per_s"] for name, aead in aeads.items()}
        aes, chacha = doc["cipher"], "ChaCha20-Poly1305"
        figures["aes_open_rate"] = f"{rate[aes + ' open'] / 1024:.0f} GiB/s"
        slower = {f"{rate[f'{aes} {w}'] / rate[f'{chacha} {w}']:.1f}" for w in ("seal", "open")}
        figures["chacha_slower"] = "–".join(sorted(slower))
    return figures


def _encryption_reads(doc: dict[str, Any]) -> str:
    reads = doc.get("reads")
    if not reads:
        return ""
    labels = {
        "whole": "every column",
        "few": f"{len(reads['few_columns'])} of the columns",
    }
    how = {  # how a built-in stage reads in place (results before the whole read: a file object)
        "whole": "decrypted once into memory" if "file_object" in reads["whole"] else "file object",
        "few": "file object",
    }

    def row(label: str, read: dict[str, Any], side: str) -> str:
        plain, other, opened = read["plain"], read[side], read["opened"]
        return (
            f"| {label} | {_s(plain['median'])} | {_s(other['median'])} "
            f"| **{other['ratio']:.2f}x** | {other['cpu_ratio']:.2f}x "
            f"({_s(plain['cpu_median'])} / {_s(other['cpu_median'])}) "
            f"| {_s(opened['median'])} | {opened['ratio']:.2f}x "
            f"| {_raw(plain['raw'])} / {_raw(other['raw'])} / {_raw(opened['raw'])} |\n"
        )

    rows = "".join(row(f"{labels[k]} ({how[k]})", reads[k], "in_place") for k in ("whole", "few"))
    if "file_object" in reads["whole"]:
        rows += row(
            "every column (file object: the train stage before)", reads["whole"], "file_object"
        )
    return f"""
| the next stage reads a {reads["file_mib"]:,} MiB Parquet file ({reads["columns"]} float64 columns) with pyarrow, in one process | plain file (median) | in place through the sealed file (median) | in place / plain, wall | CPU (plain / in place) | opened into plaintext, then read (median) | opened / plain | raw plain / in place / opened, s |
|---|---|---|---|---|---|---|---|
{rows}
Reads: {doc.get("lazy_repeat", doc["repeat"])} alternating rounds after one warm-up; "opened" includes removing the plaintext copy.{_fresh(reads)}{_ciphers(doc)}
"""


def _fresh(reads: dict[str, Any]) -> str:
    fresh = reads.get("fresh_process")
    if not fresh:
        return ""
    plain, sealed = fresh["plain"], fresh["in_place"]
    return (
        f" Every column read once in a fresh process, as a stage reads its data (median of "
        f"{len(plain['raw'])}, the read alone): plain {_s(plain['median'])}, peak "
        f"{plain['peak_mib_median']:,} MiB; decrypted into memory {_s(sealed['median'])} "
        f"({sealed['median'] / plain['median']:.2f}x), peak {sealed['peak_mib_median']:,} MiB "
        f"(raw {_raw(plain['raw'])} / {_raw(sealed['raw'])} s)."
    )


def _ciphers(doc: dict[str, Any]) -> str:
    aeads = doc.get("ciphers")
    if not aeads:
        return ""
    names = sorted({k.rsplit(" ", 1)[0] for k in aeads})
    each = "; ".join(
        f"{n} seals {aeads[n + ' seal']['mib_per_s']:,} MiB/s and opens "
        f"{aeads[n + ' open']['mib_per_s']:,} MiB/s"
        for n in names
    )
    return f" One thread, 4 MiB messages (one segment), median of the rounds: {each}."


def ui(doc: dict[str, Any]) -> str:
    first = doc["first_request_ms"]
    warm = doc["start_warm_ms"]
    lines = [
        f"| {doc['entries']:,}-entry ledger, whole GET | median | p95 | first request "
        "| start (read + audit once) |",
        "|---|---|---|---|---|",
    ]
    for key, label in (
        ("with_audit", "with the chain audit (default)"),
        ("without_audit", "`--no-audit`"),
    ):
        row = doc[key]
        lines.append(
            f"| {label} | {row['median_ms']} ms | {row['p95_ms']} ms | {first[key]:.0f} ms "
            f"| {warm[key]:.0f} ms |"
        )
    lines += [
        "",
        f"{doc['requests']} requests, one entry appended before each; {doc['cpus']} shared cores "
        f"at load average {doc['load_avg_1m']:.1f}; target {doc['target_ms']} ms. "
        "Command: `python benchmarks/ui.py`.",
    ]
    return "\n".join(lines) + "\n"


def ingest_memory(doc: dict[str, Any]) -> str:
    size, footprint = doc["table_mib"], doc["fixed_footprint_mib"]
    # results from before file sources had their own stated footprint bound them by the other
    footprints = {"postgres": footprint, "csv": doc.get("file_footprint_mib", footprint)}
    base = doc["variants"]["postgres/10 rows"]["median_peak_rss_mib"]
    file_base = doc["variants"].get("csv/10 rows", {}).get("median_peak_rss_mib")
    measured = f"the 10-row PostgreSQL run measured {base:.0f} MiB" + (
        f" and the 10-row CSV run {file_base:.0f} MiB" if file_base is not None else ""
    )
    rows = []
    for v in doc["variants"].values():
        budget = v["budget"] or "none"
        if v["rows"] != doc["rows"]:
            what, bound = f"{v['source']}, {v['rows']} rows (the fixed footprint)", "-"
        else:
            what = "PostgreSQL table" if v["source"] == "postgres" else "CSV file"
            bound = "-"
            if v["budget"]:
                from lockgate.stages.data_check.spec import size_bytes

                limit = size_bytes(v["budget"]) / 2**20 + footprints[v["source"]]
                met = "under" if v["max_peak_rss_mib"] < limit else "**over**"
                bound = f"{limit:.0f} MiB ({met})"
        rows.append(
            f"| {what} | {budget} | {v['median_peak_rss_mib']:.0f} MiB "
            f"| {v['max_peak_rss_mib']:.0f} MiB | {bound} | {_s(v['median_seconds'])} |"
        )
    m = doc["machine"]
    return (
        f"| {doc['rows']:,} rows x {doc['columns']} columns | memory_budget | peak RSS (median) "
        "| peak RSS (max) | budget + fixed footprint | time (median) |\n"
        "|---|---|---|---|---|---|\n"
        + "\n".join(rows)
        + f"""

The data: about {size["in_memory_estimate"]:.0f} MiB in memory ({size["csv_file"]:.0f} MiB as
CSV, {size["postgres_on_disk"]:.0f} MiB in PostgreSQL). The fixed footprint the bound adds is the
one stated in the code for the source ({footprints["postgres"]:.0f} MiB for PostgreSQL,
{footprints["csv"]:.0f} MiB for a file{"" if "file_footprint_mib" in doc else ": this result file records only the PostgreSQL footprint, so the file rows are bounded by it too"}); {measured}. Time is the whole process, imports
included. {doc["repeat"]} rotating rounds; {m["cpus"]} cores, Python {m["python"]}, load average
{m["load_average_at_start"]:.1f} at the start and {m["load_average_at_end"]:.1f} at the end.
Command: `python benchmarks/ingest_memory.py --rows {doc["rows"]} --repeat {doc["repeat"]}`.
"""
    )


def train_startup(doc: dict[str, Any]) -> str:
    models = doc["models"]
    before = doc.get("baseline")
    head = "| model | train stage process | plain script process | stage / plain |"
    rule = "|---|---|---|---|"
    if before:
        head += f" stage process, {before} | {before} / plain |"
        rule += "---|---|"
    head += " imports: stage / plain | raw stage / plain, s |"
    rule += "---|---|"
    rows = []
    for name, m in models.items():
        med, raw, imports = m["median_s"], m["raw_s"], m["imports_s"]
        row = f"| {name} | {_s(med['stage'])} | {_s(med['plain'])} | **{m['stage_over_plain']:.2f}x** |"
        if before:
            row += f" {_s(med['stage_before'])} | {m['stage_before_over_plain']:.2f}x |"
        row += (
            f" {_s(imports['stage'])} / {_s(imports['plain'])} "
            f"| {_raw(raw['stage'])} / {_raw(raw['plain'])} |"
        )
        rows.append(row)
    return f"""\
{head}
{rule}
{chr(10).join(rows)}

{doc["rows"]:,} rows, {doc["epochs"]} epochs at batch {doc["batch_size"]:,} on {doc["device"]} ({doc["torch_threads"]} torch threads), each side a fresh process timed from start to exit, {doc["repeat"]} alternating rounds after one warm-up; imports from one more process of each with `-X importtime`. {_machine(doc)}
"""


def train_startup_figures(doc: dict[str, Any]) -> dict[str, str]:
    """``train-startup.json``, as the prose under its table quotes it: the imports' time of
    every process, fewest seconds to most (``imports_span``); what importing lockgate's train
    stage (``lockgate.stages.train``, pydantic included) took in the stage process, the mean over
    the models (``lockgate_imports``); and the earlier stage over the plain script, lowest to
    highest over the models, with no unit (``before_over_plain_span``)."""
    models = doc["models"].values()
    imports = [s for m in models for s in m["imports_s"].values()]
    own = [m["largest_imports_s"]["stage"]["lockgate.stages.train"] for m in models]
    figures = run_figures(doc) | {
        "imports_span": f"{min(imports):.1f}–{max(imports):.1f} s",
        "lockgate_imports": f"{sum(own) / len(own):.2f} s",
    }
    if doc.get("baseline"):
        before = [m["stage_before_over_plain"] for m in models]
        figures["before_over_plain_span"] = f"{min(before):.2f}–{max(before):.2f}"
    return figures
