"""Private infrastructure and service fleets for the scale-out and failover tests and benchmarks:
a three-node KRaft cluster with its SASL_SSL listeners and a store started by
``deploy/local/infra.sh`` on free ports and private folders (so that brokers may be killed without
touching anybody else's), several instances of each service as ``canopee run`` processes, and the
consumer groups' partition assignments read from the brokers."""

from __future__ import annotations

import asyncio
import contextlib
import os
import random
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.coordinator.protocol import ConsumerProtocolMemberAssignment

ROOT = Path(__file__).resolve().parents[2]
INFRA = ROOT / "deploy" / "local" / "infra.sh"


def _free(port: int) -> bool:
    with socket.socket() as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def free_base_port(nodes: int = 3) -> int:
    """A base port B such that B..B+2 (+100 per node) and B+3 (the store) are all free."""
    for _ in range(200):
        base = random.randrange(20_000, 32_000, 10)
        wanted = [base + 100 * i + k for i in range(nodes) for k in range(3)] + [base + 3]
        if all(_free(p) for p in wanted):
            return base
    raise RuntimeError("no free block of ports for a private cluster")


@dataclass
class PrivateCluster:
    """``deploy/local/infra.sh`` with ``CANOPEE_KAFKA_NODES`` nodes on free ports, data and PID files
    under ``folder``."""

    folder: Path
    nodes: int = 3
    base: int = field(default_factory=free_base_port)
    #: the store's port (default: the base port + 3)
    mongo_port: int | None = None

    @property
    def env(self) -> dict[str, str]:
        return {
            **os.environ,
            "CANOPEE_INFRA_DATA": str(self.folder / "data"),
            "CANOPEE_INFRA_RUN": str(self.folder / "run"),
            "CANOPEE_KAFKA_PORT": str(self.base),
            "CANOPEE_KAFKA_CONTROLLER_PORT": str(self.base + 1),
            "CANOPEE_KAFKA_SASL_PORT": str(self.base + 2),
            "CANOPEE_MONGO_PORT": str(self.mongo_port or self.base + 3),
            "CANOPEE_KAFKA_NODES": str(self.nodes),
            "CANOPEE_KAFKA_HEAP": "384m",
            "CANOPEE_INFRA_WAIT": "300",
        }

    @property
    def bootstrap(self) -> str:
        """The plaintext listeners (the test's own admin reads)."""
        return ",".join(f"127.0.0.1:{self.base + 100 * i}" for i in range(self.nodes))

    @property
    def sasl_bootstrap(self) -> str:
        """The SASL_SSL listeners (their certificate names localhost)."""
        return ",".join(f"localhost:{self.base + 2 + 100 * i}" for i in range(self.nodes))

    @property
    def mongo(self) -> str:
        return f"mongodb://127.0.0.1:{self.mongo_port or self.base + 3}"

    @property
    def tls(self) -> Path:
        return self.folder / "run" / "tls"

    def client_env(self) -> dict[str, str]:
        """The ``CANOPEE_*`` settings of a service talking SASL_SSL with SCRAM-SHA-512 to the cluster."""
        return {
            "CANOPEE_KAFKA_BOOTSTRAP": self.sasl_bootstrap,
            "CANOPEE_KAFKA_SECURITY_PROTOCOL": "SASL_SSL",
            "CANOPEE_KAFKA_SASL_MECHANISM": "SCRAM-SHA-512",
            "CANOPEE_KAFKA_SASL_USERNAME": "canopee",
            "CANOPEE_KAFKA_SASL_PASSWORD_FILE": str(self.tls / "password"),
            "CANOPEE_KAFKA_CA_FILE": str(self.tls / "ca.pem"),
            "CANOPEE_MONGO_URL": self.mongo,
        }

    def _infra(self, action: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            ["bash", str(INFRA), action], env=self.env, capture_output=True, text=True, timeout=400, check=False
        )

    def up(self) -> None:
        done = self._infra("up")
        if done.returncode != 0:
            self._infra("down")
            raise RuntimeError(f"private cluster did not start:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}")

    def down(self) -> None:
        self._infra("down")

    def broker_pid(self, node: int) -> int:
        name = "kafka" if node == 1 else f"kafka-{node}"
        return int((self.folder / "run" / f"{name}.pid").read_text().strip())

    def kill_broker(self, node: int) -> None:
        """``kill -9`` of one node (by the PID infra.sh recorded)."""
        os.kill(self.broker_pid(node), signal.SIGKILL)


