"""Etherscan API V2 (chainid=1): USDT and USDC transfers on Ethereum that touch a listed
exchange wallet, classified as exchange inflow, outflow or internal.

How: ERC-20 `Transfer` event logs of each token contract (`module=logs&action=getLogs
&address=<token>&topic0=<Transfer>`), walked forward block range by block range from the
last block done (kept in a small state file, so a restart resumes where it stopped)
up to the chain head minus a few confirmations (`eth_blockNumber`). getLogs is used, not
`tokentx`, because its rows carry `logIndex`: tx_hash + log_index identifies a transfer
(one transaction can move the same token several times). Every transfer of the token is
read (a few hundred thousand a day: a few hundred calls) and only those with a listed
exchange wallet on either side are published (ingest/data/exchange_addresses.csv).

Units: getLogs numbers are hex strings; `data` is the amount in the token's smallest unit,
so amount = int(data, 16) / 10**decimals exactly (6 for both tokens); amount_usd takes
the stablecoin at par ($1). Event time = the block's timeStamp.

Limits (notes §7): free plan 3 calls/s (was 5/s before late 2025) and 100,000 calls/day
per account; max 1000 records per call. Etherscan reports throttling and errors IN THE
BODY with HTTP 200 (`{"status":"0","message":"NOTOK","result":"Max calls per sec rate
limit reached (3/sec)"}`): those are backed off here, since the HTTP client only sees a
200. "No records found" / "No transactions found" are an empty result, not an error.
The key (ETHERSCAN_API_KEY) is a query parameter by Etherscan's design; the HTTP client
redacts parameters named like keys from every log line and error it writes.
"""

from __future__ import annotations

import csv
import json
import os
import random
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field

from ingest.contract import PayloadError, array, flow_msg, req, short, ts_ms
from ingest.http import HttpError
from ingest.settings import SourceOptions
from ingest.source import SourceContext
from lcm.deadletter import raw_text
from lcm.topics import STABLECOIN_FLOWS

CHAIN = "ethereum"
API_PATH = "/v2/api"
TRANSFER_TOPIC = "0xddf252ad1be2c89b69c2b068fc378daa952ba7f163c4a11628f55a4df523b3ef"
MAX_RECORDS = 1000  # per getLogs call (free plan)
EMPTY_MESSAGES = ("no records found", "no transactions found")
DATA_DIR = Path(__file__).resolve().parent.parent / "data"
ADDRESSES_FILE = DATA_DIR / "exchange_addresses.csv"
ADDRESS_COLUMNS = ("address", "exchange", "name_tag", "source")


class Token(BaseModel):
    contract: str = Field(pattern=r"^0x[0-9a-fA-F]{40}$")
    decimals: int = Field(ge=0, le=36)


class Options(SourceOptions):
    chainid: int = 1
    tokens: dict[str, Token] = Field(default_factory=lambda: {
        "USDT": Token(contract="0xdAC17F958D2ee523a2206206994597C13D831ec7", decimals=6),
        "USDC": Token(contract="0xA0b86991c6218b36c1d19D4a2e9Eb0cE3606eB48", decimals=6),
    })
    confirmations: int = Field(default=3, ge=0, le=100)  # stay behind the head (reorgs)
    max_blocks_per_call: int = Field(default=200, ge=1, le=100_000)
    start_lookback_blocks: int = Field(default=25, ge=0)  # first start: this far behind head
    state_file: Path = Path(".state/ingest/etherscan_cursor.json")
    addresses_file: Path = ADDRESSES_FILE
    daily_call_cap: int = Field(default=90_000, ge=1)  # below the 100,000/day account cap
    body_throttle_seconds: float = Field(default=1.0, gt=0, le=3600)
    max_body_retries: int = Field(default=5, ge=1, le=50)


# ---------------------------------------------------------------- exchange wallets

@dataclass(frozen=True)
class Wallet:
    exchange: str
    name_tag: str


def load_wallets(path: Path = ADDRESSES_FILE) -> dict[str, Wallet]:
    """address (lowercase) -> Wallet, from the shipped CSV; a malformed row names the file
    and line (an address listed twice is an error: which exchange would it be?)."""
    wallets: dict[str, Wallet] = {}
    with path.open(encoding="utf-8", newline="") as fh:
        reader = csv.DictReader(fh)
        if tuple(reader.fieldnames or ()) != ADDRESS_COLUMNS:
            raise ValueError(f"{path}: header must be {','.join(ADDRESS_COLUMNS)}, "
                             f"got {reader.fieldnames}")
        for n, row in enumerate(reader, 2):
            addr = (row["address"] or "").strip().lower()
            if len(addr) != 42 or not addr.startswith("0x") or not _is_hex(addr[2:]):
                raise ValueError(f"{path}:{n}: address: not a 0x + 40 hex address: {addr!r}")
            if not (row["exchange"] or "").strip() or not (row["source"] or "").strip():
                raise ValueError(f"{path}:{n}: exchange and source must be set")
            if addr in wallets:
                raise ValueError(f"{path}:{n}: {addr} is listed twice")
            wallets[addr] = Wallet(row["exchange"].strip(), row["name_tag"].strip())
    return wallets


