"""Hostile input, counted: how many inputs each component was fed, how many it refused as
it should (a dead letter), how many ESCAPED (raised anything else: a source, the replay or
the notifier dies on it), how many were SLOW (> 10 ms: the event loop is held that long)
and how many FROZE (no answer within --timeout; the input runs in a child process that
is killed and restarted past it), with the worst time per input.

    python -m bench.hostile                    # every component, 2,000 inputs per chain
    python -m bench.hostile --inputs 200 --only bybit okx --seed 7

Components: every source's parse chain on its recorded payloads, mutated
(harness/hostile.py: the calls a source makes on one body or frame, from the bytes on);
the contract's number and time readers; the replay reader on hostile lines and files;
the spool opened after a crash at every byte and after random damage; the notifier's
path for one alert (parse, render, each channel's request). Inputs are a function of
(--seed, component, index), so a finding is reproduced by its index.
"""

from __future__ import annotations

import argparse
import gzip
import multiprocessing as mp
import random
import statistics
import sys
import tempfile
import time
import traceback
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

SLOW_MS = 10.0


@dataclass
class Tally:
    component: str
    inputs: int = 0
    refused: int = 0
    escaped: int = 0
    slow: int = 0
    frozen: int = 0
    times_ms: list[float] = field(default_factory=list)
    kinds: Counter[str] = field(default_factory=Counter)
    first: dict[str, int] = field(default_factory=dict)  # escape kind -> first index

    def add(self, index: int, outcome: str, ms: float) -> None:
        self.inputs += 1
        self.times_ms.append(ms)
        if ms > SLOW_MS:
            self.slow += 1
        if outcome == "refused":
            self.refused += 1
        elif outcome != "ok":
            self.escaped += 1
            self.kinds[outcome] += 1
            self.first.setdefault(outcome, index)

    def row(self) -> str:
        worst = max(self.times_ms, default=0.0)
        p99 = (statistics.quantiles(self.times_ms, n=100)[98]
               if len(self.times_ms) >= 100 else worst)
        return (f"{self.component:<38} {self.inputs:>7} {self.refused:>7} {self.escaped:>7} "
                f"{self.slow:>5} {self.frozen:>6} {p99:>8.2f} {worst:>9.1f}")


# ---------------------------------------------------------------- the components
# Each is (name, make_input(rng, index) -> input, run(input) -> None, refused types).

def _chain_components() -> list[tuple[str, Callable[..., Any], Callable[[Any], Any]]]:
    from harness import hostile

    out = []
    for chain in hostile.chains():
        out.append((f"{chain.component}: {chain.name}",
                    lambda rng, i, c=chain: hostile.hostile_input(c, rng),
                    chain.run))
    return out


def _number_inputs(rng: random.Random, index: int) -> tuple[str, Any, str]:
    from harness import hostile

    value = hostile.hostile_value(rng) if rng.random() < 0.7 else rng.choice(
        hostile.HOSTILE_NUMBER_TEXTS + hostile.hostile_numbers())
    return rng.choice(["dec", "ts_ms", "ts_s", "ts_iso", "ts_hex", "split_base"]), value, ""


def _number_run(item: tuple[str, Any, str]) -> Any:
    from ingest import contract as c

    what, value, _ = item
    if what == "dec":
        return c.dec(value, "f", "w")
    if what == "split_base":
        return c.split_base(value)
    unit = {"ts_ms": "ms", "ts_s": "s", "ts_iso": "iso", "ts_hex": "hex_s"}[what]
    return c.ts_ms(value, "f", "w", unit)


