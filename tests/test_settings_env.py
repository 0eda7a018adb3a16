"""The one .env reader (python-dotenv, lcm.settings) and what is built from its values:
the shell scripts see exactly what Python sees, connection strings cannot be redirected by
a value, passwords never show in a repr, and the Kafka security settings reach the Python
clients and the Flink job's Kafka tables from one place.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest
from psycopg.conninfo import conninfo_to_dict

from flink_jobs.job import kafka_options, sql_options, sql_string
from lcm import kafka_io, settings
from lcm.paths import REPO_DIR
from lcm.settings import ConfigError, Connections, KafkaSecurity

# Comments, quotes and '#' the way users write them; the expected values are what docker
# compose makes of the same lines.
DOTENV = """\
# a comment line
KAFKA_PORT=9094 # note after a space is a comment
HASH_IN_WORD=abc#def
DOUBLE="a # b, not a comment"
SINGLE='$HOME # kept'
SPACES="two words"
export EXPORTED=yes
EMPTY=
LCM_WRITER_PASSWORD="pa ss'wo\\"rd"
"""
EXPECTED = {
    "KAFKA_PORT": "9094",
    "HASH_IN_WORD": "abc#def",
    "DOUBLE": "a # b, not a comment",
    "SPACES": "two words",
    "EXPORTED": "yes",
    "EMPTY": "",
    "LCM_WRITER_PASSWORD": "pa ss'wo\"rd",
}


@pytest.fixture
def env_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "test.env"
    path.write_text(DOTENV, encoding="utf-8")
    monkeypatch.setenv("LCM_ENV_FILE", str(path))
    for key in (*EXPECTED, "SINGLE"):
        monkeypatch.delenv(key, raising=False)
    return path


def test_python_reads_comments_quotes_and_hashes(env_file: Path) -> None:
    env = settings.environment()
    for key, value in EXPECTED.items():
        assert env[key] == value, key
    assert env["SINGLE"].endswith("# kept") and "$HOME" in env["SINGLE"]  # no interpolation
    assert Connections.from_env().kafka_bootstrap == "127.0.0.1:9094"


def test_shell_scripts_read_the_same_values(env_file: Path) -> None:
    """stack/common.sh evaluates `python -m lcm.settings shell`: bash ends up with the
    same strings as Python, byte for byte."""
    python = settings.environment()
    script = (f'source "{REPO_DIR / "stack" / "common.sh"}"\n'
              'for k in KAFKA_PORT HASH_IN_WORD DOUBLE SINGLE SPACES EXPORTED EMPTY '
              'LCM_WRITER_PASSWORD; do printf "%s=%s\\0" "$k" "${!k}"; done')
    env = {k: v for k, v in os.environ.items() if k not in EXPECTED and k != "SINGLE"}
    out = subprocess.run(["bash", "-c", script], capture_output=True, env=env, timeout=60,
                         check=True).stdout.decode()
    shell = dict(item.split("=", 1) for item in out.split("\0") if item)
    assert shell == {k: python[k] for k in shell}
    assert shell["DOUBLE"] == "a # b, not a comment"


def test_the_environment_wins_in_python_and_shell(env_file: Path,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KAFKA_PORT", "19999")
    assert settings.environment()["KAFKA_PORT"] == "19999"
    assert "KAFKA_PORT" not in settings.shell_exports()


def test_a_line_that_is_not_a_setting_names_file_and_line(tmp_path: Path) -> None:
    path = tmp_path / "broken.env"
    path.write_text("A=1\nthis is not a setting\n", encoding="utf-8")
    with pytest.raises(ConfigError, match=r"broken.env:2: "):
        settings.environment({"LCM_ENV_FILE": str(path)})


def test_a_key_no_shell_can_hold_is_refused(tmp_path: Path, monkeypatch) -> None:
    path = tmp_path / "bad.env"
    path.write_text("GOOD=1\nBAD-KEY=2\n", encoding="utf-8")
    monkeypatch.setenv("LCM_ENV_FILE", str(path))
    monkeypatch.delenv("GOOD", raising=False)
    with pytest.raises(ConfigError, match="BAD-KEY"):
        settings.shell_exports()


def test_repr_masks_passwords() -> None:
    conn = Connections(writer_password="w-secret", reader_password="r-secret",
                       kafka_security=KafkaSecurity(protocol="SASL_PLAINTEXT",
                                                    sasl_mechanism="PLAIN", sasl_username="u",
                                                    sasl_password="k-secret"))
    for text in (repr(conn), str(conn), f"{conn}", repr(conn.kafka_security)):
        assert "secret" not in text, text
    assert "writer_password=***" in repr(conn)


HOSTILE = "p w' host=evil.example dbname=other \\ \" end"


def test_dsn_keeps_a_hostile_password_whole() -> None:
    conn = Connections(writer_password=HOSTILE, pg_db="my db")
    parsed = conninfo_to_dict(conn.dsn())
    assert parsed["password"] == HOSTILE
    assert parsed["host"] == "127.0.0.1" and parsed["dbname"] == "my db"
    assert conninfo_to_dict(conn.dsn(dbname="other one"))["dbname"] == "other one"


def test_jdbc_url_and_options_escape_values() -> None:
    conn = Connections(writer_password=HOSTILE, pg_db="a/b?c", pg_sslmode="verify-full",
                       pg_sslrootcert="/etc/ca dir/ca.pem")
    assert conn.jdbc_url == ("jdbc:postgresql://127.0.0.1:5432/a%2Fb%3Fc?sslmode=verify-full"
                             "&sslrootcert=%2Fetc%2Fca+dir%2Fca.pem")
    assert sql_string("it's") == "'it''s'"
    rendered = sql_options({"password": HOSTILE})
    assert rendered == "'password' = '" + HOSTILE.replace("'", "''") + "'"


def test_pgsslmode_is_validated() -> None:
    assert Connections.from_env({"PGSSLMODE": "require"}).pg_sslmode == "require"
    with pytest.raises(ConfigError, match="PGSSLMODE"):
        Connections.from_env({"PGSSLMODE": "sometimes"})


SASL_ENV = {"KAFKA_SECURITY_PROTOCOL": "sasl_plaintext", "KAFKA_SASL_MECHANISM": "scram-sha-512",
            "KAFKA_SASL_USERNAME": "lcm", "KAFKA_SASL_PASSWORD": 'pa"ss\\word'}


def test_kafka_security_reaches_python_clients(monkeypatch: pytest.MonkeyPatch) -> None:
    for key, value in SASL_ENV.items():
        monkeypatch.setenv(key, value)
    conf = kafka_io.client_config("b:9092", "test")
    assert conf["security.protocol"] == "SASL_PLAINTEXT"
    assert conf["sasl.mechanism"] == "SCRAM-SHA-512"
    assert (conf["sasl.username"], conf["sasl.password"]) == ("lcm", 'pa"ss\\word')
    plain = kafka_io.client_config("b:9092", "test", security=KafkaSecurity())
    assert plain["security.protocol"] == "PLAINTEXT" and "sasl.username" not in plain


def test_kafka_security_reaches_the_flink_tables() -> None:
    conn = Connections.from_env({**SASL_ENV, "LCM_ENV_FILE": "/nonexistent/.env"})
    rendered = kafka_options(conn)
    assert "'properties.bootstrap.servers' = '127.0.0.1:9092'" in rendered
    assert "'properties.security.protocol' = 'SASL_PLAINTEXT'" in rendered
    assert "'properties.sasl.mechanism' = 'SCRAM-SHA-512'" in rendered
    # The SQL connector jar relocates the Kafka client: JAAS must name the shaded module,
    # and the password is a JAAS-quoted value inside a SQL-quoted literal.
    assert ("'properties.sasl.jaas.config' = 'org.apache.flink.kafka.shaded.org.apache."
            "kafka.common.security.scram.ScramLoginModule required username=\"lcm\" "
            "password=\"pa\\\"ss\\\\word\";'") in rendered


@pytest.mark.parametrize(("env", "variable"), [
    ({"KAFKA_SECURITY_PROTOCOL": "SASL_SSL"}, "KAFKA_SASL_MECHANISM"),
    ({"KAFKA_SECURITY_PROTOCOL": "TLS"}, "KAFKA_SECURITY_PROTOCOL"),
    ({"KAFKA_SASL_MECHANISM": "PLAIN"}, "KAFKA_SASL_MECHANISM"),
    ({"KAFKA_SECURITY_PROTOCOL": "SSL", "KAFKA_SSL_CA_LOCATION": "/nonexistent/ca.pem"},
     "KAFKA_SSL_CA_LOCATION"),
    ({"KAFKA_SECURITY_PROTOCOL": "SSL", "KAFKA_SSL_CERT_LOCATION": __file__},
     "KAFKA_SSL_KEY_LOCATION"),
])
def test_bad_kafka_security_names_the_variable(env: dict[str, str], variable: str) -> None:
    with pytest.raises(ConfigError, match=variable):
        KafkaSecurity.from_env(env)


def test_mtls_files_reach_both_clients(tmp_path: Path) -> None:
    ca, cert, key = (tmp_path / n for n in ("ca.pem", "client.pem", "client.key"))
    for f in (ca, cert, key):
        f.write_text(f"-----BEGIN {f.name}-----\n", encoding="utf-8")
    sec = KafkaSecurity.from_env({"KAFKA_SECURITY_PROTOCOL": "SSL",
                                  "KAFKA_SSL_CA_LOCATION": str(ca),
                                  "KAFKA_SSL_CERT_LOCATION": str(cert),
                                  "KAFKA_SSL_KEY_LOCATION": str(key)})
    assert sec.librdkafka() == {"security.protocol": "SSL", "ssl.ca.location": str(ca),
                                "ssl.certificate.location": str(cert),
                                "ssl.key.location": str(key)}
    java = sec.java_properties()
    assert java["ssl.truststore.location"] == str(ca) and java["ssl.keystore.type"] == "PEM"
    assert java["ssl.keystore.key"].startswith("-----BEGIN client.key")
