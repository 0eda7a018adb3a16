"""lcm-job on the local Flink cluster: submit into a sandbox, stop with a savepoint (the
upgrade path), submit again from that savepoint, and resume from the newest retained
checkpoint when the cluster no longer knows the job (what a JobManager restart without HA
leaves behind). Plus the restore-point choice on its own."""

from __future__ import annotations

import re
import subprocess
import sys
import time
from pathlib import Path

import pytest

from flink_jobs import submit
from flink_jobs.cluster import flink_rest
from lcm.settings import Connections
from tests.conftest import Sandbox, wait_for


def test_restore_point_prefers_the_newest(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("LCM_STATE_DIR", str(tmp_path / "state"))
    target = submit.Target(Connections(), "x-monitor")
    assert submit.restore_point(target) is None
    ckpts = tmp_path / "ckpt"
    for n in (3, 12, 7):
        (ckpts / "job1" / f"chk-{n}").mkdir(parents=True)
        (ckpts / "job1" / f"chk-{n}" / "_metadata").write_bytes(b"m")
    (ckpts / "job1" / "chk-13").mkdir()  # in progress: no _metadata yet
    target.remember(job_id="job1", checkpoint_dir=ckpts.as_uri())
    assert submit.restore_point(target) == str(ckpts / "job1" / "chk-12")
    savepoint = tmp_path / "sp" / "savepoint-1"
    savepoint.mkdir(parents=True)
    target.remember(savepoint=savepoint.as_uri(), savepoint_at=str(time.time() + 60))
    assert submit.restore_point(target) == savepoint.as_uri()
    target.remember(savepoint=f"file:{savepoint}")  # the form Flink reports locations in
    assert submit.restore_point(target) == f"file:{savepoint}"
    target.remember(savepoint_at="0")  # older than the checkpoint
    assert submit.restore_point(target) == str(ckpts / "job1" / "chk-12")


def _lcm_job(box: Sandbox, *args: str, timeout: float = 400) -> subprocess.CompletedProcess:
    env = {**box.env, "LCM_SLOT_WAIT_S": "120"}
    return subprocess.run([sys.executable, "-m", "flink_jobs.submit",
                           "--topic-prefix", box.prefix, *args], env=env,
                          capture_output=True, text=True, timeout=timeout)


@pytest.mark.stack
def test_stop_with_savepoint_and_resume(sandbox: Sandbox) -> None:
    target = submit.Target(sandbox.conn, f"{sandbox.prefix}liquidation-cascade-monitor")
    try:
        first = _lcm_job(sandbox, "submit")
        assert first.returncode == 0, first.stderr + first.stdout
        assert "no savepoint or checkpoint: fresh state" in first.stdout
        job1 = re.search(r"JOB_ID=(\w+)", first.stdout).group(1)
        sandbox.jobs.append(job1)
        assert _lcm_job(sandbox, "status").returncode == 0

        stopped = _lcm_job(sandbox, "stop")
        assert stopped.returncode == 0, stopped.stderr
        savepoint = target.recorded()["savepoint"]
        assert Path(savepoint.removeprefix("file:"), "_metadata").is_file()
        assert _lcm_job(sandbox, "status").returncode == 1  # not running

        again = _lcm_job(sandbox, "submit")
        assert again.returncode == 0, again.stderr + again.stdout
        job2 = re.search(r"JOB_ID=(\w+)", again.stdout).group(1)
        sandbox.jobs.append(job2)
        assert f"from {savepoint}" in again.stdout, again.stdout
        restored = flink_rest(f"/jobs/{job2}/checkpoints", sandbox.conn)
        assert restored["latest"]["restored"]["external_path"] == savepoint

        # A JobManager restart without HA forgets the job: cancel it and drop what the
        # cluster knows by name (the record stays, as on the shared volume), then the
        # watcher's submit resumes from the job's newest retained checkpoint.
        wait_for(lambda: flink_rest(f"/jobs/{job2}/checkpoints", sandbox.conn)["counts"]
                 ["completed"] > 0, 120, "a completed checkpoint")
        sandbox.cancel_jobs()
        newest = submit.newest_checkpoint(target.recorded()["checkpoint_dir"], job2)
        assert newest, "a retained checkpoint after cancel (RETAIN_ON_CANCELLATION)"
        resumed = _lcm_job(sandbox, "submit")
        assert resumed.returncode == 0, resumed.stderr + resumed.stdout
        sandbox.jobs.append(re.search(r"JOB_ID=(\w+)", resumed.stdout).group(1))
        assert f"from {newest}" in resumed.stdout, resumed.stdout
    finally:
        target.record.unlink(missing_ok=True)