def _builder_inputs(rng: random.Random, index: int) -> tuple[str, dict[str, Any]]:
    from harness import hostile

    good = {
        "prices": dict(exchange="bybit", symbol="BTCUSDT", base="BTC", ts=1_795_183_200_000,
                       price="65000.5", volume_24h_usd="1000"),
        "funding_rates": dict(exchange="bybit", symbol="BTCUSDT", base="BTC",
                              ts=1_795_183_200_000, funding_rate="0.0001", interval_hours=8,
                              mark_price="65000"),
        "open_interest": dict(exchange="bybit", symbol="BTCUSDT", base="BTC",
                              ts=1_795_183_200_000, oi_base="10", oi_usd="650000"),
        "liquidations": dict(exchange="bybit", symbol="BTCUSDT", base="BTC",
                             ts=1_795_183_200_000, side="long", price="65000", qty="0.5",
                             dedup_key="k"),
        "long_short_ratio": dict(exchange="bybit", symbol="BTCUSDT", base="BTC",
                                 ts=1_795_183_200_000, population="accounts",
                                 long_share="0.6", short_share="0.4"),
        "stablecoin_flows": dict(chain="ethereum", token="USDT", ts=1_795_183_200_000,
                                 tx_hash="0x" + "ab" * 32, log_index=3, amount_usd="1000",
                                 from_addr="0x" + "1" * 40, to_addr="0x" + "2" * 40,
                                 direction="inflow", exchange_label="binance"),
    }
    topic = rng.choice(sorted(good))
    kwargs = dict(good[topic])
    for key in rng.sample(sorted(kwargs), rng.randint(1, 3)):
        kwargs[key] = hostile.hostile_value(rng)
    return topic, kwargs


def _builder_run(item: tuple[str, dict[str, Any]]) -> Any:
    import orjson

    from ingest import contract as c

    topic, kwargs = item
    msg = c.BUILDERS[topic](**kwargs)
    return orjson.dumps(msg)  # what Publisher.publish does with it next


REPLAY_LINES = [
    b'{"topic": ["prices"], "value": {}}', b'{"topic": {"a": 1}, "value": {}}',
    b'{"topic": "prices", "value": {"ts": 9223372036854775808}}',
    b'{"topic": "prices", "value": {"ts": 18446744073709551616}}',
    b'{"topic": "prices", "value": {"ts": -9223372036854775809}}',
    b'{"topic": "prices", "value": {"ts": 4102444800000000}}',
    b'{"topic": "prices", "value": {"ts": 1e999999}}', b'{"topic": "prices", "value": []}',
    b'{"topic": "prices", "value": {"ts": NaN}}', b"\xff\xfe{", b"[" * 5000,
    b'{"topic": "prices", "value": {"ts": 1795183200000, "price": 1}}', b"null", b'"\\ud800"',
    b'{"topic": "prices", "value": {"ts": 1795183200000, "base": "\\ud800"}}',
]


def _replay_inputs(rng: random.Random, index: int) -> tuple[bytes, bool, float | None]:
    lines = [rng.choice(REPLAY_LINES) for _ in range(rng.randint(1, 4))]
    body = b"\n".join(lines) + b"\n"
    gz = rng.random() < 0.3
    if gz:
        body = gzip.compress(body)
        if rng.random() < 0.5:
            body = body[:rng.randrange(1, len(body))]  # a truncated .gz
    return body, gz, rng.choice([None, 1e9])


class _Producer:
    """The confluent Producer calls replay makes, checked as librdkafka would: a record
    timestamp must fit a signed 64-bit integer."""

    def produce(self, topic: str, value: Any = None, key: Any = None, timestamp: int = 0,
                **_: Any) -> None:
        if not -(2 ** 63) <= int(timestamp or 0) < 2 ** 63:
            raise OverflowError("timestamp out of range")
        if not isinstance(topic, str):
            raise TypeError("topic must be a str")

    def poll(self, _timeout: float = 0) -> int:
        return 0

    def flush(self, _timeout: float = 0) -> int:
        return 0


def _replay_run(item: tuple[bytes, bool, float | None]) -> Any:
    from ingest import replay

    body, gz, speed = item
    with tempfile.TemporaryDirectory() as d:
        path = Path(d) / ("r.jsonl.gz" if gz else "r.jsonl")
        path.write_bytes(body)
        return replay.replay(path, _Producer(), speed=speed, progress=False)  # type: ignore[arg-type]


