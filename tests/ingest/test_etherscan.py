"""Etherscan: exact 6-decimal amounts, inflow/outflow/internal against the shipped wallet
list, Etherscan's in-body throttling and empty answers, resume from the saved block, the
key never logged; against a local server replaying the documented payloads."""

from __future__ import annotations

import asyncio
import json
import logging
from decimal import Decimal
from pathlib import Path

import pytest

from harness.local_servers import HttpServer, Reply, Seen
from ingest.contract import PayloadError
from ingest.sources import etherscan as es
from tests.ingest.source_harness import fixture, make_ctx, run_until

WALLETS = es.load_wallets()
LOGS = json.loads(fixture("etherscan", "getlogs_usdt.json"))["result"]
HEAD = int(json.loads(fixture("etherscan", "block_number.json"))["result"], 16)
KEY = "ESKEY1234567890ABCDEFtest"


def test_amounts_are_exact_from_6_decimal_units():
    assert es.token_amount(250_000_000_000, 6) == Decimal("250000")
    assert es.token_amount(1_234_567_891_011, 6) == Decimal("1234567.891011")
    assert es.token_amount(75_000_000_001, 6) == Decimal("75000.000001")
    assert es.token_amount(int("0x3a35294400", 16), 6) == Decimal("250000")


def test_shipped_wallet_list_loads_and_cites_a_source_per_entry():
    assert len(WALLETS) >= 60
    assert WALLETS["0x28c6c06298d514db089934071355e5743bf21d60"].exchange == "binance"
    assert {w.exchange for w in WALLETS.values()} >= {"binance", "coinbase", "okx", "bybit",
                                                      "kraken"}
    # the USDT contract mislabeled "Bitfinex 6" in the upstream file is left out
    assert "0xdac17f958d2ee523a2206206994597c13d831ec7" not in WALLETS


def test_wallet_list_errors_name_file_and_line(tmp_path: Path):
    bad = tmp_path / "w.csv"
    bad.write_text("address,exchange,name_tag,source\n"
                   "0x28c6c06298d514db089934071355e5743bf21d60,binance,B,src\n"
                   "0x28C6C06298D514DB089934071355E5743BF21D60,okx,O,src\n")
    with pytest.raises(ValueError, match=r"w.csv:3: .* listed twice"):
        es.load_wallets(bad)
    bad.write_text("address,exchange\n0x1,binance\n")
    with pytest.raises(ValueError, match="header"):
        es.load_wallets(bad)


def test_classification():
    binance, okx, kraken = ("0x28c6c06298d514db089934071355e5743bf21d60",
                            "0x6cc5f688a315f3dc28a7781717a9a798a59fda7b",
                            "0x2910543af39aba0cd09dbb2d50200b3e800a63d2")
    user = "0x5a1e0b1ba1c9e4e7e4f1b0f2a3c1e2d3f4a5b6c7"
    assert es.classify(user, binance, WALLETS) == ("inflow", "binance")
    assert es.classify(binance.upper().replace("0X", "0x"), user, WALLETS) == ("outflow", "binance")
    assert es.classify(okx, kraken, WALLETS) == ("internal", "okx->kraken")
    assert es.classify(binance, "0x21a31ee1afc51d94c2efccaa2092ad1028285549", WALLETS) == (
        "internal", "binance")
    assert es.classify(user, user, WALLETS) is None


def test_transfer_logs_parse_to_flows():
    msgs = [es.parse_transfer_log(log, "USDT", 6, WALLETS) for log in LOGS]
    inflow, outflow, unrelated, internal = msgs
    assert unrelated is None
    assert inflow["direction"] == "inflow" and inflow["exchange_label"] == "binance"
    assert inflow["amount_usd"] == 250000.0 and inflow["log_index"] == 0x5c
    assert inflow["ts"] == 1795183223000  # timeStamp is hex seconds
    assert inflow["chain"] == "ethereum" and inflow["token"] == "USDT" and inflow["base"] == "USDT"
    assert inflow["tx_hash"] == LOGS[0]["transactionHash"]
    assert inflow["to"] == "0x28c6c06298d514db089934071355e5743bf21d60"
    assert outflow["direction"] == "outflow" and outflow["amount_usd"] == 1234567.891011
    assert internal["direction"] == "internal" and internal["exchange_label"] == "okx->kraken"


