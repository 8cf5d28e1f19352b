"""`python -m bot.healthcheck`: exit 0 if this process's /healthz answers 200, else 1.

The container's HEALTHCHECK (see the Dockerfile): standard library only, and it asks the same
address the service listens on, the webhook server in webhook mode, COREFLECT_HTTP_PORT otherwise.
"""

from __future__ import annotations

import os
import sys
import urllib.request


def address(env: dict[str, str] | None = None) -> str | None:
    source = os.environ if env is None else env
    if (source.get("COREFLECT_WEBHOOK_URL") or "").strip():
        port = (source.get("COREFLECT_WEBHOOK_PORT") or "8080").strip()
    else:
        port = (source.get("COREFLECT_HTTP_PORT") or "").strip()
    if not port:
        return None
    return f"http://127.0.0.1:{port}/healthz"


def main() -> int:
    url = address()
    if url is None:
        print("no COREFLECT_HTTP_PORT set: nothing to check", file=sys.stderr)
        return 1
    try:
        with urllib.request.urlopen(url, timeout=4) as response:
            return 0 if response.status == 200 else 1
    except OSError as exc:
        print(f"unhealthy: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
