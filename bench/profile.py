"""Where the time goes while a benchmark runs: memory and CPU of each service of the local
stack, and per-task busy / back-pressured / idle time from Flink's own metrics.

Used by bench.pipeline (and bench.latency); figures only, no assertions. Processes are
found by this checkout's state directory, so other stacks on the same machine are not
counted.
"""

from __future__ import annotations

import contextlib
import os
import re
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from harness.sandbox import flink_rest
from lcm.paths import REPO_DIR
from lcm.settings import Connections

STATE = Path(os.environ.get("LCM_STATE_DIR", REPO_DIR / ".state"))
_TICK = os.sysconf("SC_CLK_TCK")
PRODUCER = "producer (benchmark)"  # this process: not part of the stack's RSS total


# --- processes ------------------------------------------------------------------------------
def _children() -> dict[int, list[int]]:
    kids: dict[int, list[int]] = {}
    for d in Path("/proc").iterdir():
        if d.name.isdigit():
            try:
                ppid = int((d / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            kids.setdefault(ppid, []).append(int(d.name))
    return kids


def _tree(pid: int, kids: dict[int, list[int]]) -> list[int]:
    out, stack = [], [pid]
    while stack:
        p = stack.pop()
        out.append(p)
        stack.extend(kids.get(p, []))
    return out


def _rss_kib(pid: int) -> int:
    with contextlib.suppress(OSError):
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def _cpu_s(pid: int) -> float:
    """CPU seconds of a process, plus those of its children it has already reaped."""
    try:
        f = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return 0.0
    # fields 14-17 of stat (utime, stime, cutime, cstime); [0] here is field 3 (state)
    return sum(int(x) for x in f[11:15]) / _TICK


def _pid_with(*needles: str) -> int | None:
    """The process whose command line contains every needle."""
    for d in Path("/proc").iterdir():
        if d.name.isdigit():
            try:
                cmd = (d / "cmdline").read_bytes().decode(errors="replace")
            except OSError:
                continue
            if all(n in cmd for n in needles):
                return int(d.name)
    return None


def service_pids(state: Path = STATE) -> dict[str, int]:
    """This checkout's Kafka, Flink JobManager and TaskManager, and PostgreSQL."""
    flink_conf = f"{state}/flink/conf"
    pids: dict[str, int | None] = {}
    with contextlib.suppress(OSError, ValueError):
        pids["kafka"] = int((state / "kafka" / "kafka.pid").read_text())
    pids["flink-jobmanager"] = _pid_with("StandaloneSessionClusterEntrypoint", flink_conf)
    pids["flink-taskmanager"] = _pid_with("TaskManagerRunner", flink_conf)
    with contextlib.suppress(OSError, ValueError, IndexError):
        pids["postgresql"] = int(
            (state / "postgres" / "data" / "postmaster.pid").read_text().split()[0])
    return {k: v for k, v in pids.items() if v}


@dataclass
class Usage:
    """Peak RSS (MiB) and CPU seconds per service over a sampled span."""

    peak_mib: dict[str, float] = field(default_factory=dict)
    peak_total_mib: float = 0.0
    cpu_s: dict[str, float] = field(default_factory=dict)
    wall_s: float = 0.0

    def cpu_pct(self, name: str) -> float:
        """Average share of one core, percent."""
        return 100 * self.cpu_s.get(name, 0.0) / self.wall_s if self.wall_s else 0.0


class StackSampler(threading.Thread):
    """Samples every service's process tree (the TaskManager's Python workers reported
    apart from its JVM) and this process (the producer) until stopped."""

    def __init__(self, interval_s: float = 0.5) -> None:
        super().__init__(daemon=True)
        self.interval_s = interval_s
        self.pids = service_pids()
        self.stop_event = threading.Event()
        self.usage = Usage()
        self._first: dict[str, float] = {}
        self._last: dict[str, float] = {}
        self._dead: dict[str, float] = {}   # CPU of processes gone since the last sample
        self._seen: dict[int, tuple[str, float]] = {}
        self._t0 = time.monotonic()

    def _sample(self) -> None:
        kids = _children()
        rss: dict[str, float] = {}
        cpu: dict[str, float] = dict(self._dead)
        seen: dict[int, tuple[str, float]] = {}
        for name, root in self.pids.items():
            for pid in _tree(root, kids):
                part = name
                if name == "flink-taskmanager" and pid != root:
                    part = "flink-python-workers"
                rss[part] = rss.get(part, 0.0) + _rss_kib(pid) / 1024
                c = _cpu_s(pid)
                cpu[part] = cpu.get(part, 0.0) + c
                seen[pid] = (part, c)
        # A worker that exited between samples keeps its last CPU reading.
        for pid, (part, c) in self._seen.items():
            if pid not in seen:
                self._dead[part] = self._dead.get(part, 0.0) + c
                cpu[part] = cpu.get(part, 0.0) + c
        self._seen = seen
        me = os.times()
        cpu[PRODUCER] = me.user + me.system
        rss_self = _rss_kib(os.getpid()) / 1024
        if not self._first:
            self._first = cpu
        self._last = cpu
        u = self.usage
        for k, v in rss.items():
            u.peak_mib[k] = max(u.peak_mib.get(k, 0.0), v)
        u.peak_total_mib = max(u.peak_total_mib, sum(rss.values()))
        u.peak_mib[PRODUCER] = max(u.peak_mib.get(PRODUCER, 0.0), rss_self)

    def run(self) -> None:
        while not self.stop_event.is_set():
            self._sample()
            self.stop_event.wait(self.interval_s)

    def stop(self) -> Usage:
        self.stop_event.set()
        self.join(timeout=5)
        self._sample()
        u = self.usage
        u.wall_s = time.monotonic() - self._t0
        u.cpu_s = {k: v - self._first.get(k, 0.0) for k, v in self._last.items()}
        return u


# --- Flink task metrics ---------------------------------------------------------------------
_OP_ID = re.compile(r"\[\d+\]")


def short_name(vertex_name: str, width: int = 72) -> str:
    """A task's chain name without operator ids, cut to width."""
    name = _OP_ID.sub("", vertex_name).replace("Source: ", "")
    return name if len(name) <= width else name[: width - 1] + "…"


def task_table(conn: Connections, job_id: str) -> list[dict]:
    """Per task (chain of operators): records in/out and the share of its lifetime spent
    busy, back-pressured and idle (Flink's accumulated time metrics), busiest first."""
    job = flink_rest(f"/jobs/{job_id}", conn)
    rows = []
    for v in job["vertices"]:
        m = v["metrics"]
        vals = {k: m.get(f"accumulated-{k}-time") for k in ("busy", "backpressured", "idle")}
        nums = {k: (float(x) if x not in (None, "NaN") else float("nan"))
                for k, x in vals.items()}
        total = sum(x for x in nums.values() if x == x) or 1.0
        rows.append({
            "task": v["name"], "records_in": m.get("read-records", 0),
            "records_out": m.get("write-records", 0),
            "busy_s": nums["busy"] / 1000, "busy_pct": 100 * nums["busy"] / total,
            "backpressured_pct": 100 * nums["backpressured"] / total,
            "idle_pct": 100 * nums["idle"] / total,
        })
    rows.sort(key=lambda r: -(r["busy_s"] if r["busy_s"] == r["busy_s"] else 0))
    return rows


def print_task_table(rows: list[dict], title: str) -> None:
    print(f"\n{title}: per task (operator chain), busy / back-pressured / idle share of "
          "its lifetime, from Flink's accumulated time metrics")
    print(f"  {'busy s':>7} {'busy%':>6} {'bp%':>6} {'idle%':>6} {'records in':>11} "
          f"{'records out':>11}  task")
    for r in rows:
        print(f"  {r['busy_s']:7.1f} {r['busy_pct']:6.1f} {r['backpressured_pct']:6.1f} "
              f"{r['idle_pct']:6.1f} {r['records_in']:11,} {r['records_out']:11,}  "
              f"{short_name(r['task'])}")


def print_usage(u: Usage, title: str) -> None:
    print(f"\n{title}: CPU (% of one core, mean over {u.wall_s:.0f} s) and peak RSS")
    names = sorted(set(u.cpu_s) | set(u.peak_mib), key=lambda k: -u.cpu_s.get(k, 0.0))
    for k in names:
        rss = f"{u.peak_mib[k]:7.0f} MiB" if k in u.peak_mib else " " * 11
        print(f"  {k:26} {u.cpu_pct(k):6.1f} %  {rss}")
    print(f"  {'whole stack peak RSS':26} {'':8}  {u.peak_total_mib:7.0f} MiB "
          f"({u.peak_total_mib / 1024:.2f} GiB)")


# --- flame graphs ---------------------------------------------------------------------------
def flame_graph(conn: Connections, job_id: str, vertex_id: str, kind: str = "on_cpu",
                timeout_s: float = 60) -> dict | None:
    """Flink's sampled stacks of one task (rest.flamegraph.enabled): the tree of frames,
    each with its sample count, or None if sampling did not finish in time."""
    path = f"/jobs/{job_id}/vertices/{vertex_id}/flamegraph?type={kind}"
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            graph = flink_rest(path, conn)
        except Exception:  # the endpoint is off, or the task finished
            return None
        data = graph.get("data") or {}
        if data.get("children"):
            return data
        time.sleep(1)
    return None


def _frame(name: str) -> str:
    """A frame without generated-class numbers, so equal code aggregates."""
    return re.sub(r"\$\d+", "$N", re.sub(r"(\w+)\$\d+(?=\.)", r"\1$N", name))


def frame_profile(root: dict) -> tuple[int, dict[str, int], dict[str, int]]:
    """(total samples, self samples per frame, inclusive samples per frame)."""
    total = int(root.get("value", 0))
    own: dict[str, int] = {}
    incl: dict[str, int] = {}

    def walk(node: dict, seen: frozenset[str]) -> None:
        name = _frame(node.get("name", "?"))
        value = int(node.get("value", 0))
        kids = node.get("children") or []
        if name not in seen:
            incl[name] = incl.get(name, 0) + value
        rest = value - sum(int(k.get("value", 0)) for k in kids)
        if rest > 0:
            own[name] = own.get(name, 0) + rest
        for k in kids:
            walk(k, seen | {name})

    for child in root.get("children") or []:
        walk(child, frozenset())
    return total, own, incl


# Frames every task thread runs through; not informative in an inclusive ranking.
_GENERIC = re.compile(r"^(java\.|jdk\.|sun\.|org\.apache\.flink\.runtime\.taskmanager|"
                      r"org\.apache\.flink\.streaming\.runtime\.tasks\.(StreamTask|"
                      r"mailbox)|org\.apache\.flink\.util\.)")


def print_flame_summary(name: str, root: dict, top: int = 12) -> None:
    total, own, incl = frame_profile(root)
    if not total:
        return
    print(f"\n  on-CPU samples of {short_name(name)} ({total} samples)")
    print("    self %   frame (where the CPU is)")
    for frame, n in sorted(own.items(), key=lambda kv: -kv[1])[:top]:
        print(f"    {100 * n / total:6.1f}   {frame[:110]}")
    print("    incl %   frame (what it is doing)")
    shown = 0
    for frame, n in sorted(incl.items(), key=lambda kv: -kv[1]):
        if _GENERIC.match(frame) or n == total:
            continue
        print(f"    {100 * n / total:6.1f}   {frame[:110]}")
        shown += 1
        if shown >= top:
            break


class JobWatcher(threading.Thread):
    """Polls a job's task metrics while a benchmark runs (which also keeps the REST metric
    cache fresh) and, once, samples flame graphs of the `flames` busiest tasks while the
    job is under load."""

    def __init__(self, conn: Connections, job_id: str, flames: int = 0,
                 interval_s: float = 5.0) -> None:
        super().__init__(daemon=True)
        self.conn, self.job_id, self.flames, self.interval_s = conn, job_id, flames, interval_s
        self.stop_event = threading.Event()
        self.graphs: list[tuple[str, dict]] = []
        self._busy: dict[str, float] = {}

    def _busy_now(self) -> dict[str, tuple[str, float]]:
        job = flink_rest(f"/jobs/{self.job_id}", self.conn)
        out = {}
        for v in job["vertices"]:
            b = v["metrics"].get("accumulated-busy-time")
            out[v["id"]] = (v["name"], float(b) if b not in (None, "NaN") else 0.0)
        return out

    def run(self) -> None:
        loaded = 0
        while not self.stop_event.wait(self.interval_s):
            try:
                now = self._busy_now()
            except Exception:  # the job is gone: nothing more to watch
                return
            rates = {vid: b - self._busy.get(vid, b) for vid, (_, b) in now.items()}
            self._busy = {vid: b for vid, (_, b) in now.items()}
            # Under load: some task was busy most of the last interval.
            loaded = loaded + 1 if max(rates.values(), default=0) > 500 * self.interval_s else 0
            if self.flames and not self.graphs and loaded >= 2:
                for vid in sorted(rates, key=lambda v: -rates[v])[: self.flames]:
                    graph = flame_graph(self.conn, self.job_id, vid)
                    if graph:
                        self.graphs.append((now[vid][0], graph))

    def stop(self) -> list[dict]:
        """Stop polling; the final task table (waits for one metrics refresh)."""
        self.stop_event.set()
        self.join(timeout=120)
        flink_rest(f"/jobs/{self.job_id}", self.conn)  # ask the JobManager to fetch anew
        time.sleep(11)  # metrics.fetcher.update-interval is 10 s
        return task_table(self.conn, self.job_id)


# --- async-profiler on the TaskManager ------------------------------------------------------
ASYNC_PROFILER = "tools.profiler:async-profiler:4.1"  # Maven coordinates (bench only)


def async_profiler_lib(state: Path = STATE) -> Path:
    """The async-profiler agent for this machine, fetched once with Maven into .state/."""
    import platform
    import subprocess
    import zipfile

    arch = {"x86_64": "linux-x64", "aarch64": "linux-arm64"}.get(platform.machine())
    if arch is None:
        raise SystemExit(f"async-profiler: no agent for {platform.machine()}")
    lib = state / "lib" / "async-profiler" / arch / "libasyncProfiler.so"
    if not lib.exists():
        out = lib.parent.parent
        out.mkdir(parents=True, exist_ok=True)
        run = subprocess.run(["mvn", "-B", "-q", "dependency:copy", f"-Dartifact={ASYNC_PROFILER}",
                              f"-DoutputDirectory={out}"], capture_output=True, text=True)
        jars = sorted(out.glob("async-profiler-*.jar"))
        if run.returncode != 0 or not jars:
            raise SystemExit(f"async-profiler: mvn dependency:copy {ASYNC_PROFILER} failed:\n"
                             f"{run.stdout[-2000:]}{run.stderr[-2000:]}")
        with zipfile.ZipFile(jars[-1]) as z:
            z.extract(f"{arch}/libasyncProfiler.so", out)
    return lib


class CpuProfile:
    """async-profiler attached to the TaskManager JVM (jcmd JVMTI.agent_load): CPU samples of
    every thread (task threads, Kafka fetchers, network, GC, JIT), written as collapsed
    stacks with the thread name as the root frame."""

    def __init__(self, out: Path, interval_ms: int = 10) -> None:
        self.pid = service_pids().get("flink-taskmanager")
        self.lib = async_profiler_lib()
        self.out = out
        self.interval_ms = interval_ms

    def _agent(self, options: str) -> str:
        import subprocess

        # Quoted: jcmd would read "start,event=cpu" as an option named "start,event".
        run = subprocess.run(["jcmd", str(self.pid), "JVMTI.agent_load", str(self.lib),
                              f'"{options}"'], capture_output=True, text=True, timeout=60)
        if "return code: 0" not in run.stdout:
            raise RuntimeError(f"async-profiler {options}: {run.stdout}{run.stderr}")
        return run.stdout

    def start(self) -> None:
        if self.pid is None:
            raise SystemExit("async-profiler: no TaskManager of this checkout is running")
        # cpu = perf events where the kernel allows them, else a CPU timer (async-profiler
        # chooses); its messages go to the TaskManager's .out file.
        self._agent(f"start,event=cpu,interval={self.interval_ms}ms,threads")

    def stop(self) -> Path:
        self._agent(f"stop,file={self.out},collapsed")
        return self.out


_THREAD_GROUPS = (
    (re.compile(r"Kafka Fetcher|SourceFetcher|kafka-coordinator|kafka-producer", re.I),
     "Kafka client threads (fetch, produce)"),
    (re.compile(r"^(GC|G1|VM Thread|VM Periodic)"), "JVM: garbage collection, VM"),
    (re.compile(r"^C[12] CompilerThread"), "JVM: JIT compiler"),
    (re.compile(r"Flink Netty|OutputFlusher|Netty"), "Flink network (Netty, output flusher)"),
    (re.compile(r"grpc|beam|python", re.I), "Python UDF bridge (gRPC/Beam, JVM side)"),
    (re.compile(r"jdbc|Postgre", re.I), "JDBC"),
)


def _thread_group(thread: str) -> str:
    name = re.sub(r"\s*tid=\d+$", "", thread).strip()
    if " (1/1)" in name or re.search(r"\(\d+/\d+\)#\d+", name):
        return "task: " + short_name(re.sub(r"\s*\(\d+/\d+\)#\d+$", "", name), 60)
    for pattern, group in _THREAD_GROUPS:
        if pattern.search(name):
            return group
    if name.startswith(("C1 CompilerThre", "C2 CompilerThre", "Sweeper")):
        return "JVM: JIT compiler"
    return "other: " + re.sub(r"[-#]?\d+$", "", name)[:40]


def collapsed_summary(path: Path, top_groups: int = 14, top_frames: int = 10,
                      groups_with_frames: int = 4) -> None:
    """Print CPU share per thread group, then the hottest frames of the busiest groups."""
    per_group: dict[str, int] = {}
    frames: dict[str, dict[str, int]] = {}
    total = 0
    for line in path.read_text(errors="replace").splitlines():
        stack, _, count = line.rpartition(" ")
        if not count.isdigit():
            continue
        n = int(count)
        parts = stack.split(";")
        group = _thread_group(parts[0].strip("[]"))
        total += n
        per_group[group] = per_group.get(group, 0) + n
        leaf = _frame(parts[-1]) if len(parts) > 1 else "?"
        g = frames.setdefault(group, {})
        g[leaf] = g.get(leaf, 0) + n
    if not total:
        print("  (no samples)")
        return
    print(f"  {total:,} CPU samples in the TaskManager JVM, by thread:")
    ranked = sorted(per_group.items(), key=lambda kv: -kv[1])
    for group, n in ranked[:top_groups]:
        print(f"    {100 * n / total:5.1f} %  {group}")
    for group, n in ranked[:groups_with_frames]:
        print(f"  hottest frames in '{group}' ({100 * n / total:.1f} % of samples):")
        for frame, m in sorted(frames[group].items(), key=lambda kv: -kv[1])[:top_frames]:
            print(f"    {100 * m / n:5.1f} %  {frame[:110]}")
