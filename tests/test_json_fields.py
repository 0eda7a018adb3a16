"""JSON_ROW and JSON_FIELDS (flink_jobs/java), the job's one-pass JSON parsers, in a local Flink."""

from __future__ import annotations

import pytest
from pyflink.table import EnvironmentSettings, TableEnvironment

from flink_jobs.job import local_jars

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
    env = TableEnvironment.create(EnvironmentSettings.in_batch_mode())
    env.get_config().set("pipeline.jars", local_jars())
    env.create_java_temporary_system_function("JSON_FIELDS", "io.lcm.flink.JsonFields")
    env.create_java_temporary_system_function("JSON_ROW", "io.lcm.flink.JsonRow")
    return env


def test_json_fields(t_env: TableEnvironment) -> None:
    values = ", ".join(f"({i}, '{text.replace(chr(39), chr(39) * 2)}')"
                       for i, (text, _) in enumerate(CASES))
    rows = t_env.execute_sql(
        f"SELECT id, JSON_FIELDS(payload) FROM (VALUES {values}) AS t(id, payload)").collect()
    with rows:
        got = {r[0]: r[1] for r in rows}
    assert got == {i: want for i, (_, want) in enumerate(CASES)}


# --- JSON_ROW: the typed one-pass parse the job's parse views use ---------------------------
SPEC = "s STRING, n BIGINT, d DOUBLE"

# Values that probe every conversion edge: JSON_ROW must give exactly what JSON_FIELDS and
# TRY_CAST give on the same text (the job's rows must not change with the parser).
VALUES = ['1795183230000', '"1795183230000"', '1795183230000.9', '" 42 "', '"42 "', '-0', '+5',
          '"+5"', '1e3', '1E-3', '"1e3"', '0.1', '95000.50000000001', '1.7976931348623157e308',
          '1e400', '-1e400', '"NaN"', '"Infinity"', '"-Infinity"', '"0x10"', '"1_000"', '"12d"',
          '"1.5f"', '""', '" "', 'true', 'false', 'null', '{"x":1}', '[1,2]', '"\\u00e9"',
          '9223372036854775807', '9223372036854775808', '-9223372036854775809',
          '123456789012345678901234567890', '0.30000000000000004', '"\\t7\\n"', '"٣"']


def _payloads() -> list[str]:
    out = [text for text, _ in CASES]
    for v in VALUES:
        out.append(f'{{"s":{v},"n":{v},"d":{v}}}')
    out += ['{"n":1,"n":2,"d":1,"d":null}', '{"s":"a","other":{"deep":[1,{"x":[]}]},"n":3}',
            '{"s":"a","other":{"deep":[1,}}', '{"n":7} trailing', '{"d":1.5}', '{"s":"\\ud800"}']
    return out


def test_json_row_equals_json_fields_and_try_cast(t_env: TableEnvironment) -> None:
    payloads = _payloads()
    values = ", ".join(f"({i}, '{p.replace(chr(39), chr(39) * 2)}')"
                       for i, p in enumerate(payloads))
    sql = f"""
      SELECT id, j IS NULL, j.s, j.n, j.d, f IS NULL, f['s'], TRY_CAST(f['n'] AS BIGINT),
             TRY_CAST(f['d'] AS DOUBLE)
      FROM (SELECT id, JSON_ROW(payload, '{SPEC}') AS j, JSON_FIELDS(payload) AS f
            FROM (VALUES {values}) AS t(id, payload))"""
    with t_env.execute_sql(sql).collect() as rows:
        got = {r[0]: tuple(r[1:]) for r in rows}
    assert len(got) == len(payloads)
    def same(a: object, b: object) -> bool:
        return a == b or (isinstance(a, float) and isinstance(b, float) and a != a and b != b)

    differ = [(payloads[i], row[:4], row[4:]) for i, row in got.items()
              if not all(same(a, b) for a, b in zip(row[:4], row[4:], strict=True))]
    assert not differ, f"JSON_ROW differs from JSON_FIELDS + TRY_CAST: {differ[:5]}"
    # The probes reach every outcome: parsed numbers, NULLs and whole-row NULLs.
    assert {r[0] for r in got.values()} == {True, False}
    assert any(r[2] is not None for r in got.values()) and any(r[3] is not None
                                                               for r in got.values())


def test_json_row_names_a_bad_field_list(t_env: TableEnvironment) -> None:
    with pytest.raises(Exception, match="is not one of STRING, BIGINT, DOUBLE"):
        t_env.execute_sql("SELECT JSON_ROW('{}', 'a BOOLEAN')").collect().close()
