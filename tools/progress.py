"""A small progress bar on standard error (redrawn in place on a terminal, a line per 10 % otherwise)."""

from __future__ import annotations

import sys
import time
from typing import TextIO


class Progress:
    """``update(n)`` as work is done, ``close()`` at the end; ``total`` None for open-ended work."""

    def __init__(self, label: str, total: int | None = None, out: TextIO | None = None, enabled: bool = True) -> None:
        self.label = label
        self.total = total
        self.done = 0
        self.out = out or sys.stderr
        self.enabled = enabled
        self.tty = bool(getattr(self.out, "isatty", lambda: False)())
        self.started = time.monotonic()
        self._drawn = 0.0
        self._last_decile = -1

    def update(self, n: int = 1, note: str = "") -> None:
        self.done += n
        if not self.enabled:
            return
        now = time.monotonic()
        if self.tty:
            if now - self._drawn >= 0.1:
                self._drawn = now
                self.out.write("\r" + self.render(note))
                self.out.flush()
        elif self.total:
            decile = self.done * 10 // self.total
            if decile > self._last_decile:
                self._last_decile = decile
                self.out.write(self.render(note) + "\n")

    def render(self, note: str = "") -> str:
        elapsed = max(time.monotonic() - self.started, 1e-9)
        rate = self.done / elapsed
        if self.total:
            ratio = min(self.done / self.total, 1.0)
            filled = int(ratio * 30)
            bar = "#" * filled + "-" * (30 - filled)
            text = f"{self.label} [{bar}] {self.done}/{self.total} {ratio:4.0%} {rate:7.1f}/s"
        else:
            text = f"{self.label} {self.done} {rate:7.1f}/s"
        return f"{text} {note}".rstrip()

    def close(self, note: str = "") -> None:
        if not self.enabled:
            return
        if self.tty:
            self.out.write("\r" + self.render(note) + "\n")
        elif not self.total or self._last_decile < 10:
            self.out.write(self.render(note) + "\n")
        self.out.flush()
