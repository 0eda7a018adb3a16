"""Static checks of the container stack against the native one (no Docker engine needed).

The native stack (stack/*.sh) is the reference: these tests pin docker-compose.yml,
docker/flink/Dockerfile and .env.example to its ports, names and versions, and check
the no-default-password and loopback-only rules (README.md, "Configuration and secrets").
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import tomllib
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
import yaml
from packaging.requirements import Requirement
from packaging.specifiers import SpecifierSet

ROOT = Path(__file__).resolve().parents[1]
COMPOSE_FILE = ROOT / "docker-compose.yml"
DOCKERFILE = ROOT / "docker" / "flink" / "Dockerfile"
ENV_EXAMPLE = ROOT / ".env.example"
POM = ROOT / "stack" / "pom.xml"
TOPICS_FILE = ROOT / "lcm" / "topics.txt"
PYPROJECT = ROOT / "pyproject.toml"
FLINK_CONF = ROOT / "flink-conf" / "config.yaml"

EXPECTED_SERVICES = {
    "kafka",
    "kafka-init",
    "kafka-ui",
    "jobmanager",
    "taskmanager",
    "timescaledb",
    "db-init",
    "grafana",
    "job-submit",
    "ingest",
    "notifier",
}
ONE_SHOT = {"kafka-init", "db-init"}
# Submits the job, then stays to resubmit it after a JobManager restart; exits 0 when a
# user stopped the job on purpose, so it is restarted on failure only.
SUPERVISOR = {"job-submit"}
APP_DOCKERFILE = ROOT / "docker" / "app" / "Dockerfile"
CONSTRAINTS = ROOT / "constraints.txt"
# service -> (host-port variable, port of the native stack = container port)
PUBLISHED = {
    "kafka": ("KAFKA_PORT", 9092),
    "kafka-ui": ("KAFKA_UI_PORT", 8080),
    "jobmanager": ("FLINK_REST_PORT", 8081),
    "timescaledb": ("PGPORT", 5432),
    "grafana": ("GRAFANA_PORT", 3000),
}
# Variables the native stack and `make setup` share with compose.
NATIVE_VARS = {
    "LCM_BIND",
    "KAFKA_PORT",
    "FLINK_REST_PORT",
    "PGPORT",
    "LCM_DB",
    "LCM_WRITER_USER",
    "LCM_WRITER_PASSWORD",
    "LCM_READER_USER",
    "LCM_READER_PASSWORD",
    "POSTGRES_PASSWORD",
    "GRAFANA_ADMIN_PASSWORD",
    "GRAFANA_PORT",
    "KAFKA_UI_PORT",
}
DATA_TOPICS = {
    "prices",
    "funding_rates",
    "open_interest",
    "liquidations",
    "long_short_ratio",
    "stablecoin_flows",
}
OTHER_TOPICS = {"alerts", "ingest_dead_letter", "ingest_heartbeat", "ingest_health"}
PASSWORD_VARS = {
    "LCM_WRITER_PASSWORD",
    "LCM_READER_PASSWORD",
    "POSTGRES_PASSWORD",
    "GRAFANA_ADMIN_PASSWORD",
}
INTERNAL_BOOTSTRAP = "kafka:29092"

SECRET_KEY = re.compile(r"PASSWORD|PASSWD|SECRET|TOKEN", re.IGNORECASE)
# ${NAME} / ${NAME:-default} / ${NAME:?message} ...; "$$" is compose's escaped "$".
VAR_REF = re.compile(r"(?<!\$)\$\{([A-Za-z_][A-Za-z0-9_]*)((?::?[-?+])[^}]*)?\}")
BARE_REF = re.compile(r"(?<!\$)\$(?![{$])[A-Za-z_]")


# ---------------------------------------------------------------- helpers


@pytest.fixture(scope="module")
def compose() -> dict:
    doc = yaml.safe_load(COMPOSE_FILE.read_text())
    assert isinstance(doc, dict) and isinstance(doc.get("services"), dict)
    return doc


@pytest.fixture(scope="module")
def services(compose: dict) -> dict:
    return compose["services"]


def scalars(node, path=""):
    """Yield (path, key, text) for every string value in a YAML tree; for list items
    of the form KEY=VALUE (environment lists) the key is KEY."""
    if isinstance(node, dict):
        items = ((f"{path}/{k}", str(k), v) for k, v in node.items())
    elif isinstance(node, list):
        items = (
            (f"{path}[{i}]", v.split("=", 1)[0] if isinstance(v, str) and "=" in v else "", v)
            for i, v in enumerate(node)
        )
    else:
        return
    for sub, key, value in items:
        if isinstance(value, str):
            yield sub, key, value
        else:
            yield from scalars(value, sub)


def var_refs(doc) -> list[tuple[str, str, str]]:
    """(path, variable, modifier) of every interpolation in the compose file."""
    refs = []
    for path, _key, text in scalars(doc):
        for m in VAR_REF.finditer(text):
            refs.append((path, m.group(1), m.group(2) or ""))
    return refs


def env_dict(service: dict) -> dict[str, str]:
    env = service.get("environment") or {}
    if isinstance(env, list):
        env = dict(item.split("=", 1) if "=" in item else (item, None) for item in env)
    return {k: (None if v is None else str(v)) for k, v in env.items()}


def parse_env_example() -> dict[str, str]:
    values = {}
    for n, line in enumerate(ENV_EXAMPLE.read_text().splitlines(), 1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        # Sourced by bash (stack/common.sh) and read by compose: keep it to NAME=word.
        assert re.fullmatch(r"[A-Z][A-Z0-9_]*=[^\s'\"$`\\#]*", line), f".env.example:{n}: {line!r}"
        name, value = line.split("=", 1)
        assert name not in values, f".env.example:{n}: {name} listed twice"
        values[name] = value
    return values


def parse_topics() -> dict[str, int]:
    topics = {}
    for n, line in enumerate(TOPICS_FILE.read_text().splitlines(), 1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        fields = line.split()
        assert len(fields) == 2, f"lcm/topics.txt:{n}: want 'name partitions', got {line!r}"
        name, parts = fields
        where = f"lcm/topics.txt:{n}"
        assert re.fullmatch(r"[A-Za-z0-9._-]{1,249}", name), f"{where}: bad topic name {name!r}"
        assert parts.isdigit() and int(parts) >= 1, f"{where}: bad partition count {parts!r}"
        assert name not in topics, f"{where}: {name} listed twice"
        topics[name] = int(parts)
    return topics


def pom_versions() -> tuple[dict[str, str], dict[str, str]]:
    """(properties, artifactId -> resolved version of the flink-connectors execution)."""
    ns = {"m": "http://maven.apache.org/POM/4.0.0"}
    root = ET.parse(POM).getroot()
    props = {
        el.tag.split("}", 1)[1]: (el.text or "").strip() for el in root.find("m:properties", ns)
    }

    def resolve(text: str) -> str:
        return re.sub(r"\$\{([^}]+)\}", lambda m: props[m.group(1)], text.strip())

    artifacts = {}
    for ex in root.iterfind(".//m:execution", ns):
        if ex.findtext("m:id", namespaces=ns) != "flink-connectors":
            continue
        for item in ex.iterfind(".//m:artifactItem", ns):
            artifact = item.findtext("m:artifactId", namespaces=ns)
            artifacts[artifact] = resolve(item.findtext("m:version", namespaces=ns))
    return props, artifacts


def dockerfile_lines(path: Path = DOCKERFILE) -> list[str]:
    """Instruction text of the Dockerfile: comments dropped, continuations joined."""
    joined, buf = [], ""
    for line in path.read_text().splitlines():
        if line.lstrip().startswith("#"):
            continue
        if line.rstrip().endswith("\\"):
            buf += line.rstrip()[:-1] + " "
            continue
        buf += line
        if buf.strip():
            joined.append(" ".join(buf.split()))
        buf = ""
    return joined


def dockerfile_stages() -> list[tuple[str, str | None]]:
    stages = []
    for line in dockerfile_lines():
        m = re.match(r"FROM\s+(?:--\S+\s+)*(\S+)(?:\s+AS\s+(\S+))?$", line, re.IGNORECASE)
        if m:
            stages.append((m.group(1), m.group(2)))
    return stages


def constraints() -> dict[str, str]:
    """name -> exact version, from constraints.txt (what setup and the images install)."""
    pins = {}
    for line in CONSTRAINTS.read_text().splitlines():
        if line.strip() and not line.startswith("#"):
            req = Requirement(line)
            (spec,) = req.specifier
            assert spec.operator == "==", f"constraints.txt: {line!r} is not an exact pin"
            pins[req.name.lower()] = spec.version
    return pins


def flink_pin() -> str:
    """The Flink version: apache-flink's exact pin in constraints.txt, inside the range of
    pyproject.toml's job extra."""
    project = tomllib.loads(PYPROJECT.read_text())["project"]
    (dep,) = [d for d in project["optional-dependencies"]["job"]
              if Requirement(d).name == "apache-flink"]
    pin = constraints()["apache-flink"]
    assert Requirement(dep).specifier.contains(pin), f"constraints.txt {pin} outside {dep!r}"
    return pin


