"""Unit tests of flink_jobs/config.py and lcm/settings.py: the shipped config loads, bad configs
fail clearly, connections come from the environment and .env."""

from __future__ import annotations

import copy
import os
from pathlib import Path
from typing import Any

import pytest
import yaml
from psycopg.conninfo import conninfo_to_dict

from flink_jobs.config import DEFAULT_CONFIG, MonitorConfig, load_config
from lcm import settings
from lcm.settings import ConfigError, Connections

SHIPPED = yaml.safe_load(DEFAULT_CONFIG.read_text(encoding="utf-8"))
_DELETE = object()


def write_variant(tmp_path: Path, changes: dict[str, Any]) -> Path:
    """Copy of the shipped config with dotted keys set (or deleted with _DELETE)."""
    raw = copy.deepcopy(SHIPPED)
    for dotted, value in changes.items():
        *parents, leaf = dotted.split(".")
        node = raw
        for key in parents:
            node = node.setdefault(key, {})
        if value is _DELETE:
            del node[leaf]
        else:
            node[leaf] = value
    path = tmp_path / "monitor.yaml"
    path.write_text(yaml.safe_dump(raw, sort_keys=False), encoding="utf-8")
    return path


def load_error(path: Path) -> str:
    with pytest.raises(ConfigError) as info:
        load_config(path)
    return str(info.value)


# --- the shipped file -------------------------------------------------------------------


def test_shipped_config_loads() -> None:
    cfg = load_config(DEFAULT_CONFIG)
    assert isinstance(cfg, MonitorConfig)
    assert cfg.pipeline.window_minutes == 1
    assert cfg.pipeline.startup_mode == "earliest-offset"
    s = cfg.scoring
    weights = s.components.weights()
    # Recent liquidations are the dominant input (docs/scoring.md): the two liquidation
    # components outweigh all others together.
    liq = weights["liquidations"] + weights["liquidations_recent"]
    assert liq > sum(abs(w) for c, w in weights.items() if not c.startswith("liquidations"))
    assert weights["pressure"] == 0  # sign not measured on real data: no weight
    assert s.alerts.info_risk <= s.alerts.warning_risk <= s.alerts.critical_risk
    assert s.history.min_windows < cfg.pipeline.history_windows


def test_sample_config_differs_from_the_shipped_one_only_where_it_says() -> None:
    """The sample's config (demo, e2e test, dashboard fixture) shortens history, warm-up,
    cooldown, alert state and hysteresis, nothing else: an idle timeout of its own would
    let a Kafka outage skip a partition's backlog in exactly the runs that test the job."""
    from lcm.pipeline import SAMPLE_MONITOR_CONFIG

    def leaves(tree: object, path: str = "") -> dict[str, object]:
        if isinstance(tree, dict):
            return {k: v for key, sub in tree.items()
                    for k, v in leaves(sub, f"{path}.{key}").items()}
        return {path: tree}

    shipped = leaves(load_config(DEFAULT_CONFIG).model_dump())
    sample = leaves(load_config(SAMPLE_MONITOR_CONFIG).model_dump())
    differ = {k for k in shipped if shipped[k] != sample[k]}
    assert differ == {".pipeline.history_windows", ".scoring.history.min_windows",
                      ".scoring.alerts.risk_margin", ".scoring.alerts.cooldown_windows",
                      ".scoring.alerts.state_windows"}
    assert sample[".pipeline.idle_timeout_s"] == 0


