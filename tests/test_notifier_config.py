"""config/notifier.yaml: the shipped file loads, and a bad value or a missing secret stops
the start with the key, the file and what is allowed (and never shows a secret)."""

from __future__ import annotations

import json
import subprocess
import sys
import tomllib
from importlib import import_module

import pytest
import yaml

from lcm import links
from lcm.paths import REPO_DIR
from lcm.settings import ConfigError
from notifier.alert import Alert
from notifier.channels import build_senders
from notifier.config import DEFAULT_CONFIG, load_config
from notifier.redact import Redactor
from notifier.service import parse_alert
from tests.notifier_support.alerts import alert, config_dict


def test_shipped_config_loads_with_every_channel_type():
    config = load_config(DEFAULT_CONFIG)
    assert {c.type for c in config.channels} == {"webhook", "telegram", "discord", "slack"}
    assert config.consumer.auto_offset_reset == "latest"
    # Links go to this machine's Grafana unless LCM_GRAFANA_URL or the config says otherwise.
    assert config.grafana_url is None
    assert config.drill_down_base() == links.grafana_url()


def test_grafana_url_setting_and_its_default(tmp_path, monkeypatch):
    monkeypatch.delenv("LCM_GRAFANA_URL", raising=False)
    monkeypatch.setenv("GRAFANA_PORT", "3301")
    assert links.grafana_url() == "http://127.0.0.1:3301"
    monkeypatch.setenv("LCM_GRAFANA_URL", "https://grafana.example.org/monitor/")
    assert links.grafana_url() == "https://grafana.example.org/monitor"
    config = load_config(write(tmp_path, config_dict([WEBHOOK], grafana_url=None)))
    assert config.drill_down_base() == "https://grafana.example.org/monitor"
    monkeypatch.setenv("LCM_GRAFANA_URL", "grafana:3000")
    with pytest.raises(ConfigError, match="LCM_GRAFANA_URL: 'grafana:3000' is not a Grafana"):
        links.grafana_url()
    own = load_config(write(tmp_path, config_dict([WEBHOOK], grafana_url="http://10.0.0.5:3000")))
    assert own.drill_down_base() == "http://10.0.0.5:3000"


def write(tmp_path, data) -> str:
    path = tmp_path / "notifier.yaml"
    path.write_text(yaml.safe_dump(data), encoding="utf-8")
    return str(path)


WEBHOOK = {"name": "hook", "type": "webhook", "url_env": "HOOK_URL"}


@pytest.mark.parametrize(
    ("change", "key", "allowed"),
    [
        ({"channels": [{**WEBHOOK, "min_level": "LOUD"}]}, "channels.0.webhook.min_level",
         "'INFO', 'WARNING' or 'CRITICAL'"),
        ({"retry": {"max_attempts": 0}}, "retry.max_attempts", "greater than or equal to 1"),
        ({"retry": {"max_attempts": 1000}}, "retry.max_attempts", "less than or equal to 100"),
        ({"retry": {"jitter_s": -1}}, "retry.jitter_s", "greater than or equal to 0"),
        ({"channels": [{**WEBHOOK, "retry": {"timeout_s": 0}}]},
         "channels.0.webhook.retry.timeout_s", "greater than 0"),
        ({"channels": [{**WEBHOOK, "type": "teams"}]}, "channels.0",
         "'webhook', 'telegram', 'discord', 'slack'"),
        ({"channels": [{**WEBHOOK, "url_env": "lower-case"}]}, "channels.0.webhook.url_env",
         "^[A-Z_][A-Z0-9_]*$"),
        ({"channels": [{**WEBHOOK, "url": "https://x"}]}, "channels.0.webhook.url",
         "Extra inputs are not permitted"),
        ({"channels": []}, "channels", "at least 1 item"),
        ({"channels": [WEBHOOK, WEBHOOK]}, "(top level)", "repeated: ['hook']"),
        ({"grafana_url": "http://g/d/x?asset=BTC"}, "grafana_url",
         "http(s)://host[:port][/path], no query"),
        ({"grafana_url": "localhost:3000"}, "grafana_url", "is not a Grafana address"),
        ({"dashboard_url": "http://g/d/x?asset={base}"}, "(top level)",
         "dashboard_url was replaced by grafana_url"),
        ({"consumer": {"auto_offset_reset": "smallest"}}, "consumer.auto_offset_reset",
         "'earliest' or 'latest'"),
        ({"ledger_retention_days": 0}, "ledger_retention_days", "greater than or equal to 1"),
    ],
)
def test_bad_value_names_file_key_and_range(tmp_path, change, key, allowed):
    path = write(tmp_path, {**config_dict([WEBHOOK]), **change})
    with pytest.raises(ConfigError) as err:
        load_config(path)
    assert f"{path}: {key}: " in str(err.value)
    assert allowed in str(err.value)


