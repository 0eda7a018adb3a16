"""lcm-notify / python -m notifier: deliver the `alerts` topic to the configured channels."""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
from pathlib import Path

from lcm.cli import EPILOG, add_version, run
from lcm.paths import REPO_DIR
from lcm.settings import ConfigError, Connections
from notifier.channels import build_senders
from notifier.config import DEFAULT_CONFIG, load_config
from notifier.ledger import Ledger
from notifier.redact import RedactingFilter, Redactor
from notifier.service import Dispatcher, Service

log = logging.getLogger("notifier")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        prog="lcm-notify",
        description="Deliver alerts from the Kafka 'alerts' topic to a JSON webhook, Telegram, "
                    "Discord and Slack, as configured in config/notifier.yaml (secrets come "
                    "from the environment variables it names). See docs/notifier.md.",
        epilog=EPILOG)
    add_version(p)
    p.add_argument("--config", type=Path, default=None,
                   help=f"YAML file (default: $LCM_NOTIFIER_CONFIG or {DEFAULT_CONFIG})")
    p.add_argument("--topic-prefix", default=None,
                   help="prefix of the topic names (default: $LCM_TOPIC_PREFIX or none)")
    p.add_argument("--bootstrap", default=None,
                   help="Kafka bootstrap servers "
                        "(default: $KAFKA_BOOTSTRAP or 127.0.0.1:$KAFKA_PORT)")
    p.add_argument("--state-dir", type=Path, default=None,
                   help="where the delivery ledger lives (default: state_dir in the config)")
    p.add_argument("--check", action="store_true",
                   help="validate the config and the channels' environment variables, then exit")
    p.add_argument("--ledger", action="store_true",
                   help="print the delivery ledger (channel, alert, status, attempts, error), exit")
    p.add_argument("--log-level", default="INFO", choices=["DEBUG", "INFO", "WARNING", "ERROR"])
    return p.parse_args(argv)


def setup_logging(level: str, redactor: Redactor) -> None:
    handler = logging.StreamHandler()
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    handler.addFilter(RedactingFilter(redactor))
    logging.basicConfig(level=level, handlers=[handler], force=True)
    # httpx logs every request URL at INFO, and a webhook URL is a secret.
    for noisy in ("httpx", "httpcore"):
        logging.getLogger(noisy).setLevel(logging.WARNING)


def main(argv: list[str] | None = None) -> int:
    return run("lcm-notify", lambda: _main(argv))


def _main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    redactor = Redactor()
    setup_logging(args.log_level, redactor)
    config_path = Path(args.config or os.environ.get("LCM_NOTIFIER_CONFIG") or DEFAULT_CONFIG)
    try:
        config = load_config(config_path)
        state_dir = args.state_dir or config.state_dir
        ledger_path = (state_dir if state_dir.is_absolute() else REPO_DIR / state_dir
                       ) / "ledger.sqlite3"
        if args.ledger:
            for row in Ledger(ledger_path).rows():
                print("\t".join("" if v is None else str(v) for v in row))
            return 0
        senders = build_senders(config, redactor, str(config_path))
    except ConfigError as exc:
        print(f"lcm-notify: {exc}", file=sys.stderr)
        return 2
    if args.check:
        for s in senders:
            c = s.config
            print(f"{c.name}: {c.type}, min_level {c.min_level}, "
                  f"recovery {'on' if c.send_recovery else 'off'}")
        return 0

    prefix = args.topic_prefix if args.topic_prefix is not None else os.environ.get(
        "LCM_TOPIC_PREFIX", "")
    try:
        bootstrap = args.bootstrap or Connections.from_env().kafka_bootstrap
    except ConfigError as exc:
        print(f"lcm-notify: {exc}", file=sys.stderr)
        return 2
    ledger = Ledger(ledger_path)
    pruned = ledger.prune(config.ledger_retention_days)
    log.info("ledger %s (%d old rows pruned)", ledger_path, pruned)
    dispatcher = Dispatcher(config, senders, ledger, redactor)
    service = Service(config, dispatcher, bootstrap, prefix)
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: service.stop())
    try:
        service.run()
    finally:
        dispatcher.close()
        ledger.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
