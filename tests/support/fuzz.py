"""The fuzzers' size and the Schemathesis runs shared by the HTTP fuzz tests.

One setting, ``CANOPEE_FUZZ_CASES``, sizes every fuzzer: for an HTTP API, the generated requests it
receives in total, spread evenly over its operations and the identities it is called with (an even
share of what is left to each operation in turn, ``fuzz``); for the Kafka
intake, the hostile records sent on each topic a consuming service reads. Unset, each test keeps its
small default (``make test``); ``make chaos`` sets 10,000. Hypothesis runs with no deadline and no
example database, so that a large run is neither cut short by a slow answer nor replays another's
examples. ``CANOPEE_FUZZ_REPORT`` (a file) receives one JSON line of figures per run.
"""

from __future__ import annotations

import json
import math
import os
import time
from collections import Counter
from pathlib import Path
from typing import Any

import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import FlakyStrategyDefinition
from schemathesis.checks import not_a_server_error

ENV = "CANOPEE_FUZZ_CASES"
REPORT_ENV = "CANOPEE_FUZZ_REPORT"
#: scenarios of one Hypothesis run of the stateful fuzzer (``fuzz_stateful``)
STATEFUL_CHUNK = 40


def cases(default: int) -> int:
    """The fuzz size: ``CANOPEE_FUZZ_CASES`` when set, else ``default``."""
    value = int(os.environ.get(ENV) or default)
    if value < 1:
        raise ValueError(f"{ENV} must be at least 1, not {value}")
    return value


def per_operation(total: int, operations: int, identities: int = 1) -> int:
    """Examples per operation and identity so that ``total`` requests are spread over all of them."""
    return max(1, math.ceil(total / max(1, operations * identities)))


def hypothesis_settings(max_examples: int, **extra: Any) -> settings:
    return settings(
        max_examples=max_examples,
        deadline=None,
        database=None,
        suppress_health_check=list(HealthCheck),
        **extra,
    )


def report(name: str, **figures: Any) -> None:
    """Append the figures of one run to ``CANOPEE_FUZZ_REPORT`` (when set) and print them."""
    line = json.dumps({"run": name, **figures}, sort_keys=True)
    print(f"fuzz: {line}")
    target = os.environ.get(REPORT_ENV)
    if target:
        with Path(target).open("a", encoding="utf-8") as out:
            out.write(line + "\n")


def operations_of(spec: dict[str, Any]) -> int:
    return sum(1 for item in spec["paths"].values() for method in item if method != "parameters")


def _inputs(operation: dict[str, Any]) -> int:
    return len(operation.get("parameters", [])) + ("requestBody" in operation)


def fuzz(base_url: str, spec: dict[str, Any], headers: dict[str, str], total: int) -> Counter[int]:
    """``total`` generated cases spread over the operations of ``spec`` against ``base_url``, each
    answer checked not to be a 5xx; return the answers' status codes counted.

    Operations go from the fewest inputs to the most, each given an even share of what is left:
    one whose inputs run out early (``GET /metrics`` has a single distinct request) hands the rest
    of its share to the following ones, so that the calls made come near ``total``."""
    schema = schemathesis.openapi.from_dict(spec)
    operations = sorted(
        (result.ok() for result in schema.get_all_operations()),  # type: ignore[union-attr]
        key=lambda op: _inputs(op.definition.raw),
    )
    statuses: Counter[int] = Counter()
    for n, operation in enumerate(operations):
        examples = per_operation(total - sum(statuses.values()), len(operations) - n)

        @hypothesis_settings(examples)
        @given(case=operation.as_strategy())
        def check(case: Any) -> None:
            response = case.call(base_url=base_url, headers=headers)
            statuses[response.status_code] += 1
            assert response.status_code < 500, (case.method, case.formatted_path, response.status_code, response.text)
            case.validate_response(response, checks=[not_a_server_error])

        check()
    return statuses


def fuzz_stateful(base_url: str, spec: dict[str, Any], headers: dict[str, str], scenarios: int) -> dict[str, Any]:
    """Schemathesis' state machine over ``spec``'s links (declared, or inferred by Schemathesis from
    the response schemas and path parameters): ``scenarios`` sequences of calls where a later call
    takes its path parameters from an earlier answer (a campaign created, then read, its results
    asked, an action on it). Every answer is checked not to be a 5xx. Return the calls made, how
    many followed a link with a value taken from an earlier answer, and the status codes."""
    schema = schemathesis.openapi.from_dict(spec)
    base = schema.as_state_machine()
    figures: dict[str, Any] = {"calls": 0, "linked": 0, "statuses": Counter(), "scenarios": 0, "diverged": 0}

    class Machine(base):  # type: ignore[misc,valid-type]
        def step(self, input: Any) -> Any:
            if input.transition is not None and input.applied_parameters:
                figures["linked"] += 1
            return super().step(input)

        def get_call_kwargs(self, case: Any) -> dict[str, Any]:
            return {"base_url": base_url, "headers": headers}

        def after_call(self, response: Any, case: Any) -> None:
            figures["calls"] += 1
            figures["statuses"][response.status_code] += 1
            assert response.status_code < 500, (case.method, case.formatted_path, response.status_code, response.text)

        def validate_response(self, response: Any, case: Any, *args: Any, **kwargs: Any) -> None:
            case.validate_response(response, checks=[not_a_server_error])

    # Runs of at most STATEFUL_CHUNK scenarios: the first derandomized (the same scenarios every
    # time: a random draw can miss every flow in 20 of them; Hypothesis seeds it from the source of
    # ``Machine``, so an edit of the class draws other scenarios), the next ones at random. The
    # links' values come from the service's answers, which depend on what earlier scenarios left
    # in its store: a long run ends when Hypothesis sees a prefix it generated before take
    # another turn (``FlakyStrategyDefinition``). That ends the run, not the fuzzing, unless a
    # call of it had a 5xx (counted before ``after_call`` fails it): then the test fails.
    runs = 0
    while figures["scenarios"] < scenarios and runs < 3 * (scenarios // STATEFUL_CHUNK + 1):
        count = min(STATEFUL_CHUNK, scenarios - figures["scenarios"])
        runs += 1
        try:
            Machine.run(settings=hypothesis_settings(count, derandomize=runs == 1))
        except FlakyStrategyDefinition:
            if any(code >= 500 for code in figures["statuses"]):
                raise
            figures["diverged"] += 1  # its scenarios are not counted: another run makes up for them
        else:
            figures["scenarios"] += count
    return figures


def timed_report(name: str, started: float, statuses: Counter[int], **figures: Any) -> None:
    report(
        name,
        calls=sum(statuses.values()),
        seconds=round(time.monotonic() - started, 1),
        server_errors=sum(n for code, n in statuses.items() if code >= 500),
        statuses={str(code): n for code, n in sorted(statuses.items())},
        **figures,
    )
