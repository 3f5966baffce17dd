"""Docs tables and summary rows for the supply-chain, CI image job and no-op CI benchmarks.

Renderers (``supply.json``, ``image_job.json``, ``ci_noop.json``) take the parsed result file and
return the generated block's text; ``summary_NAME`` functions return the rows of the summary
table in docs/benchmarks/README.md, their numbers read from the same file. Result files written
before the benchmark recorded its machine and versions render with what they hold.
"""

from __future__ import annotations

from typing import Any

from benchmarks.tables import _load, _machine, _raw, _s

Row = tuple[str, str, str, str, str]

SUPPLY_SCRIPT = "`benchmarks/supply/bench_supply.py`"
SUPPLY_PAGE = "[supply](supply.md)"
IMAGE_PAGE = "[image job](image-job.md)"
RESCAN_TARGET_S = 2.0
SIGN_TARGET_S = 3.0
HIT_TARGET_S = 3.0
ATTESTATIONS = {"sbom": "SBOM", "provenance": "SLSA provenance", "scan": "scan verdict"}


def _met(seconds: float, target: float) -> str:
    return "met" if seconds <= target else "not met"


def _secs(seconds: float) -> str:
    """Pipeline and job times: tenths of a second, about what gitlab-ci-local reports."""
    return f"{seconds:.1f} s"


def _rounds(n: int) -> str:
    return f"{n} round" if n == 1 else f"{n} rounds"


def _where(doc: dict[str, Any]) -> str:
    """The footer: machine, versions, load and command; a file from before the benchmark
    recorded them says what it has (core count, load average)."""
    if "machine" in doc:
        return _machine(doc)
    said = [f"{doc['cpus']} cores"] if doc.get("cpus") else []
    load = doc.get("load_average_1m")
    if isinstance(load, dict):
        said.append(f"load average {load['start']:.1f} at the start, {load['end']:.1f} at the end")
    elif doc.get("load_average_1m_at_end") is not None:
        said.append(f"load average {doc['load_average_1m_at_end']:.1f} at the end")
    return f"Machine: {', '.join(said)} (this result file records no CPU model or versions)."


def _tools(doc: dict[str, Any]) -> str:
    """The non-Python tools that took part, with their versions, when the file records them."""
    found = doc.get("tools") or {}
    return "; ".join(f"{name} {version}" for name, version in sorted(found.items()))


# -- supply.json ---------------------------------------------------------------------------------


def supply(doc: dict[str, Any]) -> str:
    """``supply.json``: sign + attest + verify vs cosign by hand, and a re-scan vs a cold scan."""
    blocks = []
    if "sign_verify" in doc:
        blocks.append(_sign_verify(doc["sign_verify"]))
    if "rescan" in doc:
        blocks.append(_rescan(doc["rescan"]))
    blocks.append(
        f"The images ({doc['image']}) share {doc['image_mb']} MB of compressed base layers "
        "and differ in the app layer; they are pushed to a docker-registry on loopback. "
        f"{_rounds(doc['repeat'])}, alternating, after {doc['warmup']} warm-up of each side; "
        "every timed scan and signature is of an image no earlier round touched. trivy "
        f"{doc['trivy_version']}, cosign {doc['cosign_version']}. {_machine(doc)}"
    )
    return "\n\n".join(blocks) + "\n"


def _sign_verify(part: dict[str, Any]) -> str:
    attest = [ATTESTATIONS.get(name, name) for name in part["attest"]]
    n = len(attest)
    lg, hand = part["lockgate"], part["cosign_by_hand"]
    rows = [
        (
            f"lockgate: sign stage (sign + {n} attestations: {', '.join(attest)}) + "
            f"`verify_image` (signature, {n} attestations, subject digests, scan policy)",
            f"**{_s(lg['median'])}**",
            lg["raw"],
        ),
        (
            f"… of which: sign stage ({n + 1} cosign signing processes)",
            _s(part["lockgate_sign"]["median"]),
            part["lockgate_sign"]["raw"],
        ),
        (
            f"… of which: `verify_image` ({n + 1} cosign verify processes, in parallel)",
            _s(part["lockgate_verify"]["median"]),
            part["lockgate_verify"]["raw"],
        ),
        (
            f"the same cosign commands typed by hand, one after another (sign, {n} × attest, "
            f"verify, {n} × verify-attestation)",
            _s(hand["median"]),
            hand["raw"],
        ),
    ]
    lines = ["| sign + attest + verify, local registry | median | raw, s |", "|---|---|---|"]
    lines += [f"| {label} | {median} | {_raw(raw)} |" for label, median, raw in rows]
    lines += [
        "",
        f"lockgate / cosign by hand: **{lg['median'] / hand['median']:.2f}x** the time. "
        f"Target ≤ {SIGN_TARGET_S:.0f} s: {_met(lg['median'], SIGN_TARGET_S)}.",
    ]
    return "\n".join(lines)