# ---------------------------------------------------------------- services and ports


def test_expected_services(services):
    assert set(services) == EXPECTED_SERVICES


def test_images(services):
    props, _ = pom_versions()
    assert services["kafka"]["image"] == f"apache/kafka:{props['kafka.version']}"
    assert services["kafka-init"]["image"] == services["kafka"]["image"]
    # A released TimescaleDB on a PostgreSQL major, never a floating tag.
    assert re.fullmatch(r"timescale/timescaledb:\d+\.\d+\.\d+-pg1[5-9]",
                        services["timescaledb"]["image"])
    assert services["db-init"]["image"] == services["timescaledb"]["image"]  # for its psql
    # kafbat/kafka-ui is the maintained fork of the abandoned provectuslabs image.
    assert re.fullmatch(r"kafbat/kafka-ui:v\d+\.\d+\.\d+", services["kafka-ui"]["image"])
    assert services["job-submit"]["build"] == services["jobmanager"]["build"]
    assert services["job-submit"]["image"] == services["jobmanager"]["image"]
    for name in ("ingest", "notifier"):
        assert services[name]["build"] == {"context": ".", "dockerfile": "docker/app/Dockerfile"}
        assert services[name]["image"] == services["ingest"]["image"]
    assert services["grafana"]["image"].split(":")[0] in {"grafana/grafana", "grafana/grafana-oss"}
    for name in ("jobmanager", "taskmanager"):
        build = services[name]["build"]
        assert build["context"] == "."
        assert build["dockerfile"] == "docker/flink/Dockerfile"
    assert services["jobmanager"]["command"] == "jobmanager"
    assert services["taskmanager"]["command"] == "taskmanager"


