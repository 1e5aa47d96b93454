"""The image's HEALTHCHECK: GET /health/ready of the service this container runs (standard library only).

The service is read from the container's command (``canopee run SERVICE`` under tini, PID 1), its
port from ``CANOPEE_<SERVICE>_PORT`` or the service's default. Exit 0 when it answers 200, 1
otherwise; a container running another command (``topics create``, ``simulate``) is healthy while
it runs.
"""

import os
import sys
import urllib.error
import urllib.request

DEFAULT_PORTS = {"gateway": 8000, "ticketing": 8001, "notifications": 8002, "feedback": 8003, "analytics": 8004}


def service_of(cmdline: list[str]) -> str | None:
    for i, word in enumerate(cmdline[:-1]):
        if word == "run" and cmdline[i + 1] in DEFAULT_PORTS:
            return cmdline[i + 1]
    return None


def main() -> int:
    with open("/proc/1/cmdline", "rb") as f:
        cmdline = [w.decode(errors="replace") for w in f.read().split(b"\0") if w]
    service = service_of(cmdline)
    if service is None:
        return 0
    port = os.environ.get(f"CANOPEE_{service.upper()}_PORT") or str(DEFAULT_PORTS[service])
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/health/ready", timeout=4) as response:
            return 0 if response.status == 200 else 1
    except (OSError, urllib.error.URLError) as exc:
        print(f"{service} not ready on port {port}: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