def test_default_path_is_shipped_config(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("LCM_CONFIG", raising=False)
    assert load_config() == load_config(DEFAULT_CONFIG)


def test_lcm_config_env_selects_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = write_variant(tmp_path, {"scoring.alerts.min_confidence": 0.75})
    monkeypatch.setenv("LCM_CONFIG", str(path))
    assert load_config().scoring.alerts.min_confidence == 0.75


def test_config_is_frozen() -> None:
    cfg = load_config(DEFAULT_CONFIG)
    with pytest.raises(ValueError):
        cfg.scoring.history.z_clip = 5  # type: ignore[misc]


# --- invalid values ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("key", "value", "problem"),
    [
        ("scoring.components.funding.weight", 11, "less than or equal to 10"),
        ("scoring.components.funding.weight", "lots", "valid number"),
        ("scoring.history.min_windows", 1, "greater than or equal to 2"),
        ("scoring.history.z_clip", 0, "greater than 0"),
        ("scoring.history.min_sd", -1, "greater than 0"),
        ("scoring.pressure.min_baseline_usd", 0, "greater than 0"),
        ("scoring.pressure.softness", 0, "greater than 0"),
        ("scoring.alerts.min_confidence", 1.5, "less than or equal to 1"),
        ("scoring.alerts.critical_risk", 101, "less than or equal to 100"),
        ("pipeline.window_minutes", 0, "greater than or equal to 1"),
        ("pipeline.window_minutes", 1441, "less than or equal to 1440"),
        ("pipeline.history_windows", 5, "greater than or equal to 10"),
        ("pipeline.recent_windows", 0, "greater than or equal to 1"),
        ("pipeline.startup_mode", "newest", "'earliest-offset'"),
        ("pipeline.consumer_group", "", "at least 1 character"),
        ("pipeline.max_input_age_s.funding", -1, "greater than or equal to 0"),
        ("scoring.alerts.risk_margin", 51, "less than or equal to 50"),
        ("scoring.alerts.cooldown_windows", 2000, "less than or equal to 1440"),
        ("scoring.alerts.cooldown_windows", 2.5, "valid integer"),
        ("scoring.alerts.state_windows", 0, "greater than or equal to 1"),
    ],
)
def test_invalid_value_names_file_key_and_problem(
    tmp_path: Path, key: str, value: Any, problem: str
) -> None:
    path = write_variant(tmp_path, {key: value})
    msg = load_error(path)
    assert str(path) in msg
    assert f"{key}:" in msg
    assert problem in msg
    assert repr(value) in msg  # what was found


def test_missing_key_is_reported(tmp_path: Path) -> None:
    path = write_variant(tmp_path, {"scoring.history.z_clip": _DELETE})
    msg = load_error(path)
    assert str(path) in msg
    assert "scoring.history.z_clip" in msg
    assert "Field required" in msg


def test_every_problem_is_listed(tmp_path: Path) -> None:
    path = write_variant(
        tmp_path, {"scoring.history.z_clip": 0, "pipeline.window_minutes": 0}
    )
    msg = load_error(path)
    assert "scoring.history.z_clip" in msg
    assert "pipeline.window_minutes" in msg


@pytest.mark.parametrize(
    "key",
    [
        "scoring.history.z_clp",  # typo next to the real key
        "scoring.alerts.emergency_risk",
        "pipeline.parallelism",
        "scorng",  # top level
    ],
)
def test_unknown_keys_rejected(tmp_path: Path, key: str) -> None:
    path = write_variant(tmp_path, {key: 1})
    msg = load_error(path)
    assert str(path) in msg
    assert key in msg
    assert "Extra inputs are not permitted" in msg


def test_all_zero_weights_rejected(tmp_path: Path) -> None:
    from flink_jobs.config import COMPONENTS
    path = write_variant(tmp_path, {f"scoring.components.{c}.weight": 0 for c in COMPONENTS})
    msg = load_error(path)
    assert str(path) in msg
    assert "scoring.components:" in msg
    assert "at least one component needs a non-zero weight" in msg


def test_negative_weight_accepted(tmp_path: Path) -> None:
    """A measured negative effect (e.g. of stablecoin inflows) is a valid weight."""
    path = write_variant(tmp_path, {"scoring.components.pressure.weight": -0.5})
    assert load_config(path).scoring.components.pressure.weight == -0.5