def _spool_inputs(rng: random.Random, index: int) -> tuple[int, int, int]:
    return index, rng.randrange(1 << 30), rng.randrange(4)


def _spool_run(item: tuple[int, int, int]) -> Any:
    """Write records, then damage the segment like a crash or a bad disk would; reopen and
    read everything back. Refused = the spool names the damage; escaped = it cannot open
    or loses a record whose bytes are intact before the damage."""
    from ingest.spool import Spool, SpoolError

    index, noise, how = item
    rng = random.Random(noise)
    with tempfile.TemporaryDirectory() as d:
        sp = Spool(Path(d), segment_bytes=1 << 20)
        sizes = []
        for i in range(20):
            sp.append("prices", b"k", 1_795_183_200_000 + i, -1, b"x" * rng.randint(1, 200))
            sizes.append(sp._fd_size if hasattr(sp, "_fd_size") else 0)
        sp.close()
        seg = sorted(Path(d).glob("*.seg"))[-1]
        data = bytearray(seg.read_bytes())
        cut = len(data)
        if how == 0:  # a crash at any byte: the file ends there
            cut = index % (len(data) + 1)
            data = data[:cut]
        elif how == 1:  # a zero-filled tail after a power loss
            data += bytes(rng.randint(1, 64))
        elif how == 2:  # one byte flipped somewhere
            at = rng.randrange(len(data))
            data[at] ^= 1 + rng.randrange(255)
            cut = at
        else:  # garbage appended
            data += bytes(rng.randrange(256) for _ in range(rng.randint(1, 64)))
        seg.write_bytes(bytes(data))
        intact = sum(1 for s in sizes if s <= cut)
        try:
            sp = Spool(Path(d), segment_bytes=1 << 20)
        except SpoolError as exc:  # the ingest cannot start on this spool
            raise AssertionError(f"does not open: {exc}") from None
        got = []
        while batch := sp.read(100):
            got += batch
        sp.close()
        if len(got) < intact:
            raise AssertionError(f"lost {intact - len(got)} intact records")
        return got


def _notifier_inputs(rng: random.Random, index: int) -> bytes:
    from harness import hostile

    return hostile.hostile_alert(rng)


def hostile_notifier_run(raw: bytes) -> Any:
    from harness import hostile

    return hostile.notifier_path(raw)


def components(only: list[str] | None) -> list[tuple[str, Callable[..., Any],
                                                     Callable[[Any], Any]]]:
    every = [*_chain_components(),
             ("contract: numbers, times, names", _number_inputs, _number_run),
             ("contract: builders", _builder_inputs, _builder_run),
             ("replay reader", _replay_inputs, _replay_run),
             ("spool: crash at any byte, damage", _spool_inputs, _spool_run),
             ("notifier: one alert", _notifier_inputs, hostile_notifier_run)]
    if not only:
        return every
    return [c for c in every if any(c[0].startswith(o) for o in only)]


# ---------------------------------------------------------------- the runner

def _refusals() -> tuple[type[BaseException], ...]:
    from harness import hostile

    return (*hostile.refusals(), hostile.NotAnAlert)


def _child(name: str, only: list[str] | None, seed: int, start: int, stop: int,
           conn: Any) -> None:
    """Runs inputs start..stop-1 of one component; reports (index, outcome, ms) each."""
    import logging

    logging.disable(logging.CRITICAL)  # dead-letter warnings by the thousand
    sys.setrecursionlimit(1000)
    make, run = next((m, r) for n, m, r in components(only) if n == name)
    refused = _refusals()
    for i in range(start, stop):
        rng = random.Random(f"{seed}:{name}:{i}")
        item = make(rng, i)
        t0 = time.perf_counter()
        try:
            run(item)
            outcome = "ok"
        except refused:
            outcome = "refused"
        except BaseException as exc:  # that is what is counted
            outcome = f"{type(exc).__name__}"
            if isinstance(exc, AssertionError):
                outcome += f": {exc}"
            elif not isinstance(exc, RecursionError | MemoryError):
                frame = traceback.extract_tb(exc.__traceback__)[-1]
                outcome += f" at {Path(frame.filename).name}:{frame.lineno}"
        conn.send((i, outcome, (time.perf_counter() - t0) * 1000))
    conn.send(None)


