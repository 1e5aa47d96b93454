"""``make up`` on a clean clone, as a new user runs it: the printed admin token logs in to the dashboard.

The repository is cloned at HEAD (what is committed) into a temporary folder; ``make up`` runs there
on private ports (every port is a free one: it runs beside another ``make up`` and beside the test
infrastructure), its own Kafka and store, its own data. The test reads the admin token ``make up``
printed, logs in to the analytics dashboard with it as a browser does (the login form, then the
dashboard page and the indicators with the session cookie), waits for an SMS in the demo's outbox
and for the demo tenants' first answer to a survey, then always runs ``make down`` and resets the
clone's infrastructure.

What would make it slow and is not under test is reused from this checkout: the third-party Python
packages (the clone's virtual environment reads this one's site-packages; the clone's own code is
on its path and ``canopee`` is its script) and the fetched Kafka jars and built FerretDB runner.
``CANOPEE_TEST_UP_INSTALL=1`` runs the clone's ``make install`` instead (a new virtual environment,
packages from pip's cache or the index).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import sysconfig
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest

from tests.conftest import free_port
from tests.e2e.test_demo_day import offices_file

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

ROOT = Path(__file__).resolve().parents[2]
SERVICES = ("gateway", "ticketing", "notifications", "feedback", "analytics")
TOKEN_LINE = re.compile(r"log in with the admin token: (\S+)")
UP_TIMEOUT = 600


@pytest.fixture
def infra() -> dict[str, str]:
    """This test starts its own infrastructure (the suite's is neither needed nor touched)."""
    return {}


def _run(argv: list[str], cwd: Path, env: dict[str, str], timeout: float) -> subprocess.CompletedProcess[str]:
    return subprocess.run(argv, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout, check=False)


def _clean_env() -> dict[str, str]:
    """The environment of a new user's shell: none of this run's CANOPEE_*, make or venv variables."""
    drop = ("CANOPEE_", "MAKE", "MFLAGS", "VIRTUAL_ENV", "PYTEST_", "PYTHON")
    return {k: v for k, v in os.environ.items() if not k.startswith(drop)}


def _reuse_caches(clone: Path) -> None:
    """The fetched Kafka jars (hard links) and the built FerretDB runner (a copy, newer than the
    clone's sources so that it is not rebuilt) from this checkout, when it has them."""
    libs, runner = ROOT / ".local" / "cache" / "kafka-libs", ROOT / ".local" / "bin" / "ferretdb"
    if libs.is_dir():
        target = clone / ".local" / "cache" / "kafka-libs"
        target.parent.mkdir(parents=True, exist_ok=True)
        try:
            shutil.copytree(libs, target, copy_function=os.link)
        except OSError:
            shutil.rmtree(target, ignore_errors=True)
            shutil.copytree(libs, target)
    if runner.is_file():
        (clone / ".local" / "bin").mkdir(parents=True, exist_ok=True)
        shutil.copy(runner, clone / ".local" / "bin" / "ferretdb")


def _fast_venv(clone: Path) -> None:
    """A virtual environment for the clone without installing anything: this checkout's third-party
    packages and the clone's code on its path, a ``canopee`` script as pip writes it, and make's
    stamp (so ``make install`` has nothing to do)."""
    venv = clone / ".venv"
    base = getattr(sys, "_base_executable", sys.executable)
    subprocess.run([base, "-m", "venv", "--without-pip", str(venv)], check=True, timeout=120)
    purelib = Path(
        subprocess.run(
            [str(venv / "bin" / "python"), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
    )
    (purelib / "_canopee_clone.pth").write_text(f"{clone}\n{sysconfig.get_paths()['purelib']}\n", encoding="utf-8")
    script = venv / "bin" / "canopee"
    script.write_text(
        f"#!{venv}/bin/python\nimport sys\n\nfrom tools.cli import main\n\nif __name__ == '__main__':\n"
        "    sys.exit(main())\n",
        encoding="utf-8",
    )
    script.chmod(0o755)
    (venv / ".installed").touch()


@pytest.fixture
def clone(tmp_path: Path) -> Iterator[Path]:
    target = tmp_path / "canopee"
    subprocess.run(["git", "clone", "--quiet", str(ROOT), str(target)], check=True, timeout=120)
    try:
        yield target
    finally:
        shutil.rmtree(target, ignore_errors=True)


def _wait(probe: Callable[[], object], timeout: float, what: str) -> object:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = probe()
        if found:
            return found
        time.sleep(1)
    pytest.fail(f"{what} did not happen in {timeout} s")


def test_make_up_on_a_clean_clone_logs_in_with_the_printed_token(clone: Path, tmp_path: Path) -> None:
    started = time.monotonic()
    env = _clean_env()
    ports = {name: free_port() for name in SERVICES}
    env |= {f"CANOPEE_{name.upper()}_PORT": str(port) for name, port in ports.items()}
    env |= {
        "CANOPEE_MAILCATCHER_PORT": str(free_port()),
        "CANOPEE_KAFKA_PORT": str(free_port()),
        "CANOPEE_KAFKA_CONTROLLER_PORT": str(free_port()),
        "CANOPEE_MONGO_PORT": str(free_port()),
        # SMS may go out at any hour (the demo offices' quiet hours would hold them at night)
        "CANOPEE_OFFICES_FILE": str(offices_file(tmp_path / "offices.toml")),
        "CANOPEE_DEMO_ANSWER_SECONDS": "3",
        "PYTHON": getattr(sys, "_base_executable", sys.executable),
    }
    _reuse_caches(clone)
    if os.environ.get("CANOPEE_TEST_UP_INSTALL") != "1":
        _fast_venv(clone)
    prepared = time.monotonic()
    try:
        up = _run(["make", "up"], clone, env, UP_TIMEOUT)
        upped = time.monotonic()
        output = up.stdout + up.stderr
        assert up.returncode == 0, output[-4000:]
        printed = TOKEN_LINE.search(up.stdout)
        assert printed, up.stdout[-2000:]
        token = printed.group(1)
        assert token == (clone / ".local" / "run" / "admin-token").read_text().strip()
        assert "generated" not in token

        dashboard = f"http://127.0.0.1:{ports['analytics']}"
        with httpx.Client(timeout=10) as browser:
            assert 'action="/dashboard/login"' in browser.get(f"{dashboard}/dashboard").text  # not logged in
            wrong = browser.post(f"{dashboard}/dashboard/login", data={"token": token + "x"})
            assert wrong.status_code == 401
            login = browser.post(f"{dashboard}/dashboard/login", data={"token": token}, follow_redirects=False)
            assert login.status_code == 303, login.text[:500]
            assert login.headers["location"] == "/dashboard"
            page = browser.get(f"{dashboard}/dashboard")
            assert page.status_code == 200 and 'action="/dashboard/login"' not in page.text, page.text[:500]
            assert browser.get(f"{dashboard}/v1/kpis", params={"period": "day"}).status_code == 200

        outbox = clone / ".local" / "run" / "outbox" / "sms.jsonl"
        _wait(lambda: outbox.exists() and outbox.read_text(encoding="utf-8").strip(), 120, "an SMS in the demo outbox")
        tenants_log = clone / ".local" / "run" / "demo-tenants.log"
        answered = re.compile(r": (answered|replied)$", re.M)
        _wait(
            lambda: tenants_log.exists() and answered.search(tenants_log.read_text(encoding="utf-8")),
            180,
            "a survey answered by the demo tenants",
        )

        # the dashboard's response-rate chart: surveys sent and answered by the demo tenants
        def responses() -> object:
            with httpx.Client(timeout=10, headers={"Authorization": f"Bearer {token}"}) as client:
                body = client.get(f"{dashboard}/v1/kpis", params={"period": "day"}).json()
            response = body["network"]["total"]["survey_response"]
            return response if response["sent"] and response["answered"] else None

        shown = _wait(responses, 120, "answered surveys in the indicators")
        checked = time.monotonic()
        lines = tenants_log.read_text(encoding="utf-8").splitlines()
        print(f"\ndemo tenants: {len(lines)} log lines, e.g. {lines[-1]!r}; indicators: {shown}")
        print(
            f"\nmake up from a clean clone: prepare {prepared - started:.1f} s, make up {upped - prepared:.1f} s, "
            f"login, SMS and a survey answered {checked - upped:.1f} s"
        )
    finally:
        down = _run(["make", "down"], clone, env, 180)
        reset = _run(["bash", "deploy/local/infra.sh", "reset"], clone, env, 180)
        total = time.monotonic() - started
        print(f"make down: exit {down.returncode}, infra reset: exit {reset.returncode}; total {total:.1f} s")
    assert down.returncode == 0, (down.stdout + down.stderr)[-2000:]
    assert reset.returncode == 0, (reset.stdout + reset.stderr)[-2000:]