PORT_SHORT = re.compile(
    r"\$\{LCM_BIND:-(?P<bind_default>[^}]*)\}:"
    r"\$\{(?P<var>[A-Z_]+):-(?P<default>\d+)\}:"
    r"(?P<target>\d+)(?:/tcp)?"
)


def published_ports(service: dict) -> list[tuple[str, str, str, int]]:
    """(host_ip expression, host-port variable, its default, container port)."""
    out = []
    for p in service.get("ports", []):
        if isinstance(p, dict):
            bind = re.fullmatch(r"\$\{LCM_BIND:-([^}]*)\}", str(p.get("host_ip", "")))
            pub = re.fullmatch(r"\$\{([A-Z_]+):-(\d+)\}", str(p.get("published", "")))
            target = int(p["target"])
            assert bind and pub, f"port {p} must be ${{LCM_BIND:-127.0.0.1}} / ${{VAR:-port}}"
            out.append((bind.group(1), pub.group(1), pub.group(2), target))
        else:
            m = PORT_SHORT.fullmatch(str(p))
            assert m, f'port {p!r} must read "${{LCM_BIND:-127.0.0.1}}:${{VAR:-port}}:port"'
            out.append((m["bind_default"], m["var"], m["default"], int(m["target"])))
    return out


def test_published_ports_bind_to_lcm_bind_and_match_native(services):
    publishing = {name for name, svc in services.items() if svc.get("ports")}
    assert publishing == set(PUBLISHED), "only the native stack's services publish ports"
    for name, (var, native_port) in PUBLISHED.items():
        ports = published_ports(services[name])
        assert len(ports) == 1, f"{name}: one published port"
        bind_default, host_var, default, target = ports[0]
        # An empty LCM_BIND would publish on every interface.
        assert bind_default == "127.0.0.1", f"{name}: LCM_BIND must default to 127.0.0.1"
        assert host_var == var, f"{name}: host port should come from {var}"
        assert int(default) == native_port, f"{name}: {var} default must be {native_port}"
        assert target == native_port, f"{name}: container port must be {native_port}"


def test_no_host_network_or_raw_exposure(services):
    for name, svc in services.items():
        assert svc.get("network_mode") != "host", f"{name} must not use the host network"
        for p in svc.get("ports", []):
            assert "0.0.0.0" not in str(p), f"{name}: {p}"


# ---------------------------------------------------------------- variables and secrets


def test_every_variable_is_in_env_example(compose):
    example = parse_env_example()
    refs = var_refs(compose)
    assert refs, "compose should read its settings from the environment"
    missing = sorted({f"{var} ({path})" for path, var, _ in refs if var not in example})
    assert not missing, f"not in .env.example: {missing}"
    for path, _key, text in scalars(compose):
        assert not BARE_REF.search(text), f"{path}: use ${{VAR}} (or $$ for a literal $): {text!r}"


def test_env_example_covers_native_vars_and_compose_defaults():
    example = parse_env_example()
    assert set(example) >= NATIVE_VARS, f"missing: {sorted(NATIVE_VARS - set(example))}"
    # Same behaviour with or without .env: compose defaults equal the example values.
    doc = yaml.safe_load(COMPOSE_FILE.read_text())
    for path, var, mod in var_refs(doc):
        if mod.startswith(":-"):
            assert example.get(var) == mod[2:], (
                f"{path}: default of {var} {mod[2:]!r} != .env.example {example.get(var)!r}"
            )


def test_env_example_passwords_are_empty():
    example = parse_env_example()
    passwords = {k: v for k, v in example.items() if k.endswith("_PASSWORD")}
    assert set(passwords) >= PASSWORD_VARS
    assert all(v == "" for v in passwords.values()), f"passwords must be empty: {passwords}"
    assert not [k for k in example if SECRET_KEY.search(k) and not k.endswith("_PASSWORD")], (
        "make setup only generates *_PASSWORD values"
    )


def test_password_variables_are_required(compose):
    pw_refs = [(p, v, m) for p, v, m in var_refs(compose) if SECRET_KEY.search(v)]
    assert {v for _, v, _ in pw_refs} >= PASSWORD_VARS
    for path, var, mod in pw_refs:
        assert mod.startswith(":?") and len(mod) > 2, (
            f"{path}: use ${{{var}:?message}}, got ${{{var}{mod}}}"
        )


