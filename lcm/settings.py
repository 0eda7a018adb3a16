"""Settings every side reads the same way: the git-ignored .env (ports, roles, passwords,
API keys, notifier tokens), where the services are (Connections), and validated YAML
configs whose errors name the file, the key and what is allowed.
"""

from __future__ import annotations

import io
import logging
import os
import re
import shlex
import sys
from collections.abc import Mapping
from itertools import pairwise
from pathlib import Path
from typing import Any, ClassVar, Literal, TypeVar
from urllib.parse import quote, urlencode

import yaml
from dotenv.parser import parse_stream
from psycopg.conninfo import make_conninfo
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from lcm.paths import REPO_DIR


class ConfigError(ValueError):
    """Raised with a message that names the file, the key and what is allowed."""


class Strict(BaseModel):
    """Base of every config model: unknown keys, NaN and infinities are errors."""

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)


def ordered(model: BaseModel, *chains: tuple[str, ...], strict: bool = True) -> None:
    """Every chain of field names must increase (strictly, or never decrease with
    strict=False); otherwise a ValueError names the fields and their values. The one check
    behind the configs' `_ordered` validators, instead of one hand-written copy each."""
    for chain in chains:
        values = [getattr(model, name) for name in chain]
        if all(a < b or (not strict and a == b) for a, b in pairwise(values)):
            continue
        joiner = " < " if strict else " <= "
        got = ", ".join(f"{n} = {v:g}" for n, v in zip(chain, values, strict=True))
        raise ValueError(f"need {joiner.join(chain)}, got {got}")


Model = TypeVar("Model", bound=BaseModel)


def validation_problems(exc: ValidationError, path: Path, prefix: str = "",
                        what: str = "config") -> str:
    """One line per problem: the file, the dotted key, what is allowed, what was found."""
    lines = []
    for err in exc.errors():
        key = prefix + ".".join(str(p) for p in err["loc"]) or "(top level)"
        got = repr(err.get("input"))
        got = got if len(got) <= 120 else got[:117] + "..."
        lines.append(f"{path}: {key}: {err['msg']} (got {got})")
    return f"invalid {what}:\n  " + "\n  ".join(lines)


def read_yaml(path: Path) -> object:
    """A YAML file's content; a ConfigError naming the file if it cannot be read or parsed."""
    try:
        return yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read config: {exc.strerror}") from exc
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML: {exc}") from exc


def load_yaml_model(path: Path, model: type[Model], what: str = "config",
                    empty_ok: bool = False, section: str | None = None) -> Model:
    """Read a YAML file (or one top-level `section` of it) and validate it into `model`;
    every failure is a ConfigError that names the file (and the key, for a value out of
    range). An empty file is an empty mapping only where every setting has a default
    (empty_ok)."""
    raw = read_yaml(path)
    if raw is None and empty_ok:
        raw = {}
    prefix = ""
    if section is not None:
        if not isinstance(raw, dict) or section not in raw:
            raise ConfigError(f"{path}: {section}: missing")
        raw, prefix = raw[section], f"{section}."
    try:
        return model.model_validate(raw)
    except ValidationError as exc:
        raise ConfigError(validation_problems(exc, path, prefix, what=what)) from None


def private_env_file(path: Path) -> None:
    """.env holds passwords and tokens: readable by its owner only, whoever wrote it (make
    setup does so; a `cp .env.example .env` does not). Tightened when we own it, else a
    warning says what to run."""
    mode = path.stat().st_mode & 0o777
    if not mode & 0o077:
        return
    try:
        path.chmod(0o600)
        logging.getLogger("lcm.settings").warning(
            "%s was readable by other users (mode %o): made it 0600", path, mode)
    except PermissionError:
        logging.getLogger("lcm.settings").warning(
            "%s is readable by other users (mode %o) and holds passwords: chmod 600 %s",
            path, mode, path)


SHELL_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def dotenv_file(env: Mapping[str, str] | None = None) -> Path:
    """The .env in use: $LCM_ENV_FILE, else .env in the working home (lcm.paths)."""
    chosen = (env or {}).get("LCM_ENV_FILE") or os.environ.get("LCM_ENV_FILE")
    return Path(chosen) if chosen else REPO_DIR / ".env"