def run_component(name: str, only: list[str] | None, seed: int, n: int,
                  timeout_s: float) -> Tally:
    tally = Tally(name)
    ctx = mp.get_context("fork")
    i = 0
    while i < n:
        parent, child = ctx.Pipe(duplex=False)
        proc = ctx.Process(target=_child, args=(name, only, seed, i, n, child), daemon=True)
        proc.start()
        child.close()
        while True:
            if not parent.poll(timeout_s):
                proc.kill()
                proc.join()
                tally.inputs += 1
                tally.frozen += 1
                tally.kinds["FROZE"] += 1
                tally.first.setdefault("FROZE", i)
                i += 1
                break
            try:
                got = parent.recv()
            except EOFError:  # the child died (e.g. killed by the OS): count, skip
                proc.join()
                tally.inputs += 1
                tally.escaped += 1
                tally.kinds[f"child died ({proc.exitcode})"] += 1
                i += 1
                break
            if got is None:
                proc.join()
                i = n
                break
            index, outcome, ms = got
            tally.add(index, outcome, ms)
            i = index + 1
        parent.close()
    return tally


def spool_open_seconds(segment_mb: int = 16) -> tuple[float, int]:
    """Seconds to open a spool holding one full segment of `segment_mb` MiB of 300-byte
    records (the old scan re-read the rest of the file for every record), and records."""
    from ingest.spool import Spool

    with tempfile.TemporaryDirectory() as d:
        sp = Spool(Path(d), segment_bytes=segment_mb << 20)
        value, n = b"v" * 260, 0
        while sp._fd_size < segment_mb << 20:  # the bench fills it exactly
            sp.append("prices", b"bybit:BTC", 1_795_183_200_000 + n, -1, value)
            n += 1
        sp.close()
        started = time.perf_counter()
        Spool(Path(d), segment_bytes=segment_mb << 20).close()
        return time.perf_counter() - started, n


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.hostile", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--inputs", type=int, default=2000, help="inputs per component")
    parser.add_argument("--seed", type=int, default=12)
    parser.add_argument("--timeout", type=float, default=5.0,
                        help="seconds an input may take before it counts as frozen")
    parser.add_argument("--only", nargs="*", help="components whose name starts so")
    parser.add_argument("--spool-open", type=int, default=0, metavar="MIB",
                        help="also time opening a spool with one full segment of MIB MiB")
    args = parser.parse_args(argv)
    if args.spool_open:
        seconds, records = spool_open_seconds(args.spool_open)
        print(f"spool open: one full {args.spool_open} MiB segment ({records} records): "
              f"{seconds:.2f} s", flush=True)
    started = time.monotonic()
    print(f"{'component':<38} {'inputs':>7} {'refused':>7} {'escaped':>7} {'slow':>5} "
          f"{'frozen':>6} {'p99 ms':>8} {'worst ms':>9}")
    total = Tally("total")
    for name, _, _ in components(args.only):
        tally = run_component(name, args.only, args.seed, args.inputs, args.timeout)
        print(tally.row(), flush=True)
        for kind, count in tally.kinds.most_common(4):
            print(f"    {count:>6} x {kind} (first at input {tally.first.get(kind)})")
        total.inputs += tally.inputs
        total.refused += tally.refused
        total.escaped += tally.escaped
        total.slow += tally.slow
        total.frozen += tally.frozen
        total.times_ms += tally.times_ms
    print(total.row())
    print(f"({time.monotonic() - started:.0f} s; slow = over {SLOW_MS:.0f} ms, frozen = over "
          f"{args.timeout:.0f} s; seed {args.seed})")
    return 0


if __name__ == "__main__":
    sys.exit(main())

