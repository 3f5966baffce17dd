"""``python3 -m lockgate.serving.probe [URL]``: the image's HEALTHCHECK (no curl in slim bases)."""

from __future__ import annotations

import sys
import urllib.request


def main(argv: list[str]) -> int:
    url = argv[0] if argv else "http://127.0.0.1:8080/ping"
    try:
        with urllib.request.urlopen(url, timeout=3) as response:
            return 0 if response.status == 200 else 1
    except OSError:
        return 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
