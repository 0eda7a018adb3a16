"""What every command line of the project shares: `--version`, and one meaning for exit
codes, with a one-line message instead of a traceback for a failure the user can fix.

    0  ok
    1  runtime failure: a service unreachable, a delivery that failed, no data
    2  usage or configuration error: a bad argument, a bad config value, a missing password

A bug still prints its traceback: only the failures below are expected.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from importlib import metadata

from lcm.settings import ConfigError

EXIT_OK, EXIT_RUNTIME, EXIT_USAGE = 0, 1, 2
DIST = "liquidation-cascade-monitor"


class UsageError(ConfigError):
    """A bad command line (unknown source, missing option): exit 2."""


class RuntimeFailure(RuntimeError):
    """An expected failure at run time (a service unreachable, nothing to show): exit 1."""


def version() -> str:
    try:
        return metadata.version(DIST)
    except metadata.PackageNotFoundError:  # a checkout that was never installed
        import tomllib

        from lcm.paths import REPO_DIR

        with open(REPO_DIR / "pyproject.toml", "rb") as f:
            return str(tomllib.load(f)["project"]["version"])


def add_version(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--version", action="version",
                        version=f"%(prog)s {version()} ({DIST})")


EPILOG = "exit codes: 0 ok, 1 runtime failure, 2 usage or configuration error"


def run(prog: str, main: Callable[[], int | None]) -> int:
    """Call main() and turn the expected failures into a message on stderr and an exit code."""
    import psycopg
    from confluent_kafka import KafkaException

    try:
        return int(main() or 0)
    except ConfigError as exc:
        print(f"{prog}: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except RuntimeFailure as exc:
        print(f"{prog}: {exc}", file=sys.stderr)
        return EXIT_RUNTIME
    except psycopg.OperationalError as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        print(f"{prog}: cannot reach the database ({first}); is PostgreSQL up ('make up'), "
              "and are PGHOST, PGPORT, LCM_DB and the passwords in .env right?", file=sys.stderr)
        return EXIT_RUNTIME
    except KafkaException as exc:
        print(f"{prog}: Kafka: {exc}", file=sys.stderr)
        return EXIT_RUNTIME
    except KeyboardInterrupt:
        return 130
