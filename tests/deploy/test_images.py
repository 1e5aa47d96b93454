"""What the container images rely on, checked without building them (`make compose-test` builds and
runs them): the split requirements, secrets from files, the image's healthcheck script, the
topic-provisioning step waiting for Kafka, and docker-compose.yml against the Dockerfile."""

from __future__ import annotations

import importlib.util
import re
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from pydantic import SecretStr

from services.analytics.settings import AnalyticsSettings
from services.feedback.settings import FeedbackSettings
from services.gateway.settings import GatewaySettings
from services.notifications.settings import NotificationsSettings
from services.ticketing.settings import TicketingSettings
from shared.settings import CommonSettings, env_name, load_settings
from tests.conftest import free_port

ROOT = Path(__file__).resolve().parents[2]
SETTINGS = (GatewaySettings, TicketingSettings, NotificationsSettings, FeedbackSettings, AnalyticsSettings)
PIN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*==[A-Za-z0-9.+!-]+$")


def _pins(name: str) -> dict[str, str]:
    pins = {}
    for line in (ROOT / name).read_text().splitlines():
        if not line.strip() or line.startswith("#") or line == "-r requirements.txt":
            continue
        assert PIN.match(line), f"{name}: not an exact pin: {line!r}"
        package, version = line.split("==")
        pins[re.sub(r"[-_.]+", "-", package).lower()] = version
    return pins


def test_requirements_are_split_into_runtime_and_dev_exact_pins() -> None:
    runtime, dev = _pins("requirements.txt"), _pins("requirements-dev.txt")
    assert "-r requirements.txt" in (ROOT / "requirements-dev.txt").read_text().splitlines()
    assert not set(runtime) & set(dev), "a package pinned in both files"
    # every direct runtime dependency is in the runtime file at the pyproject's version; no dev tool is
    pyproject = (ROOT / "pyproject.toml").read_text()
    direct = re.search(r"^dependencies = \[(.*?)\]", pyproject, re.S | re.M)
    assert direct
    for spec in re.findall(r'"([^"]+)"', direct.group(1)):
        package, version = re.sub(r"\[.*\]", "", spec).split("==")
        assert runtime[re.sub(r"[-_.]+", "-", package).lower()] == version, spec
    for tool in ("mypy", "ruff", "pytest", "schemathesis", "hypothesis", "aiosmtpd"):
        assert tool in dev and tool not in runtime


@pytest.mark.parametrize("cls", SETTINGS, ids=lambda c: c.service)
def test_every_secret_of_every_service_can_come_from_a_file(
    cls: type[CommonSettings], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    secrets = [
        f
        for f, info in cls.model_fields.items()
        if SecretStr in (info.annotation, *getattr(info.annotation, "__args__", ()))
    ]
    assert "admin_token" in secrets
    values: dict[str, str] = {}
    for i, field in enumerate([*secrets, "mongo_url"]):
        value = (
            "mongodb://user:pw@store:27017/?authSource=admin"
            if field == "mongo_url"
            else f"secret-from-a-file-{i:02d}-" + "x" * 20
        )
        (tmp_path / field).write_text(value + "\n")
        monkeypatch.delenv(env_name(cls, field), raising=False)  # e.g. CANOPEE_MONGO_URL of the test run
        monkeypatch.setenv(f"{env_name(cls, field)}_FILE", str(tmp_path / field))
        values[field] = value
    monkeypatch.setenv("CANOPEE_KAFKA_SASL_USERNAME", "svc")  # the SASL password needs a user, if SASL were on
    settings = load_settings(cls)
    for field, value in values.items():
        got = getattr(settings, field)
        assert (got.get_secret_value() if isinstance(got, SecretStr) else got) == value, field


def _healthcheck() -> Any:
    spec = importlib.util.spec_from_file_location("canopee_healthcheck", ROOT / "deploy/docker/healthcheck.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_image_healthcheck_finds_the_service_of_the_container() -> None:
    health = _healthcheck()
    assert health.service_of(["/usr/bin/tini", "--", "canopee", "run", "feedback"]) == "feedback"
    assert health.service_of(["/usr/bin/tini", "--", "canopee", "topics", "create", "--wait", "120"]) is None
    assert health.service_of(["canopee", "run"]) is None
    assert set(health.DEFAULT_PORTS) == {c.service for c in SETTINGS}
    for cls in SETTINGS:
        assert health.DEFAULT_PORTS[cls.service] == cls.default_port


def test_topics_create_waits_for_kafka_then_gives_up() -> None:
    port = free_port()  # nothing listens there
    env = {"PATH": "/usr/bin:/bin", "PYTHONPATH": str(ROOT), "CANOPEE_KAFKA_BOOTSTRAP": f"127.0.0.1:{port}"}
    started = time.monotonic()
    done = subprocess.run(
        [sys.executable, "-m", "tools.cli", "topics", "create", "--wait", "3"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        cwd=ROOT,
    )
    assert done.returncode != 0
    assert "Kafka not reachable yet" in done.stderr
    assert "KafkaConnectionError" in done.stderr
    assert time.monotonic() - started >= 3


def test_compose_runs_what_the_image_provides() -> None:
    compose = (ROOT / "docker-compose.yml").read_text()
    dockerfile = (ROOT / "deploy/docker/Dockerfile").read_text()
    offices = "/etc/canopee/offices/offices.toml"
    assert f"CANOPEE_OFFICES_FILE={offices}" in dockerfile and f"CANOPEE_OFFICES_FILE: {offices}" in compose
    assert "COPY deploy/offices.demo.toml " + offices in dockerfile
    assert "USER 10001:10001" in dockerfile and "HEALTHCHECK" in dockerfile
    assert 'ENTRYPOINT ["/usr/bin/tini", "--", "canopee"]' in dockerfile
    assert compose.count("canopee-healthcheck") == 1 and compose.count("healthcheck: *health") == 4
    assert 'command: ["topics", "create", "--wait"' in compose
    # runtime pins only: the dev file never reaches the services' image
    assert "requirements-dev" not in dockerfile
    for service in ("gateway", "ticketing", "notifications", "feedback", "analytics"):
        assert f'command: ["run", "{service}"]' in compose
        assert f"CANOPEE_{service.upper()}_HOST_PORT" in compose


def test_the_cli_starts_without_the_development_tools() -> None:
    """The image holds the runtime pins only: ``canopee`` must not import a development tool
    (aiosmtpd, pytest, hypothesis, schemathesis) at start."""
    blocked = ("aiosmtpd", "pytest", "hypothesis", "schemathesis")
    code = (
        "import sys\n"
        f"for name in {blocked!r}: sys.modules[name] = None\n"
        "from tools.cli import main\n"
        "sys.exit(main(['--help']))\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
