"""``lockgate ui [--host H] [--port P]``: serve the read-only release page.

Bound to 127.0.0.1 unless ``--host`` says otherwise. It only reads the ledger and the rollout
records; approving, promoting and aborting stay on the CLI, where the identity is proven.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from lockgate.commands._options import add_delivery_argument, add_ledger_argument
from lockgate.commands._release import add_release_arguments, open_store

if TYPE_CHECKING:
    from lockgate.delivery.ledger.store import LedgerStore


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (default: loopback)")
    parser.add_argument("--port", type=int, default=8765, help="port (0 picks a free one)")
    parser.add_argument(
        "--no-audit", action="store_true", help="do not verify the ledger's chain per request"
    )
    add_ledger_argument(parser)
    add_delivery_argument(parser)
    add_release_arguments(parser)


def run(args: argparse.Namespace) -> int:
    import json

    from lockgate.delivery.environment import state_folder
    from lockgate.delivery.ledger.audit import IncrementalAudit
    from lockgate.ui.server import ReleasePage, serve

    if args.ledger is not None:
        from lockgate.delivery.ledger.ledger import FileLedger

        store: LedgerStore = FileLedger(args.ledger)
    else:
        from lockgate.commands._project import load_project

        store = open_store(load_project(args), args, sync=False)
    folder = Path(store.folder)
    audit = None if args.no_audit else IncrementalAudit(folder)
    rollouts = state_folder(args.delivery)
    page = ReleasePage(folder, rollouts, audit)
    server = serve(page, args.host, args.port)
    page.warm()  # the whole ledger is read and audited once, before the URL is announced
    host, port = str(server.server_address[0]), int(server.server_address[1])
    url = f"http://{host}:{port}/"
    if args.json:
        print(json.dumps({"url": url, "read_only": True}), flush=True)
    else:
        print(f"lockgate ui: serving {url} (read-only; Ctrl-C stops)", file=sys.stderr, flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
    return 0
