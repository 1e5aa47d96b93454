"""A private FerretDB process (the same binary `make infra-up` builds), for tests that stop and
restart the store: started and stopped by its PID."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
BINARY = Path(os.environ.get("CANOPEE_FERRETDB_BIN", ROOT / ".local" / "bin" / "ferretdb"))


class FerretDB:
    def __init__(self, port: int, directory: Path) -> None:
        self.port = port
        self.directory = directory
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"mongodb://127.0.0.1:{self.port}"

    def start(self, timeout: float = 20.0) -> None:
        if not BINARY.exists():
            raise RuntimeError(f"{BINARY} missing: run `make infra-up` first")
        log = (self.directory / "ferretdb.log").open("ab")
        self.process = subprocess.Popen(
            [str(BINARY), "-listen", f"127.0.0.1:{self.port}", "-dir", str(self.directory / "data")],
            stdout=log,
            stderr=log,
            stdin=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.5):
                    return
            except OSError:
                if self.process.poll() is not None:
                    raise RuntimeError("ferretdb exited during start-up") from None
                time.sleep(0.1)
        raise TimeoutError("ferretdb did not answer")

    def stop(self) -> None:
        if self.process is None:
            return
        os.kill(self.process.pid, signal.SIGTERM)
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.kill(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=10)
        self.process = None