@contextlib.contextmanager
def private_cluster(folder: Path, nodes: int = 3) -> Iterator[PrivateCluster]:
    """A cluster started for the caller and stopped after; ``CANOPEE_TEST_CLUSTER`` =
    ``<folder>,<Kafka port>,<store port>`` names one already running (started by infra.sh with
    those ``CANOPEE_INFRA_*`` folders and ports, ``CANOPEE_KAFKA_NODES=3``), used and left running
    (a broker of it may be killed)."""
    existing = os.environ.get("CANOPEE_TEST_CLUSTER")
    if existing:
        where, kafka_port, mongo_port = existing.split(",")
        yield PrivateCluster(Path(where), nodes, int(kafka_port), int(mongo_port))
        return
    cluster = PrivateCluster(folder, nodes)
    cluster.up()
    try:
        yield cluster
    finally:
        cluster.down()


@dataclass
class Instance:
    service: str
    index: int
    port: int
    process: subprocess.Popen[bytes]
    log: Path

    @property
    def name(self) -> str:
        return f"{self.service}-{self.index}"

    def kill(self) -> None:
        """``kill -9``: no drain, no leave-group, no commit."""
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(timeout=10)


class Fleet:
    """Service instances as ``canopee run`` processes; each gets its own HTTP port, the same
    settings otherwise (same consumer group, same database)."""

    def __init__(self, env: Mapping[str, str], logs: Path) -> None:
        self.env = dict(env)
        self.logs = logs
        self.instances: list[Instance] = []

    def start(self, service: str, count: int = 1, extra: Mapping[str, str] | None = None) -> list[Instance]:
        started = []
        for _ in range(count):
            index = sum(1 for i in self.instances if i.service == service) + 1
            port = _any_free_port()
            log = self.logs / f"{service}-{index}.log"
            env = {**self.env, **(extra or {}), f"CANOPEE_{service.upper()}_PORT": str(port)}
            with log.open("wb") as handle:
                process = subprocess.Popen(
                    [sys.executable, "-m", "tools.cli", "run", service],
                    env=env,
                    stdout=handle,
                    stderr=subprocess.STDOUT,
                    cwd=ROOT,
                )
            instance = Instance(service, index, port, process, log)
            self.instances.append(instance)
            started.append(instance)
        return started

    async def ready(self, instances: list[Instance] | None = None, timeout: float = 180) -> None:
        deadline = time.monotonic() + timeout
        async with httpx.AsyncClient(timeout=2) as client:
            for instance in instances or self.instances:
                while True:
                    if instance.process.poll() is not None:
                        raise RuntimeError(f"{instance.name} stopped: {instance.log.read_text()[-3000:]}")
                    with contextlib.suppress(httpx.HTTPError):
                        answer = await client.get(f"http://127.0.0.1:{instance.port}/health/ready")
                        if answer.status_code == 200:
                            break
                    if time.monotonic() > deadline:
                        raise RuntimeError(f"{instance.name} not ready: {instance.log.read_text()[-3000:]}")
                    await asyncio.sleep(0.3)

    def of(self, service: str) -> list[Instance]:
        return [i for i in self.instances if i.service == service and i.process.poll() is None]

    def stop(self) -> None:
        for instance in self.instances:
            if instance.process.poll() is None:
                instance.process.terminate()
        for instance in self.instances:
            try:
                instance.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                instance.process.kill()
                instance.process.wait(timeout=10)


def _any_free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def assignments(admin: AIOKafkaAdminClient, group: str) -> tuple[str, dict[str, set[tuple[str, int]]]]:
    """The group's state and each member's assigned partitions, as the group coordinator has them."""
    (response,) = await admin.describe_consumer_groups([group])
    (described,) = response.groups
    error, _group_id, state, _protocol_type, _protocol, members = described[:6]
    if error:
        return f"error {error}", {}
    out: dict[str, set[tuple[str, int]]] = {}
    for member in members:
        member_id, raw = member[0], member[-1]
        assigned: set[tuple[str, int]] = set()
        if raw:
            decoded: Any = ConsumerProtocolMemberAssignment.decode(raw)
            for topic, partitions in decoded.assignment:
                assigned.update((topic, p) for p in partitions)
        out[member_id] = assigned
    return state, out