def _rescan(part: dict[str, Any]) -> str:
    cold, again = part["cold"], part["rescan"]
    return "\n".join(
        [
            "| secret scan | median | raw, s |",
            "|---|---|---|",
            f"| cold scan (an empty trivy cache) | {_s(cold['median'])} | {_raw(cold['raw'])} |",
            "| re-scan of a rebuilt image, base layers unchanged (persistent trivy cache: only "
            f"the app layer is analysed) | **{_s(again['median'])}** | {_raw(again['raw'])} |",
            "",
            f"The re-scan takes **{again['median'] / cold['median']:.2f}x** a cold scan's time "
            f"({cold['median'] / again['median']:.0f}x faster). Target ≤ {RESCAN_TARGET_S:.0f} s: "
            f"{_met(again['median'], RESCAN_TARGET_S)}.",
        ]
    )


def summary_supply(doc: dict[str, Any]) -> list[Row]:
    """The re-scan and sign + attest + verify rows, each where ``doc`` holds its part."""
    rows: list[Row] = []
    if "rescan" in doc:
        cold, again = doc["rescan"]["cold"]["median"], doc["rescan"]["rescan"]["median"]
        rows.append(
            (
                "re-scan of a rebuilt image, base layers unchanged",
                f"≤ {RESCAN_TARGET_S:.0f} s",
                f"**{_s(again)}** (cold scan {_s(cold)}): {_met(again, RESCAN_TARGET_S)}",
                SUPPLY_SCRIPT,
                SUPPLY_PAGE,
            )
        )
    if "sign_verify" in doc:
        lg = doc["sign_verify"]["lockgate"]["median"]
        hand = doc["sign_verify"]["cosign_by_hand"]["median"]
        rows.append(
            (
                "sign + attest + verify against the local registry",
                f"≤ {SIGN_TARGET_S:.0f} s",
                f"**{_s(lg)}** (cosign by hand: {_s(hand)}): {_met(lg, SIGN_TARGET_S)}",
                SUPPLY_SCRIPT,
                SUPPLY_PAGE,
            )
        )
    return rows


def summary_secret_scan(doc: dict[str, Any]) -> list[Row]:
    """``secret-scan.json`` (rendered by ``tables.secret_scan``): the fair pair's ratio."""
    lg, same = doc["lockgate"]["median"], doc["trivy_same_skip"]["median"]
    defaults = doc.get("trivy_defaults")
    shown = f"; trivy's defaults (no skip) {_s(defaults['median'])}" if defaults else ""
    return [
        (
            "cold secret scan vs trivy with the same skip (and trivy's defaults, labelled)",
            "report",
            f"**{lg / same:.2f}x** the time of trivy with the same skip "
            f"({_s(lg)} vs {_s(same)}){shown}",
            SUPPLY_SCRIPT,
            SUPPLY_PAGE,
        )
    ]


# -- image_job.json ------------------------------------------------------------------------------


def image_job(doc: dict[str, Any]) -> str:
    """``image_job.json``: ``lockgate image build --push`` on a registry hit vs a rebuild."""
    rebuild, hit = doc["rebuild_s"], doc["hit_s"]
    target = doc.get("target_hit_s", HIT_TARGET_S)
    warmup = doc.get("warmup", 0)
    after = f" after {warmup} warm-up round" if warmup else ""
    tools = _tools(doc)
    lines = [
        "| `lockgate image build --push REPO`, quickstart runner image | median | runs, s |",
        "|---|---|---|",
        f"| rebuild + push | **{_s(rebuild['median'])}** | {_raw(rebuild['runs'])} |",
        f"| hit | **{_s(hit['median'])}** | {_raw(hit['runs'])} |",
        "",
        f"Target for a hit: ≤ {target:.0f} s: {_met(hit['median'], target)}. "
        f"{_rounds(doc['rounds'])}{after}, each a rebuild then a hit. "
        + (f"{tools}. " if tools else "")
        + _where(doc),
    ]
    return "\n".join(lines) + "\n"


