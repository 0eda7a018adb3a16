"""The resume that docs/operations.md documents works as written: a cancelled job comes back
with `stack/job.sh resume` (`make resume-job`) from its newest retained checkpoint, and the
keeper leaves a job cancelled on purpose alone."""

from __future__ import annotations

import json
import subprocess

import pytest

from harness.sandbox import STACK, Sandbox, flink_rest
from lcm.paths import state_dir
from tests.conftest import wait_for

pytestmark = pytest.mark.stack


def _completed_checkpoint(box: Sandbox, jid: str) -> dict | None:
    return flink_rest(f"/jobs/{jid}/checkpoints", box.conn)["latest"]["completed"]


def test_resume_from_the_newest_checkpoint(sandbox: Sandbox) -> None:
    first = sandbox.submit_job()
    chk = wait_for(lambda: _completed_checkpoint(sandbox, first), 120,
                   "a completed checkpoint of the first job")
    entry = state_dir() / "flink" / "jobs" / f"{sandbox.job_name}.json"
    assert json.loads(entry.read_text())["job_id"] == first  # registered for the keeper

    cancel = subprocess.run([STACK / "job.sh", "cancel"], env=sandbox.env, capture_output=True,
                            text=True, timeout=60)
    assert cancel.returncode == 0, cancel.stderr
    wait_for(lambda: flink_rest(f"/jobs/{first}", sandbox.conn)["state"] == "CANCELED", 60,
             "the first job cancelled")
    assert json.loads(entry.read_text())["keep"] is False  # the keeper leaves it be

    latest = subprocess.run([STACK / "job.sh", "latest-checkpoint"], env=sandbox.env,
                            capture_output=True, text=True, timeout=60).stdout.strip()
    assert latest.startswith(str(state_dir() / "flink" / "checkpoints" / first / "chk-"))
    assert int(latest.rsplit("-", 1)[1]) >= chk["id"]

    run = subprocess.run([STACK / "job.sh", "resume"], env=sandbox.env, capture_output=True,
                         text=True, timeout=600)
    assert run.returncode == 0, run.stderr
    second = next(line.split("=", 1)[1] for line in run.stdout.splitlines()
                  if line.startswith("JOB_ID="))
    sandbox.jobs.append(second)
    restored = wait_for(
        lambda: flink_rest(f"/jobs/{second}/checkpoints", sandbox.conn)["latest"]["restored"],
        120, "the resumed job to report the checkpoint it restored")
    assert restored["external_path"].rstrip("/").endswith(latest.rsplit("/", 2)[-2] + "/"
                                                          + latest.rsplit("/", 1)[-1])
    assert json.loads(entry.read_text())["history"][-2:] == [first, second]