def test_no_literal_passwords(compose):
    weak = {"admin", "postgres", "password", "changeme", "secret", "lcm", "root", "123456"}
    for path, key, text in scalars(compose):
        if key and SECRET_KEY.search(key):
            value = text.split("=", 1)[1] if text.startswith(key + "=") else text
            assert value.strip().lower() not in weak, f"{path}: literal password {value!r}"
            m = VAR_REF.fullmatch(value.strip())
            assert m and (m.group(2) or "").startswith(":?"), (
                f"{path}: a password must be ${{VAR:?...}}, got {value!r}"
            )


def test_grafana_is_locked_down(services):
    g = services["grafana"]
    env = env_dict(g)
    assert env["GF_AUTH_ANONYMOUS_ENABLED"] == "false"
    assert env["GF_USERS_ALLOW_SIGN_UP"] == "false"
    assert env["GF_SECURITY_ADMIN_PASSWORD"].startswith("${GRAFANA_ADMIN_PASSWORD:?")
    # The provisioned datasource connects as the read-only role.
    assert env["LCM_READER_USER"].startswith("${LCM_READER_USER")
    assert env["LCM_READER_PASSWORD"].startswith("${LCM_READER_PASSWORD:?")
    assert env["LCM_DB"].startswith("${LCM_DB")
    assert (env["PGHOST"], env["PGPORT"]) == ("timescaledb", "5432")
    assert not any("WRITER" in k or k == "POSTGRES_PASSWORD" for k in env), "reader role only"
    assert "./grafana/provisioning:/etc/grafana/provisioning:ro" in g["volumes"]


def test_grafana_has_no_open_doors(services):
    env = env_dict(services["grafana"])
    # No default admin password: compose refuses to start without one in .env.
    assert re.fullmatch(r"\$\{GRAFANA_ADMIN_PASSWORD:\?[^}]+\}", env["GF_SECURITY_ADMIN_PASSWORD"])
    assert "GF_SECURITY_ADMIN_USER" not in env or env["GF_SECURITY_ADMIN_USER"] != "admin"
    assert env["GF_USERS_ALLOW_ORG_CREATE"] == "false"
    assert env["GF_AUTH_BASIC_ENABLED"] == "false"
    assert env["GF_SNAPSHOTS_EXTERNAL_ENABLED"] == "false"
    assert not any(k.startswith("GF_AUTH_ANONYMOUS") and k != "GF_AUTH_ANONYMOUS_ENABLED"
                   for k in env), "no anonymous org/role settings"
    # the home dashboard is a provisioned file, inside the mounted folder
    home = env["GF_DASHBOARDS_DEFAULT_HOME_DASHBOARD_PATH"]
    mount = "/etc/grafana/provisioning/"
    assert home.startswith(mount)
    assert (ROOT / "grafana" / "provisioning" / home.removeprefix(mount)).is_file(), home


def test_db_init_runs_the_migration_as_superuser(services):
    d = services["db-init"]
    # The same script and SQL files as the native stack (stack/postgres.sh init).
    assert d["entrypoint"] == ["bash", "/sql/apply.sh"]
    assert "./sql/timescale:/sql:ro" in d["volumes"]
    assert "sql/timescale/apply.sh" in (ROOT / "stack" / "postgres.sh").read_text()
    env = env_dict(d)
    assert env["PGHOST"] == "timescaledb" and env["PGPORT"] == "5432"
    assert env["PGUSER"] == env_dict(services["timescaledb"]).get("POSTGRES_USER", "postgres")
    assert env["PGPASSWORD"].startswith("${POSTGRES_PASSWORD:?")
    roles = ("LCM_WRITER_USER", "LCM_WRITER_PASSWORD", "LCM_READER_USER", "LCM_READER_PASSWORD")
    for var in ("LCM_DB", *roles):
        assert env[var].startswith("${" + var), f"db-init needs {var}"
    superuser_pw = env_dict(services["timescaledb"])["POSTGRES_PASSWORD"]
    assert superuser_pw.startswith("${POSTGRES_PASSWORD:?")


def test_flink_gets_writer_role_not_superuser(services):
    for name in ("jobmanager", "taskmanager", "job-submit"):
        env = env_dict(services[name])
        assert env["JOB_MANAGER_RPC_ADDRESS"] == "jobmanager"
        # KAFKA_BOOTSTRAP and PG* are what flink_jobs.config.Connections reads.
        assert env["KAFKA_BOOTSTRAP"] == INTERNAL_BOOTSTRAP
        assert (env["PGHOST"], env["PGPORT"]) == ("timescaledb", "5432")
        assert env["LCM_WRITER_PASSWORD"].startswith("${LCM_WRITER_PASSWORD:?")
        assert "POSTGRES_PASSWORD" not in env and "PGPASSWORD" not in env


# ---------------------------------------------------------------- ordering, health, volumes