def summary_image_job(doc: dict[str, Any]) -> list[Row]:
    rebuild, hit = doc["rebuild_s"]["median"], doc["hit_s"]["median"]
    target = doc.get("target_hit_s", HIT_TARGET_S)
    return [
        (
            "CI image job on a registry hit vs a rebuild (quickstart runner image)",
            f"hit ≤ {target:.0f} s",
            f"**{_s(hit)}** hit vs **{_s(rebuild)}** rebuild + push (medians of "
            f"{_rounds(doc['rounds'])}, alternating): {_met(hit, target)}",
            "`benchmarks/image_job.py`",
            IMAGE_PAGE,
        )
    ]


# -- ci_noop.json --------------------------------------------------------------------------------


def ci_noop(doc: dict[str, Any]) -> str:
    """``ci_noop.json``: a no-op run of the generated GitLab pipeline vs the same jobs bare."""
    noop, bare = doc["noop_s"], doc["bare_jobs_s"]
    lines = [
        "| generated GitLab pipeline of quickstart, gitlab-ci-local | median | runs, s |",
        "|---|---|---|",
        f"| first pipeline (build + push + every stage runs) | {_secs(doc['first_pipeline_s'])} "
        "| one run |",
        f"| no-op pipeline | **{_secs(doc['noop_median_s'])}** | {_raw(noop)} |",
        f"| bare jobs | **{_secs(doc['bare_jobs_median_s'])}** | {_raw(bare)} |",
        "",
        f"lockgate adds **{_secs(doc['lockgate_added_median_s'])}** to a pipeline with nothing "
        f"to do (median no-op minus median bare jobs; {_rounds(doc['rounds'])}, alternating, "
        "after the first pipeline).",
        "",
        *_jobs(doc["job_seconds_last_round"]),
        "",
        f"Runner: {doc['runner']}; registry: {doc['registry']}. "
        + (f"{_tools(doc)}. " if _tools(doc) else "")
        + _where(doc),
    ]
    return "\n".join(lines) + "\n"


def _jobs(jobs: dict[str, dict[str, float]]) -> list[str]:
    """Each job's time in the last round, both pipelines, and where the added time went."""
    noop, bare = jobs["noop"], jobs["bare_jobs"]
    names = [name for name in noop if name != "pipeline" and name in bare]
    lines = [
        "| job, last round (gitlab-ci-local's own `finished in`) | no-op | bare | added |",
        "|---|---|---|---|",
    ]
    for name in [*names, "pipeline"] if "pipeline" in noop else names:
        label = "whole pipeline" if name == "pipeline" else f"`{name}`"
        added = noop[name] - bare[name]
        lines.append(f"| {label} | {_secs(noop[name])} | {_secs(bare[name])} | {_secs(added)} |")
    stages = [name for name in names if name.startswith("lockgate-") and "--" not in name]
    if stages and "pipeline" in noop and "lockgate--image" in noop:
        share = _image_share(jobs)
        extra = [noop[name] - bare[name] for name in stages]
        lines += [
            "",
            f"In the last round the image job made {share:.0%} of the whole pipeline's added "
            f"time; each stage job added {min(extra):.1f}–{max(extra):.1f} s to what its bare "
            "container cost.",
        ]
    return lines


def _image_share(jobs: dict[str, dict[str, float]]) -> float:
    noop, bare = jobs["noop"], jobs["bare_jobs"]
    added = noop["pipeline"] - bare["pipeline"]
    return (noop["lockgate--image"] - bare["lockgate--image"]) / added


def summary_ci_noop(doc: dict[str, Any]) -> list[Row]:
    load = doc.get("load_average_1m")
    if isinstance(load, dict):
        under = f" (load average {load['start']:.0f}–{load['end']:.0f})"
    else:
        under = f" ({_load(doc)})" if _load(doc) else ""
    jobs = doc["job_seconds_last_round"]
    share = _image_share(jobs)
    return [
        (
            "no-op CI pipeline (generated GitLab pipeline, gitlab-ci-local, docker executor, "
            "token-auth registry)",
            "report",
            f"**{doc['noop_median_s']:.0f} s** vs {doc['bare_jobs_median_s']:.0f} s for the same "
            f"jobs running `true`{under}; the image job (its pip build from the checkout) is "
            f"{share:.0%} of the difference in the last round",
            "`benchmarks/ci_noop.py`",
            IMAGE_PAGE,
        )
    ]