def _is_hex(text: str) -> bool:
    try:
        int(text, 16)
    except ValueError:
        return False
    return True


def classify(from_addr: str, to_addr: str, wallets: dict[str, Wallet]
             ) -> tuple[str, str] | None:
    """(direction, exchange_label) of a transfer, or None when no listed wallet is on
    either side. Between two listed wallets it is 'internal' (labelled 'a->b' when they
    belong to different exchanges): not money entering or leaving exchanges."""
    src, dst = wallets.get(from_addr.lower()), wallets.get(to_addr.lower())
    if src and dst:
        label = src.exchange if src.exchange == dst.exchange else f"{src.exchange}->{dst.exchange}"
        return "internal", label
    if dst:
        return "inflow", dst.exchange
    if src:
        return "outflow", src.exchange
    return None


# ---------------------------------------------------------------- pure parsing

class BodyThrottle(HttpError):
    """Etherscan said 'slow down' (or another NOTOK) in a 200 answer: retried with backoff;
    after the last attempt it is an HTTP failure like any other (logged, the next poll
    resumes from the cursor)."""


def result_rows(payload: Any, where: str) -> list[Any]:
    """The `result` list of an Etherscan answer; [] for 'no records'; BodyThrottle for a
    NOTOK (rate limit, invalid key, ...); PayloadError for anything else."""
    status = req(payload, "status", where)
    message = str(payload.get("message", ""))
    result = payload.get("result")
    if status == "1":
        return array(result, "result", where)
    if status == "0" and message.lower() in EMPTY_MESSAGES:
        return []
    if status == "0":
        raise BodyThrottle(f"{message}: {result}")
    raise PayloadError(f"{where}: status: expected '1' or '0', got {status!r}")


def block_number(payload: Any, where: str = "eth_blockNumber") -> int:
    """The head block from the proxy eth_blockNumber answer (JSON-RPC, hex)."""
    if isinstance(payload, dict) and payload.get("status") == "0":
        raise BodyThrottle(f"{payload.get('message')}: {payload.get('result')}")
    return hex_int(req(payload, "result", where), "result", where)


def block_exists(payload: Any, number: int, where: str = "eth_getBlockByNumber") -> bool:
    """Whether the proxy eth_getBlockByNumber answer is block `number` (JSON-RPC: the
    block object, or null for a block the chain does not have yet)."""
    if isinstance(payload, dict) and payload.get("status") == "0":
        raise BodyThrottle(f"{payload.get('message')}: {short(payload.get('result'))}")
    block = req(payload, "result", where)
    if block is None:
        return False
    return hex_int(req(block, "number", where), "number", where) == number


def topic_address(topic: Any, where: str) -> str:
    """0x + the last 20 bytes of a 32-byte indexed address topic."""
    if not isinstance(topic, str) or len(topic) != 66 or not topic.startswith("0x"):
        raise PayloadError(f"{where}: topic: expected a 32-byte 0x hex value, got {short(topic)}")
    return "0x" + topic[-40:].lower()


def hex_int(value: Any, field: str, where: str) -> int:
    """A 0x hex number of at most 256 bits (an amount, a block, an index)."""
    if not isinstance(value, str) or not value.lower().startswith("0x") or len(value) > 66:
        raise PayloadError(f"{where}: {field}: expected a 0x hex string of up to 64 digits, "
                           f"got {short(value)}")
    try:
        return int(value, 16)
    except ValueError:
        raise PayloadError(f"{where}: {field}: not hex: {short(value)}") from None


def token_amount(raw_units: int, decimals: int) -> Decimal:
    """Exact token amount: 250000000000 units of a 6-decimal token = 250000 tokens."""
    return Decimal(raw_units).scaleb(-decimals)