def test_depends_on_conditions(services):
    expected = {
        "kafka-init": {"kafka": "service_healthy"},
        "kafka-ui": {"kafka": "service_healthy"},
        "db-init": {"timescaledb": "service_healthy"},
        "jobmanager": {
            "kafka-init": "service_completed_successfully",
            "db-init": "service_completed_successfully",
        },
        "taskmanager": {"jobmanager": "service_healthy"},
        "grafana": {"db-init": "service_completed_successfully"},
        "job-submit": {
            "kafka-init": "service_completed_successfully",
            "db-init": "service_completed_successfully",
            "taskmanager": "service_healthy",
        },
        "ingest": {"kafka-init": "service_completed_successfully"},
        "notifier": {"kafka-init": "service_completed_successfully"},
    }
    for name, deps in expected.items():
        got = {k: v["condition"] for k, v in services[name]["depends_on"].items()}
        assert got == deps, name
    for name, svc in services.items():
        for dep, spec in (svc.get("depends_on") or {}).items():
            if spec["condition"] == "service_healthy":
                assert "healthcheck" in services[dep], f"{name} waits for {dep}'s healthcheck"
            if spec["condition"] == "service_completed_successfully":
                assert dep in ONE_SHOT


def test_healthchecks_and_restart(services):
    for name, svc in services.items():
        if name in ONE_SHOT:
            assert svc.get("restart", "no") == "no", f"{name} is one-shot"
            assert "healthcheck" not in svc
        elif name in SUPERVISOR:
            assert svc.get("restart") == "on-failure", name
            assert svc["healthcheck"]["test"], f"{name} needs a healthcheck"
        else:
            assert svc.get("restart") == "unless-stopped", name
            assert svc["healthcheck"]["test"], f"{name} needs a healthcheck"


def test_named_volumes(compose, services):
    declared = set(compose.get("volumes") or {})
    mounts = {}
    for name, svc in services.items():
        for v in svc.get("volumes") or []:
            src, target = str(v).split(":")[:2]
            if not src.startswith((".", "/")):
                assert src in declared, f"{name}: volume {src} not declared"
                mounts[(name, target)] = src
    assert mounts[("kafka", "/var/lib/kafka/data")]
    assert env_dict(services["kafka"])["KAFKA_LOG_DIRS"] == "/var/lib/kafka/data"
    assert mounts[("timescaledb", "/var/lib/postgresql/data")]
    assert mounts[("grafana", "/var/lib/grafana")]
    # Checkpoints must be visible to both JobManager and TaskManager.
    assert mounts[("jobmanager", "/var/lib/lcm")] == mounts[("taskmanager", "/var/lib/lcm")]
    assert set(mounts.values()) == declared, "every declared volume is used"


def test_kafka_listeners(services):
    env = env_dict(services["kafka"])
    assert env["KAFKA_PROCESS_ROLES"] == "broker,controller"
    listeners = dict(x.split("://", 1) for x in env["KAFKA_LISTENERS"].split(","))
    advertised = dict(x.split("://", 1) for x in env["KAFKA_ADVERTISED_LISTENERS"].split(","))
    assert listeners["INTERNAL"].endswith(":29092") and advertised["INTERNAL"] == INTERNAL_BOOTSTRAP
    assert listeners["EXTERNAL"].endswith(":9092")
    # Host clients must be sent back to the published port.
    assert advertised["EXTERNAL"].endswith(":${KAFKA_PORT:-9092}")
    assert "CONTROLLER" in listeners and "CONTROLLER" not in advertised
    assert env["KAFKA_INTER_BROKER_LISTENER_NAME"] == "INTERNAL"
    assert env["KAFKA_AUTO_CREATE_TOPICS_ENABLE"] == "false"
    assert env_dict(services["kafka-ui"])["KAFKA_CLUSTERS_0_BOOTSTRAPSERVERS"] == INTERNAL_BOOTSTRAP


# ---------------------------------------------------------------- topics


def test_topics_file_lists_the_design_topics():
    topics = parse_topics()
    assert {t: topics.get(t) for t in DATA_TOPICS} == dict.fromkeys(DATA_TOPICS, 3)
    assert set(topics) >= OTHER_TOPICS
    assert set(topics) == DATA_TOPICS | OTHER_TOPICS


def kafka_init_script(services) -> tuple[str, str]:
    svc = services["kafka-init"]
    argv = list(svc.get("entrypoint") or []) + list(svc.get("command") or [])
    assert argv[:2] in (["/bin/sh", "-c"], ["sh", "-c"]), f"want a sh -c script, got {argv[:2]}"
    mounts = [v for v in svc["volumes"] if str(v).startswith("./lcm/topics.txt:")]
    assert len(mounts) == 1, "kafka-init reads the topic list from lcm/topics.txt"
    target = mounts[0].split(":")[1]
    return argv[2], target


def run_kafka_init(services, tmp_path: Path, stub_exit: int = 0):
    """Run kafka-init's own script with a stub kafka-topics.sh that logs its arguments."""
    script, target = kafka_init_script(services)
    tool = "/opt/kafka/bin/kafka-topics.sh"
    assert tool in script and target in script
    log = tmp_path / "calls.log"
    stub = tmp_path / "kafka-topics.sh"
    stub.write_text(
        "#!/bin/sh\n"
        f"for a in \"$@\"; do printf '%s\\t' \"$a\"; done >> '{log}'\n"
        f"echo >> '{log}'\n"
        f"exit {stub_exit}\n"
    )
    stub.chmod(0o755)
    # Compose turns "$$" into "$" before the container sees the script.
    script = script.replace("$$", "$").replace(tool, str(stub)).replace(target, str(TOPICS_FILE))
    proc = subprocess.run(["/bin/sh", "-c", script], capture_output=True, text=True, timeout=60)
    lines = log.read_text().splitlines() if log.exists() else []
    calls = [line.rstrip("\t").split("\t") for line in lines]
    return proc, calls


