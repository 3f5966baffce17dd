"""``uses: lockgate/ingest``: bring data in from files, object stores or PostgreSQL.

Writes Parquet parts under ``data/`` and ``manifest.json`` to the stage's output, plus a one-line
``metrics.json`` (rows, batches). See docs/ingest.md.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Callable

from lockgate.stages.context import StageContext


def main(ctx: StageContext) -> int:
    from lockgate.contract import (
        ENV_ENCRYPTION_CA,
        ENV_ENCRYPTION_CREDENTIALS,
        ENV_ENCRYPTION_KEY,
        ENV_ENCRYPTION_MINTED,
    )
    from lockgate.engine.sealing import Sealer
    from lockgate.stages.ingest.config import parse_ingest_config
    from lockgate.stages.ingest.run import Ingest

    cfg = parse_ingest_config(ctx.with_)
    secret = _secret_reader(ctx)
    key = os.environ.get(ENV_ENCRYPTION_KEY)  # lockgate.yaml's `encryption.key`, never the key
    creds = json.loads(os.environ.get(ENV_ENCRYPTION_CREDENTIALS) or "{}")
    ca = os.environ.get(ENV_ENCRYPTION_CA) or None  # `encryption.ca_file`, a project path
    minted = os.environ.get(ENV_ENCRYPTION_MINTED) == "1"  # creds name the minted files
    sealer = (
        Sealer.resolve(
            key, secret, ctx.resolve, store=ctx.state, credentials=creds, ca_file=ca, minted=minted
        )
        if key
        else None
    )
    ctx.out.mkdir(parents=True, exist_ok=True)
    ingest = Ingest(
        config=cfg,
        resolve=ctx.resolve,
        secret=secret,
        out=ctx.out,
        state_folder=ctx.state / "ingest" / (ctx.stage or "ingest"),
        sealer=sealer,
    )
    journal, summary = ingest.run()
    total = sum(p.rows for p in journal.parts)
    metrics = {"rows": total, "rows_this_run": summary.rows_read, "batches": summary.batches}
    (ctx.out / "metrics.json").write_text(json.dumps(metrics, indent=2) + "\n")
    print(
        f"ingest: {summary.rows_read} rows in {summary.batches} batch(es); dataset {total} rows "
        f"in {len(journal.parts)} part(s)",
        file=sys.stderr,
    )
    return 0


def _secret_reader(ctx: StageContext) -> Callable[[str], str]:
    from lockgate.stages.ingest.postgres import SourceError

    def read(name: str) -> str:
        try:
            return ctx.secret(name)
        except OSError:
            raise SourceError(
                f"secret {name!r} is not available to this stage: declare it under top-level "
                "`secrets:` and list it in the stage's `secrets:`"
            ) from None

    return read