def read_dotenv(path: Path) -> dict[str, str]:
    """The settings in a .env file, parsed by python-dotenv with the rules docker compose
    applies to the same file: `# comment` lines, `KEY=value # note` (a `#` after a space
    starts a comment in an unquoted value), quoted values kept whole ('a # b' stays), an
    optional `export ` prefix. Keys without a value are left out. A line that is none of
    these is an error naming the file and the line, never skipped in silence."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read: {exc.strerror}") from None
    values: dict[str, str] = {}
    for binding in parse_stream(io.StringIO(text)):
        if binding.error:
            line = binding.original.string.strip()
            raise ConfigError(f"{path}:{binding.original.line}: not KEY=value, a comment or "
                              f"blank: {line[:60]!r}")
        if binding.key is not None and binding.value is not None:
            values[binding.key] = binding.value
    return values


def environment(env: Mapping[str, str] | None = None) -> dict[str, str]:
    """The process environment (or `env`) over the git-ignored .env: where ports,
    passwords, API keys and notifier tokens come from. The environment wins."""
    out = dict(os.environ if env is None else env)
    path = dotenv_file(out)
    if path.is_file():
        private_env_file(path)
        for key, value in read_dotenv(path).items():
            out.setdefault(key, value)
    return out


def shell_exports(env: Mapping[str, str] | None = None) -> str:
    """`export KEY='value'` lines for the .env settings the environment does not already
    set: what stack/common.sh evaluates, so the shell scripts read .env exactly as Python
    does (one parser, python-dotenv)."""
    current = os.environ if env is None else env
    path = dotenv_file(current)
    if not path.is_file():
        return ""
    lines = []
    for key, value in read_dotenv(path).items():
        if key in current:
            continue
        if not SHELL_NAME.fullmatch(key):
            raise ConfigError(f"{path}: {key!r} is not a variable name a shell can hold")
        lines.append(f"export {key}={shlex.quote(value)}")
    return "\n".join(lines)


def _secret(value: str) -> str:
    return "***" if value else "''"


SHADED_KAFKA = "org.apache.flink.kafka.shaded.org.apache.kafka"


class KafkaSecurity(BaseModel):
    """How every Kafka client of the project authenticates, from one place (.env or the
    environment): the Python clients (lcm.kafka_io.client_config), the Flink job's Kafka
    tables (java_properties, rendered into sql/flink) and the notifier.

    KAFKA_SECURITY_PROTOCOL  PLAINTEXT (default), SSL, SASL_PLAINTEXT or SASL_SSL
    KAFKA_SASL_MECHANISM     PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512 (SASL_* only)
    KAFKA_SASL_USERNAME / KAFKA_SASL_PASSWORD
    KAFKA_SSL_CA_LOCATION    PEM file of the CA that signed the brokers' certificates
    KAFKA_SSL_CERT_LOCATION / KAFKA_SSL_KEY_LOCATION   PEM client certificate and key (mTLS)
    """

    model_config = ConfigDict(frozen=True)

    protocol: Literal["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"] = "PLAINTEXT"
    sasl_mechanism: Literal["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"] | None = None
    sasl_username: str = ""
    sasl_password: str = Field("", repr=False)
    ssl_ca_location: str = ""
    ssl_cert_location: str = ""
    ssl_key_location: str = ""

    ENV: ClassVar[dict[str, str]] = {
        "protocol": "KAFKA_SECURITY_PROTOCOL",
        "sasl_mechanism": "KAFKA_SASL_MECHANISM",
        "sasl_username": "KAFKA_SASL_USERNAME",
        "sasl_password": "KAFKA_SASL_PASSWORD",
        "ssl_ca_location": "KAFKA_SSL_CA_LOCATION",
        "ssl_cert_location": "KAFKA_SSL_CERT_LOCATION",
        "ssl_key_location": "KAFKA_SSL_KEY_LOCATION",
    }

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> KafkaSecurity:
        env = environment(env)
        raw: dict[str, Any] = {f: env[v] for f, v in cls.ENV.items() if env.get(v)}
        if "protocol" in raw:
            raw["protocol"] = raw["protocol"].upper()
        if "sasl_mechanism" in raw:
            raw["sasl_mechanism"] = raw["sasl_mechanism"].upper()
        try:
            sec = cls(**raw)
        except ValidationError as exc:
            err = exc.errors()[0]
            var = cls.ENV.get(str(err["loc"][0]), str(err["loc"][0]))
            raise ConfigError(f"{var} (environment or {dotenv_file(env)}): {err['msg']} "
                              f"(got {err.get('input')!r})") from None
        sec.check(dotenv_file(env))
        return sec

    def check(self, where: Path | str = ".env") -> None:
        sasl = self.protocol.startswith("SASL_")
        if sasl:
            missing = [self.ENV[f] for f in ("sasl_mechanism", "sasl_username", "sasl_password")
                       if not getattr(self, f)]
            if missing:
                raise ConfigError(f"KAFKA_SECURITY_PROTOCOL={self.protocol} needs "
                                  f"{', '.join(missing)} (environment or {where})")
        elif self.sasl_mechanism:
            raise ConfigError(f"KAFKA_SASL_MECHANISM is set but KAFKA_SECURITY_PROTOCOL is "
                              f"{self.protocol}; use SASL_PLAINTEXT or SASL_SSL ({where})")
        if bool(self.ssl_cert_location) != bool(self.ssl_key_location):
            raise ConfigError("mTLS needs both KAFKA_SSL_CERT_LOCATION and "
                              f"KAFKA_SSL_KEY_LOCATION ({where})")
        for f in ("ssl_ca_location", "ssl_cert_location", "ssl_key_location"):
            value = getattr(self, f)
            if value and not Path(value).is_file():
                raise ConfigError(f"{self.ENV[f]}: no such file {value!r} ({where})")

    def __repr__(self) -> str:
        return (f"KafkaSecurity(protocol={self.protocol!r}, "
                f"sasl_mechanism={self.sasl_mechanism!r}, sasl_username={self.sasl_username!r}, "
                f"sasl_password={_secret(self.sasl_password)}, "
                f"ssl_ca_location={self.ssl_ca_location!r})")

    __str__ = __repr__

    def librdkafka(self) -> dict[str, str]:
        """The settings for confluent-kafka (librdkafka) clients."""
        conf = {"security.protocol": self.protocol}
        if self.protocol.startswith("SASL_"):
            conf |= {"sasl.mechanism": str(self.sasl_mechanism),
                     "sasl.username": self.sasl_username, "sasl.password": self.sasl_password}
        if self.ssl_ca_location:
            conf["ssl.ca.location"] = self.ssl_ca_location
        if self.ssl_cert_location:
            conf |= {"ssl.certificate.location": self.ssl_cert_location,
                     "ssl.key.location": self.ssl_key_location}
        return conf

    def java_properties(self, login_module_prefix: str = SHADED_KAFKA) -> dict[str, str]:
        """The same settings for Kafka's Java client, as the Flink Kafka connector takes
        them (each key is prefixed 'properties.' in the table options). The SQL connector
        jar relocates the Kafka client, so JAAS names the relocated login module."""
        props = {"security.protocol": self.protocol}
        if self.protocol.startswith("SASL_"):
            module = ("security.plain.PlainLoginModule" if self.sasl_mechanism == "PLAIN"
                      else "security.scram.ScramLoginModule")
            props |= {
                "sasl.mechanism": str(self.sasl_mechanism),
                "sasl.jaas.config": (f"{login_module_prefix}.common.{module} required "
                                     f"username={_jaas(self.sasl_username)} "
                                     f"password={_jaas(self.sasl_password)};"),
            }
        if self.ssl_ca_location:
            props |= {"ssl.truststore.type": "PEM",
                      "ssl.truststore.location": self.ssl_ca_location}
        if self.ssl_cert_location:
            # Kafka's PEM key store takes the key and chain inline or as one file; the
            # client files are read here, on the side that submits the job.
            props |= {
                "ssl.keystore.type": "PEM",
                "ssl.keystore.certificate.chain": Path(self.ssl_cert_location).read_text(),
                "ssl.keystore.key": Path(self.ssl_key_location).read_text(),
            }
        return props


def _jaas(value: str) -> str:
    """A JAAS option value: double-quoted, with backslash and quote escaped."""
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


class Connections(BaseModel):
    """Where the services are. Read from the environment (make setup writes .env).
    repr() and str() mask the passwords."""

    model_config = ConfigDict(frozen=True)

    kafka_bootstrap: str = "127.0.0.1:9092"
    kafka_security: KafkaSecurity = KafkaSecurity()
    pg_host: str = "127.0.0.1"
    pg_port: int = 5432
    pg_db: str = "lcm"
    # libpq's sslmode (disable, allow, prefer, require, verify-ca, verify-full) and the CA
    # that verify-* check the server against; the JDBC sink gets the same two.
    pg_sslmode: Literal["disable", "allow", "prefer", "require", "verify-ca",
                        "verify-full"] = "prefer"
    pg_sslrootcert: str = ""
    writer_user: str = "lcm_writer"
    writer_password: str = Field("", repr=False)
    reader_user: str = "lcm_reader"
    reader_password: str = Field("", repr=False)
    flink_rest: str = "http://127.0.0.1:8081"

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Connections:
        env = environment(env)
        kafka_port = env.get("KAFKA_PORT", "9092")
        if not env.get("PGPORT", "5432").isdigit():
            raise ConfigError(f"PGPORT must be a port number, got {env['PGPORT']!r}")
        sslmode = env.get("PGSSLMODE") or "prefer"
        allowed = ("disable", "allow", "prefer", "require", "verify-ca", "verify-full")
        if sslmode not in allowed:
            raise ConfigError(f"PGSSLMODE must be one of {', '.join(allowed)}, got {sslmode!r}")
        return cls(
            kafka_bootstrap=env.get("KAFKA_BOOTSTRAP") or f"127.0.0.1:{kafka_port}",
            kafka_security=KafkaSecurity.from_env(env),
            pg_host=env.get("PGHOST", "127.0.0.1"),
            pg_port=int(env.get("PGPORT", "5432")),
            pg_db=env.get("LCM_DB", "lcm"),
            pg_sslmode=sslmode,  # type: ignore[arg-type]
            pg_sslrootcert=env.get("PGSSLROOTCERT", ""),
            writer_user=env.get("LCM_WRITER_USER", "lcm_writer"),
            writer_password=env.get("LCM_WRITER_PASSWORD", ""),
            reader_user=env.get("LCM_READER_USER", "lcm_reader"),
            reader_password=env.get("LCM_READER_PASSWORD", ""),
            flink_rest=(env.get("FLINK_REST_URL")
                        or f"http://127.0.0.1:{env.get('FLINK_REST_PORT', '8081')}"),
        )

    def __repr__(self) -> str:
        return (f"Connections(kafka_bootstrap={self.kafka_bootstrap!r}, "
                f"kafka_security={self.kafka_security!r}, pg_host={self.pg_host!r}, "
                f"pg_port={self.pg_port}, pg_db={self.pg_db!r}, pg_sslmode={self.pg_sslmode!r}, "
                f"writer_user={self.writer_user!r}, "
                f"writer_password={_secret(self.writer_password)}, "
                f"reader_user={self.reader_user!r}, "
                f"reader_password={_secret(self.reader_password)}, "
                f"flink_rest={self.flink_rest!r})")

    __str__ = __repr__

    @property
    def jdbc_url(self) -> str:
        """The PostgreSQL JDBC URL: host, port, database (percent-encoded) and the SSL
        settings; user and password travel as separate connector options."""
        query = {"sslmode": self.pg_sslmode}
        if self.pg_sslrootcert:
            query["sslrootcert"] = self.pg_sslrootcert
        host = f"[{self.pg_host}]" if ":" in self.pg_host else self.pg_host
        return (f"jdbc:postgresql://{host}:{self.pg_port}/{quote(self.pg_db, safe='')}"
                f"?{urlencode(query)}")

    def credentials(self, role: Literal["writer", "reader"] = "writer") -> tuple[str, str]:
        user, password = (
            (self.writer_user, self.writer_password)
            if role == "writer"
            else (self.reader_user, self.reader_password)
        )
        if not password:
            raise ConfigError(
                f"no password for the {role} role: set LCM_{role.upper()}_PASSWORD "
                "(make setup generates it into .env)"
            )
        return user, password

    def dsn(self, role: Literal["writer", "reader"] = "writer", dbname: str | None = None) -> str:
        """A libpq connection string, built by psycopg (values with spaces, quotes or
        backslashes are quoted, so no value can add a parameter of its own)."""
        user, password = self.credentials(role)
        extra = {"sslrootcert": self.pg_sslrootcert} if self.pg_sslrootcert else {}
        return make_conninfo(host=self.pg_host, port=self.pg_port, dbname=dbname or self.pg_db,
                             user=user, password=password, sslmode=self.pg_sslmode, **extra)


def main(argv: list[str] | None = None) -> int:
    """`python -m lcm.settings shell`: the .env settings as shell exports (stack/common.sh)."""
    args = sys.argv[1:] if argv is None else argv
    if args != ["shell"]:
        print("usage: python -m lcm.settings shell", file=sys.stderr)
        return 2
    try:
        out = shell_exports()
    except ConfigError as exc:
        print(f"lcm.settings: {exc}", file=sys.stderr)
        return 2
    if out:
        print(out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
