"""Unit tests of the recompute-until-fresh loop (no store: a scripted projection port)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import pytest

from shared.projection import Projection, Refreshed, refresh


class Script:
    """Events per key; ``stale`` answers from a script of rounds (then nothing is stale)."""

    def __init__(self, events: dict[str, list[int]], stale_rounds: Sequence[Sequence[str]] = ()) -> None:
        self.events = events
        self.stale_rounds = [list(r) for r in stale_rounds]
        self.calls: list[tuple[str, object]] = []
        self.written: list[dict[str, int]] = []

    async def load(self, keys: Sequence[str]) -> Mapping[str, Sequence[int]]:
        self.calls.append(("load", list(keys)))
        return {k: self.events[k] for k in keys if k in self.events}

    def compute(self, key: str, facts: Sequence[int]) -> int | None:
        return sum(facts) if facts else None

    async def write(self, projections: Mapping[str, int]) -> None:
        self.calls.append(("write", dict(projections)))
        self.written.append(dict(projections))

    async def stale(self, keys: Sequence[str]) -> Sequence[str]:
        self.calls.append(("stale", list(keys)))
        found = self.stale_rounds.pop(0) if self.stale_rounds else []
        return [k for k in found if k in keys]


def test_script_is_a_projection() -> None:
    port: Projection[str, int, int] = Script({})
    assert port is not None


async def test_one_round_when_nothing_is_stale() -> None:
    port = Script({"a": [1, 2], "b": [5]})
    result = await refresh(port, ["a", "b"], rounds=5)
    assert result == Refreshed({"a": 3, "b": 5}, [], 1)
    assert port.calls == [("load", ["a", "b"]), ("write", {"a": 3, "b": 5}), ("stale", ["a", "b"])]


async def test_stale_keys_are_computed_again_alone() -> None:
    port = Script({"a": [1], "b": [2], "c": [3]}, stale_rounds=[["b"], ["b"], []])
    result = await refresh(port, ["a", "b", "c"], rounds=5)
    assert result == Refreshed({"a": 1, "b": 2, "c": 3}, [], 3)
    assert [c for c in port.calls if c[0] == "load"] == [("load", ["a", "b", "c"]), ("load", ["b"]), ("load", ["b"])]
    assert [c for c in port.calls if c[0] == "stale"] == [
        ("stale", ["a", "b", "c"]),
        ("stale", ["b"]),
        ("stale", ["b"]),
    ]


async def test_a_key_is_computed_from_the_events_loaded_in_its_round() -> None:
    port = Script({"a": [1]}, stale_rounds=[["a"]])
    original = port.load

    async def load_then_grow(keys: Sequence[str]) -> Mapping[str, Sequence[int]]:
        loaded = await original(keys)
        port.events["a"] = [*port.events["a"], 10]
        return loaded

    port.load = load_then_grow  # type: ignore[method-assign]
    result = await refresh(port, ["a"], rounds=3)
    assert port.written == [{"a": 1}, {"a": 11}]
    assert result.projections == {"a": 11}


async def test_bounded_rounds_report_the_keys_still_stale() -> None:
    port = Script({"a": [1], "b": [2]}, stale_rounds=[["a", "b"], ["a"], ["a"]])
    result = await refresh(port, ["a", "b"], rounds=3)
    assert result == Refreshed({"a": 1, "b": 2}, ["a"], 3)
    assert len(port.written) == 3


async def test_no_check_after_the_last_round() -> None:
    port = Script({"a": [1]}, stale_rounds=[["a"], ["a"]])
    result = await refresh(port, ["a"], rounds=2, check_last=False)
    assert result == Refreshed({"a": 1}, [], 2)
    assert [c[0] for c in port.calls] == ["load", "write", "stale", "load", "write"]


async def test_recheck_all_asks_about_every_key_each_round() -> None:
    port = Script({"a": [1], "b": [2]}, stale_rounds=[["a"], ["b"], []])
    result = await refresh(port, ["a", "b"], rounds=4, recheck_all=True)
    assert result == Refreshed({"a": 1, "b": 2}, [], 3)
    assert [c for c in port.calls if c[0] == "stale"] == [("stale", ["a", "b"])] * 3
    assert [c for c in port.calls if c[0] == "load"] == [("load", ["a", "b"]), ("load", ["a"]), ("load", ["b"])]


async def test_keys_without_projection_are_not_written() -> None:
    port = Script({"a": [4]})
    result = await refresh(port, ["a", "missing"], rounds=2)
    assert port.written == [{"a": 4}]
    assert result.projections == {"a": 4}


async def test_duplicate_keys_are_computed_once_and_empty_keys_still_write_once() -> None:
    port = Script({"a": [4]})
    await refresh(port, ["a", "a"], rounds=2)
    assert port.calls[0] == ("load", ["a"])
    empty = Script({})
    assert await refresh(empty, [], rounds=2) == Refreshed({}, [], 1)
    assert empty.calls == [("load", []), ("write", {}), ("stale", [])]


async def test_rounds_must_be_positive() -> None:
    with pytest.raises(ValueError, match="rounds"):
        await refresh(Script({}), ["a"], rounds=0)
