"""Settings every side reads the same way: the git-ignored .env (ports, roles, passwords,
API keys, notifier tokens), where the services are (Connections), and validated YAML
configs whose errors name the file, the key and what is allowed.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from itertools import pairwise
from pathlib import Path
from typing import Literal, TypeVar

import yaml
from pydantic import BaseModel, ConfigDict, ValidationError

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


def environment(env: Mapping[str, str] | None = None) -> dict[str, str]:
    """The process environment (or `env`) over the repository's git-ignored .env: where
    ports, passwords, API keys and notifier tokens come from. The environment wins."""
    env = dict(os.environ if env is None else env)
    env_file = REPO_DIR / ".env"
    if env_file.exists():
        for line in env_file.read_text(encoding="utf-8").splitlines():
            key, sep, value = line.partition("=")
            if sep and not key.lstrip().startswith("#"):
                env.setdefault(key.strip(), value.strip().strip("'\""))
    return env


class Connections(BaseModel):
    """Where the services are. Read from the environment (make setup writes .env)."""

    model_config = ConfigDict(frozen=True)

    kafka_bootstrap: str = "127.0.0.1:9092"
    pg_host: str = "127.0.0.1"
    pg_port: int = 5432
    pg_db: str = "lcm"
    writer_user: str = "lcm_writer"
    writer_password: str = ""
    reader_user: str = "lcm_reader"
    reader_password: str = ""
    flink_rest: str = "http://127.0.0.1:8081"

    @classmethod
    def from_env(cls, env: dict[str, str] | None = None) -> Connections:
        env = environment(env)
        kafka_port = env.get("KAFKA_PORT", "9092")
        if not env.get("PGPORT", "5432").isdigit():
            raise ConfigError(f"PGPORT must be a port number, got {env['PGPORT']!r}")
        return cls(
            kafka_bootstrap=env.get("KAFKA_BOOTSTRAP", f"127.0.0.1:{kafka_port}"),
            pg_host=env.get("PGHOST", "127.0.0.1"),
            pg_port=int(env.get("PGPORT", "5432")),
            pg_db=env.get("LCM_DB", "lcm"),
            writer_user=env.get("LCM_WRITER_USER", "lcm_writer"),
            writer_password=env.get("LCM_WRITER_PASSWORD", ""),
            reader_user=env.get("LCM_READER_USER", "lcm_reader"),
            reader_password=env.get("LCM_READER_PASSWORD", ""),
            flink_rest=f"http://127.0.0.1:{env.get('FLINK_REST_PORT', '8081')}",
        )

    @property
    def jdbc_url(self) -> str:
        return f"jdbc:postgresql://{self.pg_host}:{self.pg_port}/{self.pg_db}"

    def dsn(self, role: Literal["writer", "reader"] = "writer") -> str:
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
        return (
            f"host={self.pg_host} port={self.pg_port} dbname={self.pg_db} "
            f"user={user} password={password}"
        )
