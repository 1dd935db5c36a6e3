"""The container's health probe: the hub is alive (``/livez``) and ready (``/readyz``).

Exit 0 when both answer 200, else 1 with one line saying which did not (the
``HEALTHCHECK`` of the Dockerfile). The port is ``ONEMATTER__HUB__PORT`` (8000);
``ONEMATTER_HEALTHCHECK_URL`` names another base URL.
"""

from __future__ import annotations

import os
import sys
import urllib.error
import urllib.request

TIMEOUT_S = 3.0


def check(base: str) -> str | None:
    """None if both probes answer 200, else what failed."""
    for path in ("/livez", "/readyz"):
        try:
            with urllib.request.urlopen(base + path, timeout=TIMEOUT_S) as response:
                if response.status != 200:
                    return f"{path}: HTTP {response.status}"
        except urllib.error.HTTPError as exc:
            return f"{path}: HTTP {exc.code}"
        except (OSError, ValueError) as exc:
            return f"{path}: {type(exc).__name__}"
    return None


def main() -> int:
    port = os.environ.get("ONEMATTER__HUB__PORT", "8000")
    base = os.environ.get("ONEMATTER_HEALTHCHECK_URL") or f"http://127.0.0.1:{port}"
    problem = check(base.rstrip("/"))
    if problem is not None:
        print(f"unhealthy: {problem}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