def test_kafka_init_creates_exactly_the_listed_topics(services, tmp_path):
    proc, calls = run_kafka_init(services, tmp_path)
    assert proc.returncode == 0, proc.stderr
    created = {}
    for args in calls:
        assert "--create" in args and "--if-not-exists" in args, args
        valued = {"--bootstrap-server", "--topic", "--partitions", "--replication-factor"}
        flags = {a: args[i + 1] for i, a in enumerate(args[:-1]) if a in valued}
        assert flags["--bootstrap-server"] == INTERNAL_BOOTSTRAP, args
        assert flags["--replication-factor"] == "1"
        assert flags["--topic"] not in created
        created[flags["--topic"]] = int(flags["--partitions"])
    assert created == parse_topics()


def test_kafka_init_fails_when_a_topic_cannot_be_created(services, tmp_path):
    proc, calls = run_kafka_init(services, tmp_path, stub_exit=1)
    assert proc.returncode != 0
    assert len(calls) == 1, "stops at the first failure"


# ---------------------------------------------------------------- Flink image


def test_flink_image_matches_apache_flink_pin():
    stages = dockerfile_stages()
    final = stages[-1][0]
    m = re.fullmatch(r"flink:(\d+\.\d+\.\d+)-scala_2\.12-java17", final)
    assert m, f"runtime stage must be FROM flink:<version>-scala_2.12-java17, got {final}"
    assert m.group(1) == flink_pin()


def test_flink_image_python_is_the_projects():
    stages = dict((alias, image) for image, alias in dockerfile_stages() if alias)
    m = re.fullmatch(r"python:(\d+\.\d+)-slim-\w+", stages.get("python", ""))
    assert m, f"a 'python' stage FROM python:<x.y>-slim-<debian>, got {stages}"
    assert m.group(1) == "3.11"
    if PYPROJECT.exists():
        requires = tomllib.loads(PYPROJECT.read_text())["project"].get("requires-python")
        if requires:
            assert SpecifierSet(requires).contains(m.group(1) + ".0"), requires


def test_connector_jars_come_from_the_pom():
    _, artifacts = pom_versions()
    assert set(artifacts) == {
        "flink-sql-connector-kafka",
        "flink-connector-jdbc-core",
        "flink-connector-jdbc-postgres",
        "postgresql",
    }
    lines = dockerfile_lines()
    text = "\n".join(lines)
    # Versions live in the pom only: none spelled out in the Dockerfile, and any
    # artifact-version pair that does appear must agree with the pom.
    for artifact, version in artifacts.items():
        for found in re.findall(re.escape(artifact) + r"[-:](\d[\w.]*(?:-\d[\w.]*)?)", text):
            assert found == version, f"{artifact} {found} in the Dockerfile, pom says {version}"
    for version in set(artifacts.values()):
        assert version not in text, f"version {version} hard-coded in the Dockerfile"
    # The Maven stage builds from the repo's pom and the runtime stage copies its output.
    (jars_stage,) = [alias for image, alias in dockerfile_stages() if image.startswith("maven:")]
    mvn = [ln for ln in lines if re.search(r"\bmvn\b", ln)]
    assert len(mvn) == 1 and "-f stack/pom.xml" in mvn[0], mvn
    assert "COPY stack/pom.xml" in text
    lib_dir = re.search(r"-Dlib\.dir=(\S+)", mvn[0]).group(1)
    copy = rf"COPY --from={jars_stage}\b.* {re.escape(lib_dir)}/flink/? /opt/flink/lib/?$"
    assert re.search(copy, text, re.M), "runtime stage copies the Maven output into lib/"
    # That execution exists in the pom and writes to ${lib.dir}/flink.
    if "@" in mvn[0]:
        assert "@flink-connectors" in mvn[0]
    assert "<outputDirectory>${lib.dir}/flink</outputDirectory>" in POM.read_text()


def test_dockerfile_downloads_nothing_by_hand():
    for line in dockerfile_lines():
        assert not re.search(r"https?://|\bwget\b|\bcurl\b|^ADD\s", line), line


def test_flink_python_jar_and_project_install():
    text = "\n".join(dockerfile_lines())
    assert re.search(r"cp /opt/flink/opt/flink-python-\*\.jar /opt/flink/lib/?", text)
    assert re.search(r"-m venv /opt/lcm/\.venv", text)
    # Installed as the wheel is (not editable): lcm/paths.py finds config/ and sql/ in
    # the package data.
    assert not re.search(r"pip install .*(\s-e\s|--editable)", text)
    assert re.search(r"/opt/lcm/\.venv/bin/pip install .*--no-deps .*/opt/lcm/src\b", text)