def test_not_yaml_and_missing_file(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("channels: [\n", encoding="utf-8")
    with pytest.raises(ConfigError, match=r"bad\.yaml: not valid YAML"):
        load_config(bad)
    with pytest.raises(ConfigError, match=r"nope\.yaml: cannot read config"):
        load_config(tmp_path / "nope.yaml")


def test_missing_or_malformed_secret_is_named_not_shown(tmp_path):
    config = load_config(write(tmp_path, config_dict([
        WEBHOOK,
        {"name": "tg", "type": "telegram", "token_env": "TG_TOKEN", "chat_id_env": "TG_CHAT"},
        {"name": "off", "type": "slack", "url_env": "UNSET_BUT_DISABLED", "enabled": False},
    ])))
    with pytest.raises(ConfigError) as err:
        build_senders(config, Redactor(), "cfg.yaml",
                      {"HOOK_URL": "ftp://secret-host/abc", "TG_CHAT": "42"})
    text = str(err.value)
    assert "cfg.yaml: channels.0 (hook): HOOK_URL is not an http(s) URL" in text
    assert "cfg.yaml: channels.1 (tg): environment variable TG_TOKEN is not set" in text
    assert "secret-host" not in text and "UNSET_BUT_DISABLED" not in text


def test_no_enabled_channel_is_an_error(tmp_path):
    config = load_config(write(tmp_path, config_dict([{**WEBHOOK, "enabled": False}])))
    with pytest.raises(ConfigError, match="no channel is enabled"):
        build_senders(config, Redactor(), "cfg.yaml", {})


def test_cli_check_and_help(tmp_path):
    path = write(tmp_path, config_dict([WEBHOOK]))
    run = [sys.executable, "-m", "notifier", "--config", path, "--check"]
    ok = subprocess.run(run, env={"HOOK_URL": "https://hooks.example.test/x/SECRET"},
                        capture_output=True, text=True, cwd=REPO_DIR, timeout=60)
    assert ok.returncode == 0, ok.stderr
    assert ok.stdout.strip() == "hook: webhook, min_level WARNING, recovery on"
    missing = subprocess.run(run, env={}, capture_output=True, text=True, cwd=REPO_DIR,
                             timeout=60)
    assert missing.returncode == 2
    assert "environment variable HOOK_URL is not set" in missing.stderr
    shown = subprocess.run([sys.executable, "-m", "notifier", "--help"], capture_output=True,
                           text=True, cwd=REPO_DIR, timeout=60)
    assert shown.returncode == 0 and "--topic-prefix" in shown.stdout


def test_console_script_points_at_main():
    scripts = tomllib.loads((REPO_DIR / "pyproject.toml").read_text())["project"]["scripts"]
    module, _, func = scripts["lcm-notify"].partition(":")
    assert callable(getattr(import_module(module), func))


# ---------------------------------------------------------------- the alert message


def test_alert_accepts_both_time_shapes():
    plain = Alert.model_validate(alert())
    iso = Alert.model_validate(alert(window_start="2026-11-20T14:09:00Z",
                                     window_end="2026-11-20T16:10:00+02:00"))
    assert plain.window_start == iso.window_start and plain.window_end == iso.window_end


@pytest.mark.parametrize(
    ("raw", "problem"),
    [
        (b"{not json", "not JSON"),
        (b"[1, 2]", "expected a JSON object, got list"),
        (None, "empty message"),
        (b'{"alert_id": "x"}', "base: Field required"),
        (json.dumps(alert(level="SEVERE")).encode(), "level: Input should be"),
        (json.dumps(alert(risk=1e999)).encode(), "not JSON"),  # Infinity is not JSON
        (json.dumps(alert(risk=101)).encode(), "risk: Input should be less than or equal"),
        (json.dumps(alert(window_start="yesterday")).encode(), "window_start"),
    ],
)
def test_malformed_alert_says_what_is_wrong(raw, problem):
    with pytest.raises(ValueError, match=problem):
        parse_alert(raw)
