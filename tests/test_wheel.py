"""`pip install .` as a user does it: build the wheel, install it (not editable) into a fresh
virtualenv outside the checkout, and run every `lcm-...` command's --help, --version and one
real command. Ingest and the notifier install without Flink.

Packages come from the package registry through pip, at the versions of constraints.txt.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tomllib
import zipfile
from pathlib import Path

import pytest

from lcm.paths import REPO_DIR, SHIPPED

COMMANDS = ("lcm-ingest", "lcm-notify", "lcm-report", "lcm-summary", "lcm-job", "lcm-backtest")
LIGHT = ("lcm-ingest", "lcm-notify", "lcm-summary")  # need neither Flink nor matplotlib


def _run(cmd: list[str], cwd: Path, env: dict[str, str], timeout: float = 900,
         check: bool = True) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True,
                          timeout=timeout)
    if check:
        assert proc.returncode == 0, f"{cmd}: exit {proc.returncode}\n{proc.stdout}\n{proc.stderr}"
    return proc


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("dist")
    # --no-isolation: build with this environment's setuptools (dev extra), no download.
    _run([sys.executable, "-m", "build", "--wheel", "--no-isolation", "--outdir", str(out),
          str(REPO_DIR)], cwd=out, env=dict(os.environ))
    (path,) = out.glob("*.whl")
    return path


@pytest.fixture(scope="module")
def venv(wheel: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, str]]:
    """A virtualenv with the wheel and the ingest and notifier extras only; a working
    directory with no checkout, no .env and no project files."""
    root = tmp_path_factory.mktemp("venv")
    _run([sys.executable, "-m", "venv", str(root / "env")], cwd=root, env=dict(os.environ))
    home = root / "home"
    home.mkdir()
    env = {"PATH": f"{root / 'env' / 'bin'}:{os.environ['PATH']}", "HOME": str(home),
           "LCM_ENV_FILE": str(home / "none.env"), "PIP_DISABLE_PIP_VERSION_CHECK": "1",
           # nothing listens here: the real commands below fail the way a user sees it
           "PGPORT": "9", "KAFKA_BOOTSTRAP": "127.0.0.1:9", "FLINK_REST_URL": "http://127.0.0.1:9"}
    pip = [str(root / "env" / "bin" / "python"), "-m", "pip", "install", "-q",
           "-c", str(REPO_DIR / "constraints.txt")]
    _run([*pip, f"{wheel}[ingest,notifier]"], cwd=home, env=env)
    return root / "env", env | {"PIP": " ".join(pip)}


def test_wheel_carries_the_shipped_files_and_no_tests(wheel: Path) -> None:
    names = set(zipfile.ZipFile(wheel).namelist())
    for folder in SHIPPED:
        src = sorted(p.relative_to(REPO_DIR).as_posix() for p in (REPO_DIR / folder).rglob("*")
                     if p.is_file() and "__pycache__" not in p.parts)
        assert src, folder
        missing = [f for f in src if f"lcm/_data/{f}" not in names]
        assert not missing, f"not in the wheel: {missing[:5]}"
    assert "lcm/topics.txt" in names
    assert "ingest/samples/sample.jsonl" in names and "ingest/data/exchange_addresses.csv" in names
    assert "backtest/__main__.py" in names and "lcm/_data/sql/backtest/60_sinks.sql" in names
    assert not [n for n in names if n.startswith(("tests/", "bench/"))]
    scripts = tomllib.loads((REPO_DIR / "pyproject.toml").read_text())["project"]["scripts"]
    assert set(scripts) == set(COMMANDS)


def test_ingest_and_notifier_install_without_flink(venv: tuple[Path, dict[str, str]]) -> None:
    env_dir, env = venv
    py = str(env_dir / "bin" / "python")
    for module in ("pyflink", "pyarrow", "pandas", "matplotlib"):
        probe = _run([py, "-c", f"import {module}"], cwd=env_dir, env=env, check=False)
        assert probe.returncode != 0, f"{module} came with the ingest and notifier extras"
    # lcm/paths.py finds the shipped files inside the installed package
    where = _run([py, "-c", "from lcm import paths; print(paths.FROM_CHECKOUT, paths.CONFIG_DIR,"
                  " (paths.SQL_DIR / 'flink' / '10_source_topic.sql').is_file())"],
                 cwd=env_dir, env=env).stdout.split()
    assert where[0] == "False" and where[1].endswith("lcm/_data/config") and where[2] == "True"


def _help_and_version(env_dir: Path, env: dict[str, str], command: str) -> None:
    exe = str(env_dir / "bin" / command)
    helped = _run([exe, "--help"], cwd=env_dir, env=env)
    assert "exit codes: 0 ok, 1 runtime failure, 2 usage or configuration error" in \
        " ".join(helped.stdout.split()), command
    version = _run([exe, "--version"], cwd=env_dir, env=env).stdout
    project = tomllib.loads((REPO_DIR / "pyproject.toml").read_text())["project"]
    assert version.split() == [command, project["version"], f"({project['name']})"]


def test_light_commands(venv: tuple[Path, dict[str, str]], tmp_path: Path) -> None:
    env_dir, env = venv
    for command in LIGHT:
        _help_and_version(env_dir, env, command)
    bin_ = env_dir / "bin"
    # One real command each. Ingest: Binance's public data files into replayable JSONL.
    data = REPO_DIR / "harness" / "recorded" / "core" / "binance"
    out = tmp_path / "hist"
    done = _run([str(bin_ / "lcm-ingest"), "backfill", "binance-files", "--data", str(data),
                 "--from", "2024-01-02", "--to", "2024-01-03", "--out", str(out), "--quiet"],
                cwd=tmp_path, env=env)
    assert list(out.glob("*.jsonl.gz")), done.stdout
    # Usage errors exit 2 without a traceback.
    bad = _run([str(bin_ / "lcm-ingest"), "nosuchsource"], cwd=tmp_path, env=env, check=False)
    assert bad.returncode == 2 and "Traceback" not in bad.stderr
    # The notifier validates its shipped config (and names the channels' variables).
    checked = _run([str(bin_ / "lcm-notify"), "--check"], cwd=tmp_path, env=env, check=False)
    assert checked.returncode in (0, 2) and "Traceback" not in checked.stderr, checked.stderr
    # The summary with no database: exit 1, one line that says what to do, no traceback.
    down = _run([str(bin_ / "lcm-summary")], cwd=tmp_path,
                env=env | {"LCM_READER_PASSWORD": "x"}, check=False)
    assert down.returncode == 1 and "Traceback" not in down.stderr, down.stderr
    assert "cannot reach the database" in down.stderr
    missing = _run([str(bin_ / "lcm-summary")], cwd=tmp_path, env=env, check=False)
    assert missing.returncode == 2 and "LCM_READER_PASSWORD" in missing.stderr


def test_full_install_report_job_and_backtest(venv: tuple[Path, dict[str, str]], wheel: Path,
                                              tmp_path: Path) -> None:
    env_dir, env = venv
    # Every extra on top (their packages, at the constraints' versions).
    _run([*env["PIP"].split(), f"{wheel}[all]"], cwd=tmp_path, env=env)
    for command in ("lcm-report", "lcm-job", "lcm-backtest"):
        _help_and_version(env_dir, env, command)
    bin_ = env_dir / "bin"
    # The job's SQL renders from the installed package data (the job's own statements).
    rendered = _run([str(env_dir / "bin" / "python"), "-c",
                     "from flink_jobs.config import load_config; "
                     "from flink_jobs.job import job_statements, sql_params; "
                     "from lcm.settings import Connections; "
                     "ddl, ins = job_statements(sql_params(load_config(), "
                     "Connections(writer_password='x'))); print(len(ddl), len(ins))"],
                    cwd=tmp_path, env=env).stdout.split()
    assert int(rendered[0]) > 10 and int(rendered[1]) > 5
    status = _run([str(bin_ / "lcm-job"), "status"], cwd=tmp_path, env=env, check=False)
    assert status.returncode == 1 and "Traceback" not in status.stderr, status.stderr
    report = _run([str(bin_ / "lcm-report"), "--out", str(tmp_path / "png")], cwd=tmp_path,
                  env=env | {"LCM_READER_PASSWORD": "x"}, check=False)
    assert report.returncode == 1 and "Traceback" not in report.stderr, report.stderr
    # The backtest reads the shipped sample recording and the installed SQL (chunk plan and
    # fingerprint) and stops, exit 2 with one line, where it needs the job's Java function
    # that 'make setup' builds: a Flink batch run of the sample takes minutes on a shared
    # machine, so the full run stays with tests/test_backtest*.py in the checkout.
    sample = _run([str(env_dir / "bin" / "python"), "-c",
                   "from ingest.__main__ import SAMPLE; print(SAMPLE)"],
                  cwd=tmp_path, env=env).stdout.strip()
    assert "site-packages" in sample
    backtest = _run([str(bin_ / "lcm-backtest"), sample, "--out", str(tmp_path / "bt"),
                     "--quiet"], cwd=tmp_path,
                    env=env | {"LCM_STATE_DIR": str(tmp_path / "state")}, check=False)
    assert backtest.returncode == 2 and "Traceback" not in backtest.stderr, backtest.stderr
    assert "lcm-flink-functions.jar is missing: run 'make setup'" in backtest.stderr
    assert (tmp_path / "bt" / "work" / "input").is_dir()
