"""JSON_FIELDS (flink_jobs/java), the job's one-pass JSON parser, in a local Flink."""

from __future__ import annotations

from pathlib import Path

import pytest
from pyflink.table import EnvironmentSettings, TableEnvironment

from lcm.paths import REPO_DIR

JAR = Path(REPO_DIR, ".state", "lib", "flink", "lcm-flink-functions.jar")

CASES = [
    ('{"exchange":"bybit","ts":1795183230000,"price":95000.5,"qty":1e-3}',
     {"exchange": "bybit", "ts": "1795183230000", "price": "95000.5", "qty": "1e-3"}),
    ('{"a":{"b":[1,2]},"c":[{"d":null}],"flag":true,"gone":null}',
     {"a": '{"b":[1,2]}', "c": '[{"d":null}]', "flag": "true"}),
    ('{"s":"with \\"quotes\\" and \\u00e9"}', {"s": 'with "quotes" and é'}),
    ("{}", {}),
    ('{"exchange":"bybit","ts":1795183', None),  # truncated
    ('{"a":1} {"b":2}', None),  # two documents
    ("[1, 2, 3]", None),
    ('"just a string"', None),
    ("not json", None),
    ("", None),
]


@pytest.fixture(scope="module")
def t_env() -> TableEnvironment:
    if not JAR.exists():
        pytest.fail(f"{JAR} missing: run 'make setup'")
    env = TableEnvironment.create(EnvironmentSettings.in_batch_mode())
    env.get_config().set("pipeline.jars", JAR.as_uri())
    env.create_java_temporary_system_function("JSON_FIELDS", "io.lcm.flink.JsonFields")
    return env


def test_json_fields(t_env: TableEnvironment) -> None:
    values = ", ".join(f"({i}, '{text.replace(chr(39), chr(39) * 2)}')"
                       for i, (text, _) in enumerate(CASES))
    rows = t_env.execute_sql(
        f"SELECT id, JSON_FIELDS(payload) FROM (VALUES {values}) AS t(id, payload)").collect()
    with rows:
        got = {r[0]: r[1] for r in rows}
    assert got == {i: want for i, (_, want) in enumerate(CASES)}