@pytest.mark.parametrize(
    ("changes", "key", "problem"),
    [
        (
            {"scoring.alerts.warning_risk": 99.9},
            "scoring.alerts",
            "need info_risk <= warning_risk <= critical_risk, got info_risk = 85, "
            "warning_risk = 99.9, critical_risk = 99.5",
        ),
        (
            {"scoring.alerts.state_windows": 5},
            "scoring.alerts",
            "state_windows must be greater than cooldown_windows",
        ),
        (
            {"pipeline.max_input_age_s.long_short": 901},
            "pipeline",
            "max_input_age_s.long_short = 901 must be at most oi_lookback_windows x "
            "window_minutes x 60 = 900 s",
        ),
        (
            {"scoring.history.min_windows": 1440},
            "(top level)",
            "scoring.history.min_windows (1440) must be less than pipeline.history_windows",
        ),
    ],
)
def test_misordered_thresholds_rejected(
    tmp_path: Path, changes: dict[str, Any], key: str, problem: str
) -> None:
    path = write_variant(tmp_path, changes)
    msg = load_error(path)
    assert str(path) in msg
    assert f"{key}:" in msg
    assert problem in msg


def test_infinite_min_baseline_rejected(tmp_path: Path) -> None:
    path = write_variant(tmp_path, {"scoring.pressure.min_baseline_usd": float("inf")})
    msg = load_error(path)
    assert "scoring.pressure.min_baseline_usd" in msg


# --- unreadable or malformed files ------------------------------------------------------


def test_missing_file(tmp_path: Path) -> None:
    path = tmp_path / "nope.yaml"
    msg = load_error(path)
    assert str(path) in msg
    assert "cannot read" in msg


def test_directory_instead_of_file(tmp_path: Path) -> None:
    msg = load_error(tmp_path)
    assert str(tmp_path) in msg
    assert "cannot read" in msg


@pytest.mark.skipif(
    not hasattr(os, "geteuid") or os.geteuid() == 0, reason="root can read any file"
)
def test_unreadable_file(tmp_path: Path) -> None:
    path = write_variant(tmp_path, {})
    path.chmod(0)
    try:
        msg = load_error(path)
    finally:
        path.chmod(0o600)
    assert str(path) in msg
    assert "cannot read" in msg


@pytest.mark.parametrize(
    "text",
    [
        "scoring: [unclosed\n",
        "pipeline:\n  window_minutes: 1\n bad_indent: 2\n",
        "scoring:\n  funding: {neutral_8h: 0.0001\n",
    ],
)
def test_invalid_yaml(tmp_path: Path, text: str) -> None:
    path = tmp_path / "monitor.yaml"
    path.write_text(text, encoding="utf-8")
    msg = load_error(path)
    assert str(path) in msg
    assert "not valid YAML" in msg


@pytest.mark.parametrize("text", ["", "- just\n- a list\n", "42\n"])
def test_wrong_top_level_shape(tmp_path: Path, text: str) -> None:
    path = tmp_path / "monitor.yaml"
    path.write_text(text, encoding="utf-8")
    msg = load_error(path)
    assert str(path) in msg
    assert "(top level)" in msg


def test_config_error_is_a_value_error() -> None:
    assert issubclass(ConfigError, ValueError)


# --- connections from the environment ---------------------------------------------------