def test_malformed_log_names_the_field():
    with pytest.raises(PayloadError, match="data"):
        es.parse_transfer_log({**LOGS[0], "data": "250000"}, "USDT", 6, WALLETS)
    with pytest.raises(PayloadError, match="Transfer"):
        es.parse_transfer_log({**LOGS[0], "topics": LOGS[0]["topics"][:2]}, "USDT", 6, WALLETS)


def test_in_body_answers():
    assert es.result_rows(json.loads(fixture("etherscan", "no_records.json")), "w") == []
    assert es.result_rows(json.loads(fixture("etherscan", "no_transactions.json")), "w") == []
    with pytest.raises(es.BodyThrottle, match="rate limit"):
        es.result_rows(json.loads(fixture("etherscan", "rate_limit.json")), "w")
    with pytest.raises(es.BodyThrottle, match="Invalid API Key"):
        es.result_rows(json.loads(fixture("etherscan", "invalid_key.json")), "w")
    assert es.block_number(json.loads(fixture("etherscan", "block_number.json"))) == HEAD


# ---------------------------------------------------------------- against a local http_server

class Chain:
    """Answers /v2/api by module/action/address like Etherscan does, from scripted replies
    (served in order; the last one repeats)."""

    def __init__(self, server: HttpServer, usdt: list[Reply], usdc: list[Reply],
                 head: list[Reply] | None = None) -> None:
        self.queues = {"head": head or [Reply(200, fixture("etherscan", "block_number.json"))],
                       "USDT": usdt, "USDC": usdc}
        self.server = server
        server.add(es.API_PATH, self.answer)

    def answer(self, request: Seen) -> Reply:
        q = request.query
        if q.get("action") == "eth_getBlockByNumber":  # every block up to the head exists
            block = json.loads(fixture("etherscan", "block_by_number.json"))
            block["result"]["number"] = q["tag"]
            return Reply(200, block)
        usdt = es.Options().tokens["USDT"].contract.lower()
        key = ("head" if q.get("action") == "eth_blockNumber" else
               "USDT" if q.get("address", "").lower() == usdt else "USDC")
        queue = self.queues[key]
        return queue.pop(0) if len(queue) > 1 else queue[0]

    def calls(self, token: str) -> list[Seen]:
        contract = es.Options().tokens[token].contract.lower()
        return [r for r in self.server.requests
                if r.query.get("address", "").lower() == contract]


def make(server: HttpServer, tmp_path: Path, monkeypatch, **options):
    monkeypatch.setenv("LCM_TEST_ETHERSCAN_KEY", KEY)
    opts = {"state_file": str(tmp_path / "cursor.json"), "body_throttle_seconds": 0.05,
            "start_lookback_blocks": 5, "confirmations": 2, **options}
    return make_ctx("etherscan", es, server.url, options=opts, poll_seconds=0.05,
                    budget={"requests": 100, "per_seconds": 1},
                    api_key_env="LCM_TEST_ETHERSCAN_KEY")


def run(ctx, until) -> None:
    asyncio.run(run_until(ctx, es.run, until))


def test_source_reads_both_tokens_and_saves_the_next_block(http_server, tmp_path, monkeypatch,
                                                           caplog):
    caplog.set_level(logging.DEBUG)
    chain = Chain(http_server, [Reply(200, fixture("etherscan", "getlogs_usdt.json"))],
                  [Reply(200, fixture("etherscan", "getlogs_usdc.json"))])
    ctx = make(http_server, tmp_path, monkeypatch)
    run(ctx, lambda: len(chain.calls("USDC")) >= 1)
    flows = ctx.sink.topic("stablecoin_flows")
    assert [(f["token"], f["direction"]) for f in flows[:4]] == [
        ("USDT", "inflow"), ("USDT", "outflow"), ("USDT", "internal"), ("USDC", "outflow")]
    assert flows[3]["amount_usd"] == 75000.000001 and flows[3]["exchange_label"] == "kucoin"
    q = chain.calls("USDT")[0].query
    assert q["chainid"] == "1" and q["module"] == "logs" and q["action"] == "getLogs"
    assert q["topic0"] == es.TRANSFER_TOPIC and q["apikey"] == KEY
    last = HEAD - 2  # confirmations
    assert (int(q["fromBlock"]), int(q["toBlock"])) == (last - 4, last)
    saved = json.loads((tmp_path / "cursor.json").read_text())
    assert saved["next_block"] == {"USDT": last + 1, "USDC": last + 1}
    assert KEY not in caplog.text
    assert not ctx.sink.dead_letters


