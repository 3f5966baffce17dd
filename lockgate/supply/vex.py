"""OpenVEX statements: which vulnerabilities do not affect a product, and why.

A finding is suppressed by a statement with status ``not_affected`` or ``fixed`` whose
vulnerability name (or alias) equals the finding's id and whose products (package URLs) include
the finding's package; a statement without products covers every package.
"""

from __future__ import annotations

import json
import urllib.parse
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from lockgate.errors import LockgateError
from lockgate.supply.trivy_report import Finding

SUPPRESSING = {"not_affected", "fixed"}


class VexError(LockgateError):
    """A VEX document that cannot be read."""


@dataclass(frozen=True)
class VexStatement:
    names: frozenset[str]
    products: frozenset[str]  # normalized purls, empty = any
    status: str
    justification: str
    source: str

    def covers(self, finding: Finding) -> bool:
        if finding.kind != "vulnerability" or finding.id not in self.names:
            return False
        return not self.products or _purl_key(finding.purl) in self.products


def _purl_key(purl: str) -> str:
    """A purl without qualifiers/subpath, percent-decoded, so spellings compare equal."""
    core = purl.split("?", 1)[0].split("#", 1)[0]
    return urllib.parse.unquote(core)


def load_openvex(path: Path) -> list[VexStatement]:
    try:
        doc = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise VexError(f"{path}: cannot read VEX document: {exc}") from None
    if "openvex" not in str(doc.get("@context", "")):
        raise VexError(f"{path}: not an OpenVEX document (@context must name openvex)")
    statements = []
    for index, st in enumerate(doc.get("statements") or []):
        vuln = st.get("vulnerability") or {}
        names = {vuln.get("name", ""), *vuln.get("aliases", [])} - {""}
        if not names or "status" not in st:
            raise VexError(f"{path}: statements[{index}] needs vulnerability.name and status")
        products = {_purl_key(p.get("@id", "")) for p in st.get("products") or []} - {""}
        statements.append(
            VexStatement(
                frozenset(names),
                frozenset(products),
                st["status"],
                st.get("justification") or st.get("impact_statement") or "",
                path.name,
            )
        )
    return statements


def vex_reason(statements: Iterable[VexStatement], finding: Finding) -> str | None:
    """Why VEX suppresses ``finding``, or None when no statement does."""
    for st in statements:
        if st.status in SUPPRESSING and st.covers(finding):
            why = f" ({st.justification})" if st.justification else ""
            return f"VEX {st.status}{why} in {st.source}"
    return None
