"""Server-side HTML of the release page: one string per request, styles inline, no script
needed (the page refreshes itself with a meta tag unless it shows a past time)."""

from __future__ import annotations

from collections.abc import Sequence
from html import escape
from typing import Any
from urllib.parse import quote

from lockgate.delivery.ledger.entry import Entry
from lockgate.ui.charts import lineage_graph, step_chart
from lockgate.ui.overview import Overview

STYLE = (
    "body{font:14px system-ui,sans-serif;margin:16px;color:#222}"
    "h2{margin-top:24px;border-bottom:1px solid #ccc}"
    ".envs{display:flex;flex-wrap:wrap;gap:12px}"
    ".env{border:1px solid #999;border-radius:6px;padding:8px 12px;min-width:240px}"
    ".env h3{margin:0 0 4px}code{font-size:12px}"
    "table{border-collapse:collapse}td,th{padding:2px 8px;text-align:left;font-size:12px}"
    ".ok{color:#2e7d32}.bad{color:#c62828}.steps{display:flex;flex-wrap:wrap;gap:8px}"
)


def _short(digest: str | None) -> str:
    return (digest or "-").removeprefix("sha256:")[:12]


def _env_card(row: Any) -> str:
    approvers = ", ".join(f"{escape(who)} ({escape(when)})" for who, when in row.approvers) or "-"
    health = {True: "healthy", False: "unhealthy", None: "health not checked"}[row.healthy]
    link = f'<a href="/lineage?digest={quote(row.digest)}">' if row.digest else "<span>"
    return (
        f'<div class="env" data-env="{escape(row.name)}"><h3>{escape(row.name)}</h3>'
        f"<div>digest {link}<code>{escape(_short(row.digest))}</code>"
        f"{'</a>' if row.digest else '</span>'}</div>"
        f"<div>model {escape(row.model or '-')}</div>"
        f"<div>deployed by {escape(row.deployed_by or '-')} "
        f"at {escape(row.deployed_at or '-')}</div>"
        f"<div>approved by {approvers}</div><div>{health}</div></div>"
    )


def _rollout(record: dict[str, Any]) -> str:
    by_step: dict[int, list[dict[str, Any]]] = {}
    for m in record.get("measurements") or []:
        by_step.setdefault(int(m.get("step", 0)), []).append(m)
    charts = "".join(
        step_chart(step, int(ms[-1].get("weight", 0)), ms) for step, ms in sorted(by_step.items())
    )
    canary = (record.get("canary") or {}).get("ref", "-")
    stable = (record.get("stable") or {}).get("ref", "-")
    return (
        f'<div class="rollout" data-env="{escape(str(record.get("env")))}">'
        f"<h3>{escape(str(record.get('env')))}: {escape(str(record.get('phase')))} — "
        f"candidate {escape(canary)} at {int(record.get('weight', 0))}%, stable {escape(stable)}"
        f"</h3><p>{escape(str(record.get('reason') or ''))}</p>"
        f'<div class="steps">{charts or "no analysis windows yet"}</div></div>'
    )


def _timeline(entries: Sequence[Entry]) -> str:
    rows = "".join(
        f"<tr><td>{e.seq}</td><td>{escape(e.time)}</td><td>{escape(e.action)}</td>"
        f"<td>{escape(e.environment or '-')}</td><td><code>{escape(_short(e.digest))}</code></td>"
        f"<td>{escape(e.actor)}</td><td>{escape(e.reason or '')}</td></tr>"
        for e in reversed(entries)
    )
    return (
        f'<table class="timeline"><tr><th>#</th><th>time</th><th>action</th><th>env</th>'
        f"<th>digest</th><th>actor</th><th>reason</th></tr>{rows}</table>"
    )


def render_overview(view: Overview) -> str:
    when = f"as of {escape(view.at)}" if view.at else "now"
    refresh = "" if view.at else '<meta http-equiv="refresh" content="5">'
    audit = view.audit
    audit_html = (
        "not checked"
        if audit is None
        else (
            f'<span class="ok">intact: {audit.entries} entries</span>'
            if audit.ok
            else f'<span class="bad">broken at entry {audit.first_bad_seq}: '
            f"{escape('; '.join(audit.problems))}</span>"
        )
    )
    pending = "".join(
        f'<li data-env="{escape(p.environment)}">{escape(p.environment)}: '
        f"<code>{escape(_short(p.digest))}</code> begun by {escape(p.begun_by)} at "
        f"{escape(p.since)}; approvals so far: {escape(', '.join(p.approvals) or 'none')}</li>"
        for p in view.pending
    )
    return (
        f'<!doctype html><html><head><meta charset="utf-8">{refresh}'
        f"<title>lockgate releases</title><style>{STYLE}</style></head><body>"
        f"<h1>Releases {when} (ledger up to entry {view.upto_seq})</h1>"
        '<form method="get" action="/">time travel: <input name="at" '
        f'value="{escape(view.at or "")}" placeholder="2026-11-20T10:00Z"> <button>go</button>'
        ' <a href="/">now</a></form>'
        f"<p>Ledger audit: {audit_html}</p>"
        f'<h2>Environments</h2><div class="envs">'
        f"{''.join(_env_card(r) for r in view.environments) or 'no releases yet'}</div>"
        f"<h2>Pending approvals</h2><ul>{pending or '<li>none</li>'}</ul>"
        f"<h2>Rollouts</h2>{''.join(_rollout(r) for r in view.rollouts) or 'none'}"
        f"<h2>History</h2>{_timeline(view.timeline)}</body></html>"
    )


def render_lineage(digest: str, entries: Sequence[Entry], found: Any) -> str:
    mine = [e for e in entries if e.digest == digest]
    nodes: list[tuple[str, str, str]] = []
    if found is not None:
        if found.model_source:
            nodes.append(("data / artifacts", found.model_source, "ok"))
        if found.run_id:
            nodes.append(("run", found.run_id, "ok"))
        nodes.append(("model", found.model or "unknown", "ok" if found.model else "broken"))
    nodes.append(("image", found.image if found and found.image else digest, "ok"))
    nodes.append(("scans · signatures", "verified at promotion; not re-read here", "unknown"))
    for e in mine:
        nodes.append((e.action, f"{e.environment or '-'} by {e.actor}", "ok"))
    links = "".join(
        f'<li class="{"bad" if link.status == "broken" else "ok"}">{escape(link.source)} → '
        f"{escape(link.target)}: {escape(link.detail)}</li>"
        for link in (found.links if found is not None else [])
    )
    return (
        f'<!doctype html><html><head><meta charset="utf-8"><title>lineage {escape(digest)}'
        f'</title><style>{STYLE}</style></head><body><p><a href="/">releases</a></p>'
        f"<h1>Lineage of <code>{escape(digest)}</code></h1>{lineage_graph(nodes)}"
        f"<ul>{links}</ul>{_timeline(mine)}</body></html>"
    )