def parse_transfer_log(log: Any, token: str, decimals: int, wallets: dict[str, Wallet],
                       where: str = "getLogs") -> dict[str, Any] | None:
    """A stablecoin_flows message for one Transfer log, or None when it touches no listed
    exchange wallet."""
    topics = req(log, "topics", where)
    if not isinstance(topics, list) or len(topics) != 3 or str(topics[0]).lower() != TRANSFER_TOPIC:
        raise PayloadError(f"{where}: topics: not an ERC-20 Transfer(from, to, value) log")
    src, dst = topic_address(topics[1], where), topic_address(topics[2], where)
    kind = classify(src, dst, wallets)
    if kind is None:
        return None
    direction, label = kind
    tx_hash = req(log, "transactionHash", where)
    return flow_msg(
        CHAIN, token, ts_ms(req(log, "timeStamp", where), "timeStamp", where, "hex_s"),
        tx_hash=tx_hash, log_index=hex_int(req(log, "logIndex", where), "logIndex", where),
        amount_usd=token_amount(hex_int(req(log, "data", where), "data", where), decimals),
        from_addr=src, to_addr=dst, direction=direction, exchange_label=label,
        where=f"{where} {tx_hash}")


# ---------------------------------------------------------------- state (resume)

class Cursor:
    """Next block to read per token and the calls spent today, in one JSON file written
    atomically after every block range is published."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.next_block: dict[str, int] = {}
        self.day = ""
        self.calls = 0
        self.verified_block = -1  # the newest block seen to exist (eth_getBlockByNumber)
        if path.exists():
            try:
                data = json.loads(path.read_text(encoding="utf-8"))
                self.next_block = {str(k): int(v) for k, v in data.get("next_block", {}).items()}
                self.day = str(data.get("day", ""))
                self.calls = int(data.get("calls", 0))
                self.verified_block = int(data.get("verified_block", -1))
            except (ValueError, TypeError, AttributeError, OSError) as exc:
                raise ValueError(f"{path}: not an Etherscan cursor ({exc}); move it away to "
                                 "start again from start_lookback_blocks") from None

    def save(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_suffix(".tmp")
        tmp.write_text(json.dumps({"next_block": self.next_block, "day": self.day,
                                   "calls": self.calls,
                                   "verified_block": self.verified_block}), encoding="utf-8")
        os.replace(tmp, self.path)


# ---------------------------------------------------------------- I/O

class EtherscanSource:
    def __init__(self, ctx: SourceContext) -> None:
        self.ctx = ctx
        self.options = ctx.options_as(Options)
        self.client = ctx.http()
        self.key = ctx.settings.api_key()
        if not self.key:
            ctx.log.warning("no Etherscan API key in $%s: Etherscan allows 1 call per 5 s "
                            "without one", ctx.settings.api_key_env)
        self.wallets = load_wallets(_in_repo(self.options.addresses_file))
        self.cursor = Cursor(_in_repo(self.options.state_file))

    async def call(self, params: dict[str, Any], where: str) -> Any:
        """One API call within the daily cap, retried while Etherscan throttles in the
        body (status 0 / NOTOK, HTTP 200)."""
        query = {"chainid": self.options.chainid, **params}
        if self.key:
            query["apikey"] = self.key
        for attempt in range(1, self.options.max_body_retries + 1):
            await self._spend_call()
            payload = await self.client.get_json(API_PATH, query)
            try:
                if params.get("action") == "eth_blockNumber":
                    return block_number(payload, where)
                if params.get("action") == "eth_getBlockByNumber":
                    return payload  # read by block_exists (a null result is an answer)
                return result_rows(payload, where)
            except PayloadError as exc:  # the answer goes with it to the dead letters
                exc.raw = raw_text(payload) if exc.raw is None else exc.raw
                exc.where = exc.where or where
                raise
            except BodyThrottle as exc:
                wait = self.options.body_throttle_seconds * 2 ** (attempt - 1)
                self.ctx.error(f"{where}: Etherscan answered {exc}; retry {attempt} in "
                               f"{wait:.1f} s")
                if not await self.ctx.sleep(random.uniform(wait / 2, wait)):
                    raise
        raise BodyThrottle(f"{where}: still throttled after {self.options.max_body_retries} "
                           "attempts")

    async def _spend_call(self) -> None:
        """Count a call against the daily cap; at the cap, wait for the next UTC day."""
        today = datetime.now(UTC).strftime("%Y-%m-%d")
        if self.cursor.day != today:
            self.cursor.day, self.cursor.calls = today, 0
        if self.cursor.calls >= self.options.daily_call_cap:
            now = datetime.now(UTC)
            left = 86_400 - (now.hour * 3600 + now.minute * 60 + now.second)
            self.ctx.log.warning("daily call cap %d reached; waiting %d s for the next UTC day",
                                 self.options.daily_call_cap, left)
            await self.ctx.sleep(left)
            self.cursor.day, self.cursor.calls = datetime.now(UTC).strftime("%Y-%m-%d"), 0
        self.cursor.calls += 1

    async def head(self) -> int:
        return await self.call({"module": "proxy", "action": "eth_blockNumber"},
                               "eth_blockNumber")

    async def logs(self, token: str, spec: Token, lo: int, hi: int) -> tuple[list[Any], int]:
        """Transfer logs of [lo, hi]; when a call is full (1000 rows), only the blocks it
        covers completely are returned, and the block to continue from."""
        where = f"getLogs {token} {lo}-{hi}"
        rows = await self.call(
            {"module": "logs", "action": "getLogs", "address": spec.contract,
             "topic0": TRANSFER_TOPIC, "fromBlock": lo, "toBlock": hi, "page": 1,
             "offset": MAX_RECORDS}, where)
        if len(rows) < MAX_RECORDS:
            return rows, hi + 1
        blocks = [hex_int(req(r, "blockNumber", where), "blockNumber", where) for r in rows]
        last = max(blocks)
        if last == lo:  # one block with 1000+ transfers: take it whole, page by page
            return await self._whole_block(token, spec, lo, rows), lo + 1
        return [r for r, b in zip(rows, blocks, strict=True) if b < last], last

    async def _whole_block(self, token: str, spec: Token, block: int, first: list[Any]
                           ) -> list[Any]:
        rows, page = list(first), 1
        while len(first) == MAX_RECORDS and page < 10:  # page * offset <= 10,000
            page += 1
            first = await self.call(
                {"module": "logs", "action": "getLogs", "address": spec.contract,
                 "topic0": TRANSFER_TOPIC, "fromBlock": block, "toBlock": block,
                 "page": page, "offset": MAX_RECORDS}, f"getLogs {token} {block} p{page}")
            rows.extend(first)
        return rows

    def publish_logs(self, token: str, spec: Token, rows: list[Any], where: str) -> int:
        sent = 0
        for log in rows:
            try:
                msg = parse_transfer_log(log, token, spec.decimals, self.wallets, where)
            except PayloadError as exc:
                self.ctx.dead_letter(exc.reason, log, where)
                continue
            if msg is not None:
                self.ctx.publish(STABLECOIN_FLOWS, msg)
                sent += 1
        return sent

    async def catch_up(self, token: str, spec: Token, head: int) -> int:
        """Read token transfers from its cursor up to `head`, saving progress per range."""
        last = head - self.options.confirmations
        nxt = self.cursor.next_block.get(token)
        if nxt is None:
            nxt = max(0, last - self.options.start_lookback_blocks + 1)
        sent = 0
        while nxt <= last and not self.ctx.stopping.is_set():
            hi = min(last, nxt + self.options.max_blocks_per_call - 1)
            rows, nxt_new = await self.logs(token, spec, nxt, hi)
            sent += self.publish_logs(token, spec, rows, f"getLogs {token}")
            nxt = nxt_new
            self.cursor.next_block[token] = nxt
            self.cursor.save()
        return sent

    async def trusted_head(self) -> int | None:
        """The head from eth_blockNumber, if the chain has the block we would read up to:
        a bogus head (a glitch, a proxy's error page decoded as a number) would send the
        cursor through empty ranges past the real head and save it there, and those blocks
        would never be read. Checked with eth_getBlockByNumber whenever the head moves past
        the last block checked; None (and an error, and the answer dead-lettered) if not."""
        head = await self.head()
        last = head - self.options.confirmations
        if last <= self.cursor.verified_block:
            return head
        payload = await self.call({"module": "proxy", "action": "eth_getBlockByNumber",
                                   "tag": hex(last), "boolean": "false"},
                                  "eth_getBlockByNumber")
        try:
            exists = block_exists(payload, last)
        except PayloadError as exc:
            self.ctx.dead_letter(exc.reason, payload, "eth_getBlockByNumber")
            return None
        if not exists:
            reason = (f"eth_blockNumber said {head} ({hex(head)}), but block {last} does not "
                      "exist: the head is not trusted, nothing read past the last checked "
                      f"block {self.cursor.verified_block}")
            self.ctx.error(reason)
            self.ctx.dead_letter(reason, payload, "eth_getBlockByNumber")
            return None
        self.cursor.verified_block = last
        return head

    async def poll_once(self) -> int:
        head = await self.trusted_head()
        if head is None:
            return 0
        sent = 0
        for token, spec in self.options.tokens.items():
            sent += await self.catch_up(token, spec, head)
        return sent


async def poll(ctx: SourceContext, source: EtherscanSource) -> None:
    """One pass over every token; a failure ends the pass, the next one resumes from the
    cursor (saved after every range)."""
    await ctx.fetch(source.poll_once(), API_PATH)


async def run(ctx: SourceContext) -> None:
    source = EtherscanSource(ctx)
    await ctx.run_tasks([ctx.repeat(ctx.settings.poll_seconds, poll, ctx, source)])


def _in_repo(path: Path) -> Path:
    """Relative paths in config/ingest.yaml are relative to the repository."""
    from lcm.paths import REPO_DIR

    return path if path.is_absolute() else REPO_DIR / path