def test_resumes_from_the_saved_block(http_server, tmp_path, monkeypatch):
    (tmp_path / "cursor.json").write_text(json.dumps({"next_block": {"USDT": HEAD - 30,
                                                                     "USDC": HEAD - 30}}))
    chain = Chain(http_server, [Reply(200, fixture("etherscan", "no_records.json"))],
                  [Reply(200, fixture("etherscan", "no_records.json"))])
    ctx = make(http_server, tmp_path, monkeypatch, max_blocks_per_call=10)
    run(ctx, lambda: len(chain.calls("USDC")) >= 3)
    ranges = [(int(r.query["fromBlock"]), int(r.query["toBlock"])) for r in chain.calls("USDT")]
    assert ranges[:3] == [(HEAD - 30, HEAD - 21), (HEAD - 20, HEAD - 11), (HEAD - 10, HEAD - 2)]
    assert not ctx.sink.messages and not ctx.sink.dead_letters  # "No records found" = empty


def test_in_body_rate_limit_is_backed_off_and_retried(http_server, tmp_path, monkeypatch,
                                                      caplog):
    caplog.set_level(logging.DEBUG)
    chain = Chain(http_server, [Reply(200, fixture("etherscan", "rate_limit.json")),
                           Reply(200, fixture("etherscan", "getlogs_usdt.json"))],
                  [Reply(200, fixture("etherscan", "no_records.json"))])
    ctx = make(http_server, tmp_path, monkeypatch)
    run(ctx, lambda: len(chain.calls("USDC")) >= 1)
    usdt = chain.calls("USDT")
    assert usdt[0].query["fromBlock"] == usdt[1].query["fromBlock"]  # the same range again
    assert len(ctx.sink.topic("stablecoin_flows")) == 3
    assert ctx.health.errors >= 1 and "rate limit" in caplog.text
    assert KEY not in caplog.text


def test_http_429_5xx_and_malformed_body(http_server, tmp_path, monkeypatch, caplog):
    caplog.set_level(logging.DEBUG)
    bad_log = json.loads(fixture("etherscan", "getlogs_usdt.json"))
    bad_log["result"][0]["logIndex"] = "92"  # not hex: that transfer is dead-lettered
    bad_log["result"][1]["removed"] = False   # an extra field: tolerated
    chain = Chain(http_server, [Reply(429, "{}", {"Retry-After": "1"}), Reply(502, "gateway"),
                           Reply(200, b"<html>maintenance</html>"), Reply(200, bad_log)],
                  [Reply(200, fixture("etherscan", "no_records.json"))])
    ctx = make(http_server, tmp_path, monkeypatch)
    run(ctx, lambda: len(chain.calls("USDC")) >= 1)
    dls = ctx.sink.dead_letters
    assert any("not JSON" in d["reason"] and d["raw"].startswith("<html>") for d in dls)
    assert any("logIndex" in d["reason"] for d in dls)
    assert all(d["source"] == "etherscan" for d in dls)
    assert [f["direction"] for f in ctx.sink.topic("stablecoin_flows")] == ["outflow", "internal"]
    assert KEY not in caplog.text and all(KEY not in json.dumps(d) for d in dls)


def test_a_full_answer_continues_from_its_last_block(http_server, tmp_path, monkeypatch):
    template = LOGS[0]
    block = HEAD - 10
    full = [{**template, "blockNumber": hex(block + (i >= 700)), "logIndex": hex(i)}
            for i in range(es.MAX_RECORDS)]
    chain = Chain(http_server, [Reply(200, {"status": "1", "message": "OK", "result": full}),
                           Reply(200, fixture("etherscan", "no_records.json"))],
                  [Reply(200, fixture("etherscan", "no_records.json"))])
    ctx = make(http_server, tmp_path, monkeypatch, start_lookback_blocks=20)
    run(ctx, lambda: len(chain.calls("USDC")) >= 1)
    usdt = chain.calls("USDT")
    assert int(usdt[1].query["fromBlock"]) == block + 1  # re-read the partial last block
    assert len(ctx.sink.topic("stablecoin_flows")) == 700  # only the complete block