@pytest.mark.parametrize("path", [DOCKERFILE, APP_DOCKERFILE], ids=["flink", "app"])
def test_dependencies_are_installed_before_the_source_is_copied(path: Path):
    """A source edit must not reinstall the dependencies: they come from pyproject.toml
    and constraints.txt alone, in a layer before `COPY .`."""
    lines = dockerfile_lines(path)
    final = max(i for i, ln in enumerate(lines) if ln.upper().startswith("FROM "))
    lines = lines[final:]
    copy_all = [i for i, ln in enumerate(lines) if re.match(r"COPY \. ", ln)]
    assert len(copy_all) == 1, f"{path.name}: one COPY of the whole context"
    deps = [i for i, ln in enumerate(lines) if "-c constraints.txt" in ln and "pip install" in ln]
    assert deps and max(deps) < copy_all[0], f"{path.name}: dependencies after COPY ."
    before = [ln for ln in lines[:copy_all[0]]
              if ln.startswith("COPY ") and not ln.startswith("COPY --from=")]
    assert before == ["COPY pyproject.toml constraints.txt /opt/lcm/"], before
    after = [ln for ln in lines[copy_all[0]:] if "pip install" in ln]
    assert after and all("--no-deps" in ln for ln in after), after


def test_app_image_has_no_flink():
    text = "\n".join(dockerfile_lines(APP_DOCKERFILE))
    assert re.search(r"^FROM python:3\.11-slim-\w+$", text, re.M)
    extras = re.findall(r"optional-dependencies'\]\['(\w+)'\]", text)
    assert sorted(extras) == ["ingest", "notifier"], extras
    assert "USER lcm" in text


def test_flink_prometheus_reporter():
    text = "\n".join(dockerfile_lines())
    assert ("-Dmetrics.reporter.prom.factory.class="
            "org.apache.flink.metrics.prometheus.PrometheusReporterFactory") in text
    port = re.search(r"-Dmetrics\.reporter\.prom\.port=(\d+)", text)
    assert port
    doc = yaml.safe_load(COMPOSE_FILE.read_text())
    for name in ("jobmanager", "taskmanager"):
        assert port.group(1) in [str(p) for p in doc["services"][name]["expose"]], name
    # Natively the reporter is off: it would listen on every interface.
    assert "metrics.reporter" not in FLINK_CONF.read_text()


def test_ingest_metrics_are_reachable_in_the_network(services):
    env = env_dict(services["ingest"])
    assert env["LCM_METRICS_BIND"] == "0.0.0.0"
    assert [str(p) for p in services["ingest"]["expose"]] == [env["LCM_METRICS_PORT"]]
    assert "ports" not in services["ingest"], "metrics stay inside the compose network"
    probe = " ".join(services["ingest"]["healthcheck"]["test"])
    assert f"localhost:{env['LCM_METRICS_PORT']}/metrics" in probe
    # the native default stays loopback
    assert "prometheus_bind: 127.0.0.1" in (ROOT / "config" / "ingest.yaml").read_text()


def test_ingest_and_notifier_run_the_installed_commands(services):
    assert services["ingest"]["command"] == ["lcm-ingest", "all"]
    assert services["notifier"]["command"] == ["lcm-notify"]
    for name in ("ingest", "notifier"):
        env = env_dict(services[name])
        assert env["KAFKA_BOOTSTRAP"] == INTERNAL_BOOTSTRAP
        # API keys and channel tokens from .env, as natively (lcm.settings reads .env too)
        assert services[name]["env_file"] == [{"path": ".env", "required": True}]
        volumes = [str(v).split(":") for v in services[name]["volumes"]]
        assert [v[1] for v in volumes] == ["/var/lib/lcm"], "spool / ledger on a volume"
    assert "LCM_HOME=/var/lib/lcm" in "\n".join(dockerfile_lines(APP_DOCKERFILE)).replace(
        " \\", "")


def test_job_submit_resubmits_after_a_jobmanager_restart(services):
    js = services["job-submit"]
    assert js["command"][:3] == ["lcm-job", "submit", "--watch"]
    assert js["entrypoint"] == []  # not the Flink image's jobmanager/taskmanager entrypoint
    env = env_dict(js)
    assert env["FLINK_REST_URL"] == "http://jobmanager:8081"
    assert env["KAFKA_BOOTSTRAP"] == INTERNAL_BOOTSTRAP
    assert js["healthcheck"]["test"] == ["CMD", "/opt/lcm/.venv/bin/lcm-job", "status"]
    # it reads the checkpoints the cluster writes: the same volume at the same place
    mounts = {str(v).split(":")[1]: str(v).split(":")[0] for v in js["volumes"]}
    jm = {str(v).split(":")[1]: str(v).split(":")[0] for v in services["jobmanager"]["volumes"]}
    assert mounts["/var/lib/lcm"] == jm["/var/lib/lcm"]


def test_kafka_ui_is_behind_a_login(services):
    env = env_dict(services["kafka-ui"])
    assert env["AUTH_TYPE"] == "LOGIN_FORM"
    assert re.fullmatch(r"\$\{KAFKA_UI_PASSWORD:\?[^}]+\}", env["SPRING_SECURITY_USER_PASSWORD"])


