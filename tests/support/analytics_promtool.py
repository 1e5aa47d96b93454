"""``promtool`` from tests: check a /metrics exposition, run rule unit tests. Any service's tests
may reuse ``check_metrics`` on their own ``/metrics`` text."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path


def promtool() -> str:
    path = shutil.which("promtool")
    if path is None:
        raise AssertionError("promtool is missing: run `bash deploy/local/tools.sh` (Debian package prometheus)")
    return path


def check_metrics(exposition: str) -> str:
    """Run ``promtool check metrics`` on an exposition; raise with promtool's findings if any."""
    run = subprocess.run(
        [promtool(), "check", "metrics"], input=exposition, capture_output=True, text=True, timeout=30, check=False
    )
    if run.returncode != 0:
        raise AssertionError(f"promtool check metrics failed:\n{run.stdout}{run.stderr}")
    return run.stdout + run.stderr


def run_rule_tests(*files: Path) -> str:
    """Run ``promtool test rules`` on rule test files; raise with its output on failure."""
    run = subprocess.run(
        [promtool(), "test", "rules", *map(str, files)], capture_output=True, text=True, timeout=60, check=False
    )
    if run.returncode != 0:
        raise AssertionError(f"promtool test rules failed:\n{run.stdout}{run.stderr}")
    return run.stdout


def check_config(path: Path) -> str:
    run = subprocess.run(
        [promtool(), "check", "config", "--syntax-only", str(path)],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    if run.returncode != 0:
        raise AssertionError(f"promtool check config failed:\n{run.stdout}{run.stderr}")
    return run.stdout
