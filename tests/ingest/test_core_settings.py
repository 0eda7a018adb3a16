"""config/ingest.yaml validation (ingest/settings.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from ingest.settings import (
    DEFAULT_INGEST_CONFIG,
    SourceOptions,
    SourceSettings,
    load_settings,
    validate_options,
)
from lcm.settings import ConfigError


def test_shipped_config_is_valid() -> None:
    s = load_settings(DEFAULT_INGEST_CONFIG)
    assert s.path == DEFAULT_INGEST_CONFIG
    assert s.spool.in_flight > 0 and s.health.report_seconds > 0
    for name, src in s.sources.items():
        assert src.budget is None or src.budget.requests > 0, name


def _write(tmp_path: Path, text: str) -> Path:
    f = tmp_path / "ingest.yaml"
    f.write_text(text)
    return f


@pytest.mark.parametrize(("text", "message"), [
    ("sources:\n  bybit:\n    budget: {requests: 0, per_seconds: 5}\n",
     r"ingest\.yaml: sources\.bybit\.budget\.requests: Input should be greater than 0"),
    ("sources:\n  bybit:\n    poll_seconds: -1\n",
     r"sources\.bybit\.poll_seconds: Input should be greater than 0"),
    ("sources:\n  bybit:\n    pol_seconds: 5\n", r"sources\.bybit\.pol_seconds: Extra inputs"),
    ("health:\n  prometheus_port: 80\n",
     r"health\.prometheus_port: Input should be greater than or equal to 1024"),
    ("sources:\n  coingecko:\n    api_key_env: 'my key'\n", r"api_key_env: String should match"),
    ("spool: [1\n", r"not valid YAML"),
])
def test_errors_name_file_key_and_range(tmp_path: Path, text: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        load_settings(_write(tmp_path, text))


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read config"):
        load_settings(tmp_path / "nope.yaml")


def test_api_key_only_from_environment(tmp_path: Path, monkeypatch) -> None:
    s = load_settings(_write(tmp_path, "sources:\n  coingecko:\n    api_key_env: CG_KEY\n"))
    src = s.sources["coingecko"]
    monkeypatch.delenv("CG_KEY", raising=False)
    assert src.api_key() is None
    monkeypatch.setenv("CG_KEY", "secret-value")
    assert src.api_key() == "secret-value"
    assert "secret-value" not in repr(s)


class _Opts(SourceOptions):
    ls_period: str = "5min"
    max_symbols: int = 500


def test_source_options_validated_by_the_module_class(tmp_path: Path) -> None:
    path = tmp_path / "x.yaml"
    ok = validate_options(_Opts, "bybit", SourceSettings(options={"max_symbols": 3}), path)
    assert ok.max_symbols == 3
    with pytest.raises(ConfigError, match=r"x\.yaml: sources\.bybit\.options\.max_symbol: Extra"):
        validate_options(_Opts, "bybit", SourceSettings(options={"max_symbol": 3}), path)
    with pytest.raises(ConfigError, match=r"sources\.okx\.options: this source takes no options"):
        validate_options(None, "okx", SourceSettings(options={"a": 1}), path)
