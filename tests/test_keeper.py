"""The job keeper (flink_jobs/keeper.py): which checkpoint a lost job resumes from, and what
it does with each state a registered job can be in. One function each; the cluster's
answers are given, the resubmission is recorded instead of run."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from flink_jobs import keeper


def _chk(root: Path, jid: str, n: int, mtime: float, complete: bool = True) -> Path:
    d = root / jid / f"chk-{n}"
    d.mkdir(parents=True)
    if complete:
        (d / "_metadata").write_bytes(b"x")
        os.utime(d / "_metadata", (mtime, mtime))
    return d


def test_latest_checkpoint_is_the_newest_complete_one_of_any_id(tmp_path: Path) -> None:
    _chk(tmp_path, "a" * 32, 7, 100)
    newest = _chk(tmp_path, "b" * 32, 2, 300)  # the resubmitted job's, newer
    _chk(tmp_path, "b" * 32, 3, 400, complete=False)  # being written when the JM died
    _chk(tmp_path, "c" * 32, 9, 500)  # another job's
    assert keeper.latest_checkpoint(["a" * 32, "b" * 32], tmp_path) == newest
    assert keeper.latest_checkpoint(["d" * 32], tmp_path) is None


@pytest.fixture
def registry(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("LCM_STATE_DIR", str(tmp_path))
    jobs = tmp_path / "flink" / "jobs"
    jobs.mkdir(parents=True)

    def add(name: str, jid: str, keep: bool = True) -> Path:
        path = jobs / f"{name}.json"
        path.write_text(json.dumps({"name": name, "job_id": jid, "keep": keep,
                                    "history": [jid], "args": [], "env": {}}))
        return path
    return add


def test_tick_resubmits_lost_jobs_only(registry, monkeypatch: pytest.MonkeyPatch) -> None:
    running = registry("m-running", "1" * 32)
    lost = registry("m-lost", "2" * 32)
    cancelled = registry("m-cancelled", "3" * 32)
    failed = registry("m-failed", "4" * 32)
    stopped = registry("m-stopped", "5" * 32, keep=False)
    states = {"1" * 32: "RESTARTING", "3" * 32: "CANCELED", "4" * 32: "FAILED"}
    monkeypatch.setattr(keeper, "cluster_states", lambda conn: states)
    sent: list[str] = []
    monkeypatch.setattr(keeper, "resubmit", lambda e: sent.append(e["name"]) or True)
    keeper.tick(None, {})
    assert sorted(sent) == ["m-failed", "m-lost"]  # unknown to the cluster, or failed for good
    assert json.loads(cancelled.read_text())["keep"] is False  # cancelled on purpose
    assert running.exists() and lost.exists() and failed.exists() and stopped.exists()


def test_tick_waits_for_the_jobmanager_and_backs_off(registry, monkeypatch) -> None:
    registry("m", "1" * 32)
    sent: list[str] = []
    monkeypatch.setattr(keeper, "resubmit", lambda e: sent.append(e["name"]) or False)
    monkeypatch.setattr(keeper, "cluster_states", lambda conn: None)  # JM not answering
    retry: dict[str, float] = {}
    keeper.tick(None, retry)
    assert sent == []
    monkeypatch.setattr(keeper, "cluster_states", lambda conn: {})  # JM back, job unknown
    keeper.tick(None, retry)
    keeper.tick(None, retry)  # the failed resubmission is retried only after RETRY_S
    assert sent == ["m"]
