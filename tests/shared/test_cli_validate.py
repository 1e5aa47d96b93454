"""`canopee events validate FILE`: one verdict line per input line, exit codes 0/1/2."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from tests.support.samples import sample


def run(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "tools.cli", *args], input=stdin, capture_output=True, text=True, timeout=60
    )


def test_all_valid_gives_ok_lines_and_exit_0(tmp_path: Path) -> None:
    path = tmp_path / "events.jsonl"
    path.write_text("\n".join(json.dumps(sample(k)) for k in ("request.opened", "repair.done")) + "\n")
    result = run("events", "validate", str(path))
    assert result.returncode == 0, result.stderr
    assert result.stdout == "1\tok\n2\tok\n"


def test_mixed_file_names_the_field_at_fault_keeps_order_and_skips_blank_lines(tmp_path: Path) -> None:
    bad_category = sample("request.opened", category="plumbing")
    lines = [
        json.dumps(sample("request.opened")),
        "",
        "not json at all",
        "[1, 2]",
        json.dumps(bad_category),
        "   ",
        json.dumps(sample("tenant.erased")),
        '"a string"',
    ]
    path = tmp_path / "mixed.jsonl"
    path.write_text("\n".join(lines) + "\n")
    result = run("events", "validate", str(path))
    assert result.returncode == 1
    out = result.stdout.splitlines()
    assert [line.split("\t")[0] for line in out] == ["1", "3", "4", "5", "7", "8"]
    assert out[0] == "1\tok"
    assert out[1].startswith("3\tinvalid\tnot JSON")
    assert out[2].startswith("4\tinvalid\tnot a JSON object")
    assert out[3].startswith("5\tinvalid\tdata.category:")
    assert out[4] == "7\tok"
    assert out[5].startswith("8\tinvalid\tnot a JSON object")
    assert "Traceback" not in result.stderr


def test_stdin_with_dash() -> None:
    result = run("events", "validate", "-", stdin=json.dumps(sample("repair.done")) + "\n")
    assert result.returncode == 0
    assert result.stdout == "1\tok\n"


def test_unreadable_file_exits_2(tmp_path: Path) -> None:
    result = run("events", "validate", str(tmp_path / "missing.jsonl"))
    assert result.returncode == 2
    assert "cannot read" in result.stderr
    binary = tmp_path / "binary.jsonl"
    binary.write_bytes(b"\xff\xfe\x00garbage")
    assert run("events", "validate", str(binary)).returncode == 2


def test_a_naive_time_is_invalid_and_named() -> None:
    event = sample("request.opened")
    event["time"] = "2026-11-27T08:14:05"
    result = run("events", "validate", "-", stdin=json.dumps(event))
    assert result.returncode == 1
    assert result.stdout.startswith("1\tinvalid\ttime:")