@pytest.fixture
def no_dotenv(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Point REPO_DIR at an empty directory so the developer's real .env is not read."""
    repo = tmp_path / "repo"
    repo.mkdir()
    monkeypatch.setattr(settings, "REPO_DIR", repo)
    return repo


def test_connections_from_env_dict(no_dotenv: Path) -> None:
    conn = Connections.from_env(
        {
            "KAFKA_BOOTSTRAP": "broker:29092",
            "PGHOST": "db.local",
            "PGPORT": "6543",
            "LCM_DB": "lcm_test",
            "LCM_WRITER_USER": "w",
            "LCM_WRITER_PASSWORD": "wpass",
            "LCM_READER_USER": "r",
            "LCM_READER_PASSWORD": "rpass",
            "FLINK_REST_PORT": "18081",
        }
    )
    assert conn.kafka_bootstrap == "broker:29092"
    assert conn.pg_host == "db.local"
    assert conn.pg_port == 6543
    assert conn.pg_db == "lcm_test"
    assert conn.flink_rest == "http://127.0.0.1:18081"
    assert conn.jdbc_url == "jdbc:postgresql://db.local:6543/lcm_test?sslmode=prefer"
    base = {"host": "db.local", "port": "6543", "dbname": "lcm_test", "sslmode": "prefer"}
    assert conninfo_to_dict(conn.dsn()) == {**base, "user": "w", "password": "wpass"}
    assert conninfo_to_dict(conn.dsn("reader")) == {**base, "user": "r", "password": "rpass"}


def test_connections_defaults(no_dotenv: Path) -> None:
    conn = Connections.from_env({})
    assert conn.kafka_bootstrap == "127.0.0.1:9092"
    assert conn.pg_host == "127.0.0.1"
    assert conn.pg_port == 5432
    assert conn.pg_db == "lcm"
    assert conn.writer_user == "lcm_writer"
    assert conn.reader_user == "lcm_reader"
    assert conn.flink_rest == "http://127.0.0.1:8081"


def test_connections_kafka_port_without_bootstrap(no_dotenv: Path) -> None:
    conn = Connections.from_env({"KAFKA_PORT": "19092"})
    assert conn.kafka_bootstrap == "127.0.0.1:19092"
    explicit = Connections.from_env({"KAFKA_PORT": "19092", "KAFKA_BOOTSTRAP": "k:1"})
    assert explicit.kafka_bootstrap == "k:1"


@pytest.mark.parametrize(
    ("role", "variable"), [("writer", "LCM_WRITER_PASSWORD"), ("reader", "LCM_READER_PASSWORD")]
)
@pytest.mark.parametrize("env", [{}, {"LCM_WRITER_PASSWORD": "", "LCM_READER_PASSWORD": ""}])
def test_dsn_without_password_raises(
    no_dotenv: Path, env: dict[str, str], role: str, variable: str
) -> None:
    conn = Connections.from_env(env)
    with pytest.raises(ConfigError, match=variable):
        conn.dsn(role)  # type: ignore[arg-type]


def test_dotenv_fills_gaps_and_environment_wins(no_dotenv: Path) -> None:
    (no_dotenv / ".env").write_text(
        "# generated by make setup\n"
        "PGPORT=7000\n"
        "LCM_WRITER_PASSWORD='from-file'\n"
        'LCM_DB="dotenv_db"\n'
        "#PGHOST=commented.out\n",
        encoding="utf-8",
    )
    conn = Connections.from_env({"PGPORT": "6000"})
    assert conn.pg_port == 6000  # the process environment wins
    assert conn.writer_password == "from-file"  # quotes stripped
    assert conn.pg_db == "dotenv_db"
    assert conn.pg_host == "127.0.0.1"  # the commented line is ignored


def test_bad_pgport_names_the_variable(no_dotenv: Path) -> None:
    with pytest.raises(ConfigError, match="PGPORT"):
        Connections.from_env({"PGPORT": "abc"})


def test_environment_is_the_process_environment_over_dotenv(tmp_path: Path, monkeypatch) -> None:
    """API keys and notifier tokens put in .env reach the ingest and the notifier."""
    (tmp_path / ".env").write_text(
        "# LCM_SLACK_WEBHOOK_URL=commented\nETHERSCAN_API_KEY='from-dotenv'\nKAFKA_PORT=9092\n",
        encoding="utf-8")
    monkeypatch.setattr(settings, "REPO_DIR", tmp_path)
    env = settings.environment({"KAFKA_PORT": "19092"})
    assert env["ETHERSCAN_API_KEY"] == "from-dotenv"
    assert env["KAFKA_PORT"] == "19092"  # the process environment wins
    assert "LCM_SLACK_WEBHOOK_URL" not in env and "# LCM_SLACK_WEBHOOK_URL" not in env