def test_images_are_pinned(services):
    for name, svc in services.items():
        image = svc.get("image", "")
        assert ":" in image and not image.endswith((":latest", "-latest")), f"{name}: {image}"
        assert "latest" not in image.split(":", 1)[1], f"{name}: floating tag {image}"


def test_sasl_override_reaches_broker_and_every_client():
    """docker-compose.sasl.yml: SASL/PLAIN on both listeners, and the same credentials in
    every client's KAFKA_* variables (lcm.settings.KafkaSecurity reads them)."""
    doc = yaml.safe_load((ROOT / "docker-compose.sasl.yml").read_text())
    svcs = doc["services"]
    kafka = env_dict(svcs["kafka"])
    protocols = dict(x.split(":") for x in kafka["KAFKA_LISTENER_SECURITY_PROTOCOL_MAP"].split(","))
    assert protocols["INTERNAL"] == protocols["EXTERNAL"] == "SASL_PLAINTEXT"
    assert kafka["KAFKA_SASL_ENABLED_MECHANISMS"] == "PLAIN"
    assert "${KAFKA_SASL_PASSWORD:?" in kafka["KAFKA_LISTENER_NAME_INTERNAL_PLAIN_SASL_JAAS_CONFIG"]
    clients = {"jobmanager", "taskmanager", "job-submit", "ingest", "notifier"}
    for name in clients:
        env = env_dict(svcs[name])
        assert env["KAFKA_SECURITY_PROTOCOL"] == "SASL_PLAINTEXT", name
        assert env["KAFKA_SASL_MECHANISM"] == "PLAIN", name
        assert env["KAFKA_SASL_PASSWORD"].startswith("${KAFKA_SASL_PASSWORD:?"), name
    ui = env_dict(svcs["kafka-ui"])
    assert ui["KAFKA_CLUSTERS_0_PROPERTIES_SECURITY_PROTOCOL"] == "SASL_PLAINTEXT"
    # kafka-init's CLI authenticates with a client config it writes from the same values
    assert "sasl.mechanism=PLAIN" in svcs["kafka-init"]["command"][0]


def test_flink_config_placeholders_are_filled():
    placeholders = set(re.findall(r"\$\{(\w+)\}", FLINK_CONF.read_text()))
    text = "\n".join(dockerfile_lines())
    for name in placeholders:
        sed = r"s#\$\{" + name + r"\}#[^#]+#g"
        assert re.search(sed, text), f"Dockerfile leaves ${{{name}}} in config.yaml"
    m = re.search(r"s#\$\{REPO_DIR\}#([^#]+)#g", text)
    assert m and m.group(1) == "/opt/lcm", "REPO_DIR must be where the project and its .venv are"


def test_healthchecks_use_the_image_python(services):
    for name in ("jobmanager", "taskmanager"):
        assert services[name]["healthcheck"]["test"][1] == "/opt/lcm/.venv/bin/python"


def test_urls_point_inside_the_stack(compose, services):
    allowed = {"localhost", "127.0.0.1"} | set(services)
    for path, _key, text in scalars(compose):
        for host in re.findall(r"https?://([^/:'\"\s]+)", text):
            assert host in allowed, f"{path}: {host}"


# ---------------------------------------------------------------- docker compose itself


def compose_cli() -> list[str] | None:
    docker = shutil.which("docker")
    if docker:
        probe = subprocess.run([docker, "compose", "version"], capture_output=True)
        if probe.returncode == 0:
            return [docker, "compose"]
    return None


@pytest.mark.skipif(compose_cli() is None, reason="docker compose plugin not installed")
def test_docker_compose_config(tmp_path):
    base_env = {k: os.environ[k] for k in ("PATH", "HOME", "DOCKER_CONFIG") if k in os.environ}
    empty = tmp_path / "empty.env"
    empty.write_text("")
    cmd = [*compose_cli(), "--env-file", str(empty), "-f", str(COMPOSE_FILE), "config", "-q"]
    refused = subprocess.run(cmd, capture_output=True, text=True, env=base_env, cwd=ROOT)
    assert refused.returncode != 0, "compose must refuse to start without passwords"
    assert "PASSWORD" in refused.stderr, refused.stderr
    secrets = {k: "x" for k in parse_env_example() if k.endswith("_PASSWORD")}
    ok = subprocess.run(cmd, capture_output=True, text=True, env=base_env | secrets, cwd=ROOT)
    assert ok.returncode == 0, ok.stderr


def test_kafka_retention_matches_native(services):
    """Both brokers keep data by size, not by record time (replays carry old timestamps)."""
    native = dict(
        re.findall(r"^(log\.retention\.\w+)=(\S+)$", (ROOT / "stack/kafka.sh").read_text(), re.M)
    )
    env = env_dict(services["kafka"])
    container = {
        k.removeprefix("KAFKA_").lower().replace("_", "."): str(v)
        for k, v in env.items()
        if k.startswith("KAFKA_LOG_RETENTION")
    }
    assert native == container
    assert native["log.retention.ms"] == "-1"
