"""The processes of this checkout's native stack, found by what they run from, so a fault
test can kill exactly them and nothing of another checkout on the same machine.

Every process is identified by its own files, never by a name alone: Kafka by the
server.properties under this checkout's state directory, PostgreSQL by the pid in its data
directory, the Flink JobManager and TaskManager by this checkout's Flink conf directory,
Python UDF workers as children of this checkout's TaskManager. When the stack runs under
its supervisor (stack/supervise.sh), services are stopped and started through it.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from lcm.paths import REPO_DIR, state_dir
from lcm.settings import Connections

STACK = REPO_DIR / "stack"
SERVICES = ("kafka", "postgres", "jobmanager", "taskmanager")


@dataclass(frozen=True)
class Proc:
    pid: int
    ppid: int
    start_ticks: int
    cmdline: str


def processes() -> dict[int, Proc]:
    out: dict[int, Proc] = {}
    for d in Path("/proc").iterdir():
        if not d.name.isdigit():
            continue
        try:
            stat = (d / "stat").read_text()
            fields = stat.rsplit(")", 1)[1].split()
            if fields[0] == "Z":
                continue
            cmd = (d / "cmdline").read_bytes().replace(b"\0", b" ").decode(
                errors="replace").strip()
        except (OSError, IndexError):
            continue
        out[int(d.name)] = Proc(int(d.name), int(fields[1]), int(fields[19]), cmd)
    return out


def _flink_conf() -> str:
    return str(state_dir() / "flink" / "conf")


def _matches(service: str, cmd: str) -> bool:
    state = str(state_dir())
    if service == "kafka":
        return "kafka.Kafka" in cmd and f"{state}/kafka/server.properties" in cmd
    if service == "jobmanager":
        return ("StandaloneSessionClusterEntrypoint" in cmd
                and f"--configDir {_flink_conf()}" in cmd)
    if service == "taskmanager":
        return "TaskManagerRunner" in cmd and f"--configDir {_flink_conf()}" in cmd
    raise ValueError(service)


def pids(service: str) -> list[int]:
    """Live pids of one of this checkout's services (PostgreSQL: the postmaster)."""
    if service == "postgres":
        pidfile = state_dir() / "postgres" / "data" / "postmaster.pid"
        with contextlib.suppress(OSError, ValueError, IndexError):
            pid = int(pidfile.read_text().split()[0])
            cmd = processes().get(pid)
            if cmd and "postgres" in cmd.cmdline:
                return [pid]
        return []
    return sorted(p.pid for p in processes().values() if _matches(service, p.cmdline))


def descendants(pid: int, procs: dict[int, Proc] | None = None) -> list[Proc]:
    procs = procs or processes()
    kids: dict[int, list[Proc]] = {}
    for p in procs.values():
        kids.setdefault(p.ppid, []).append(p)
    out, todo = [], [pid]
    while todo:
        for child in kids.get(todo.pop(), []):
            out.append(child)
            todo.append(child.pid)
    return out


def udf_workers() -> list[Proc]:
    """Python UDF worker processes (pyflink beam_boot) of this checkout's TaskManagers."""
    procs = processes()
    return [p for tm in pids("taskmanager") for p in descendants(tm, procs)
            if "pyflink.fn_execution.beam.beam_boot" in p.cmdline]


def kill9(pid: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGKILL)


# --- the supervisor ----------------------------------------------------------------------
def supervised() -> bool:
    """True when this checkout's stack runs under its supervisor (stack/supervise.sh)."""
    sock = state_dir() / "supervisor" / "supervisor.sock"
    if not sock.exists():
        return False
    with contextlib.suppress(OSError), socket.socket(socket.AF_UNIX) as s:
        s.settimeout(2)
        s.connect(str(sock))
        return True
    return False


def supervisorctl(*args: str, check: bool = True) -> str:
    run = subprocess.run([STACK / "supervise.sh", "ctl", *args], capture_output=True,
                         text=True, timeout=120)
    if check and run.returncode not in (0, 3):  # 3: some program not running (status)
        raise RuntimeError(f"supervisorctl {' '.join(args)} failed: "
                           f"{run.stdout.strip()} {run.stderr.strip()}")
    return run.stdout


def stop(service: str) -> None:
    """Stop a service and keep it stopped (its supervisor does not restart it)."""
    if supervised():
        supervisorctl("stop", service)
        return
    script = {"kafka": "kafka.sh", "postgres": "postgres.sh"}.get(service)
    if script is None:
        raise ValueError(f"stop {service}: only under the supervisor")
    subprocess.run([STACK / script, "stop"], check=True, capture_output=True, timeout=120)


def start(service: str) -> None:
    if supervised():
        supervisorctl("start", service)
        return
    script = {"kafka": "kafka.sh", "postgres": "postgres.sh"}.get(service)
    if script:
        subprocess.run([STACK / script, "start"], check=True, capture_output=True, timeout=180)
        return
    # Without the supervisor: the Flink distribution's own daemon scripts, by hand.
    env = {**os.environ, "FLINK_CONF_DIR": _flink_conf(),
           "FLINK_LIB_DIR": str(state_dir() / "flink" / "lib")}
    home = subprocess.run([REPO_DIR / ".venv" / "bin" / "python", "-c",
                           "import os, pyflink; print(os.path.dirname(pyflink.__file__))"],
                          capture_output=True, text=True, check=True).stdout.strip()
    script = {"jobmanager": "jobmanager.sh", "taskmanager": "taskmanager.sh"}[service]
    subprocess.run([f"{home}/bin/{script}", "start"], env=env, check=True,
                   capture_output=True, timeout=120)


def kill_and_hold(service: str) -> list[int]:
    """kill -9 a service and keep it down (under the supervisor: stopped right after, so it
    is not restarted until start())."""
    killed = pids(service)
    for pid in killed:
        kill9(pid)
    if supervised():
        supervisorctl("stop", service, check=False)
    for _ in range(100):
        if not any(Path(f"/proc/{p}").exists() for p in killed):
            break
        time.sleep(0.1)
    return killed


# --- health ------------------------------------------------------------------------------
def port_open(port: int, host: str = "127.0.0.1") -> bool:
    with contextlib.suppress(OSError), socket.create_connection((host, port), timeout=1):
        return True
    return False


def services_up(conn: Connections) -> dict[str, bool]:
    from flink_jobs.cluster import flink_rest

    kafka_port = int(conn.kafka_bootstrap.rsplit(":", 1)[1])
    tms = 0
    with contextlib.suppress(Exception):
        tms = flink_rest("/overview", conn)["taskmanagers"]
    return {"kafka": bool(pids("kafka")) and port_open(kafka_port),
            "postgres": bool(pids("postgres")) and port_open(conn.pg_port),
            "jobmanager": bool(pids("jobmanager")),
            "taskmanager": bool(pids("taskmanager")) and tms > 0}
