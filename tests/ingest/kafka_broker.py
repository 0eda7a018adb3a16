"""A private single-node Kafka (KRaft) that a test may stop and restart: same jars as the
shared stack (.state/lib/kafka, see stack/kafka.sh), its own free ports and a temporary data
directory. It never touches the shared broker on 9092; only the process it started is ever
signalled, by its pid.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import time
from pathlib import Path

from lcm.paths import REPO_DIR

LIB = Path(os.environ.get("LCM_STATE_DIR") or REPO_DIR / ".state") / "lib" / "kafka"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _port_open(port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(0.2)
        return s.connect_ex(("127.0.0.1", port)) == 0


class OwnKafka:
    def __init__(self, data_dir: Path) -> None:
        if not any(LIB.glob("kafka_2.13-*.jar")):
            raise RuntimeError(f"Kafka jars missing in {LIB}; run 'make setup'")
        self.dir = Path(data_dir)
        self.port = free_port()
        self.controller_port = free_port()
        self.proc: subprocess.Popen[bytes] | None = None
        self.log = self.dir / "kafka.log"
        self.conf = self.dir / "server.properties"
        self.dir.mkdir(parents=True, exist_ok=True)
        self.conf.write_text("\n".join([
            "process.roles=broker,controller", "node.id=1",
            f"controller.quorum.voters=1@127.0.0.1:{self.controller_port}",
            f"listeners=PLAINTEXT://127.0.0.1:{self.port},"
            f"CONTROLLER://127.0.0.1:{self.controller_port}",
            f"advertised.listeners=PLAINTEXT://127.0.0.1:{self.port}",
            "controller.listener.names=CONTROLLER", "inter.broker.listener.name=PLAINTEXT",
            "listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT",
            f"log.dirs={self.dir / 'data'}", "num.partitions=3",
            "offsets.topic.replication.factor=1", "transaction.state.log.replication.factor=1",
            "transaction.state.log.min.isr=1", "share.coordinator.state.topic.replication.factor=1",
            "share.coordinator.state.topic.min.isr=1", "group.initial.rebalance.delay.ms=0",
            "auto.create.topics.enable=false", ""]))
        cp = f"{LIB}/*"
        uuid = subprocess.run(["java", "-cp", cp, "kafka.tools.StorageTool", "random-uuid"],
                              capture_output=True, text=True, check=True).stdout.split()[-1]
        subprocess.run(["java", "-cp", cp, "kafka.tools.StorageTool", "format", "-t", uuid,
                        "-c", str(self.conf)], capture_output=True, check=True)

    @property
    def bootstrap(self) -> str:
        return f"127.0.0.1:{self.port}"

    def start(self, timeout_s: float = 90) -> None:
        log = self.log.open("ab")
        self.proc = subprocess.Popen(
            ["java", "-Xms128m", "-Xmx384m", "-XX:+UseSerialGC",
             f"-Dlog4j2.configurationFile={REPO_DIR / 'stack' / 'kafka-log4j2.yaml'}",
             f"-Dkafka.logs.dir={self.dir}", "-cp", f"{LIB}/*", "kafka.Kafka", str(self.conf)],
            stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        deadline = time.monotonic() + timeout_s
        while not _port_open(self.port):
            if self.proc.poll() is not None:
                raise RuntimeError(f"own Kafka exited ({self.proc.returncode}); see {self.log}")
            if time.monotonic() > deadline:
                raise RuntimeError(f"own Kafka not up within {timeout_s} s; see {self.log}")
            time.sleep(0.2)

    def stop(self, kill: bool = False, timeout_s: float = 60) -> None:
        """SIGTERM (clean shutdown) or SIGKILL our broker, and wait until it is gone."""
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.send_signal(signal.SIGKILL if kill else signal.SIGTERM)
        try:
            self.proc.wait(timeout_s)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(10)
        deadline = time.monotonic() + 10
        while _port_open(self.port) and time.monotonic() < deadline:
            time.sleep(0.1)

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self.stop()
