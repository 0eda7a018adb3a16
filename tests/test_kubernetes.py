"""deploy/kubernetes, checked without a cluster: each overlay builds with kustomize, every
resource validates against its schema (built-in kinds: Kubernetes' own; Strimzi: its CRDs;
FlinkDeployment: the vendored schema, deploy/kubernetes/schemas/ORIGIN.md), and the
settings that make it a real scale-out agree with the rest of the project.
Tools come from `make setup` (kustomize and kubeconform from the Go module proxy, the
Strimzi validators from npm, Kubernetes' schemas from PyPI).
"""

from __future__ import annotations

import copy
import json
import re
import subprocess
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
import yaml

from lcm.paths import REPO_DIR, state_dir
from lcm.topics import SCALING_TOPICS, TOPICS, strimzi_topics

DEPLOY = REPO_DIR / "deploy" / "kubernetes"
OVERLAYS = ("small", "large")
KUBERNETES_VERSION = "v1.33.0"
STRIMZI = {"Kafka", "KafkaNodePool", "KafkaTopic", "KafkaUser"}


def _tool(name: str) -> str:
    path = state_dir() / "bin" / name
    assert path.is_file(), f"{name} missing: run 'make setup' (installs it with Go)"
    return str(path)


def build(overlay: str) -> list[dict]:
    out = subprocess.run([_tool("kustomize"), "build", str(DEPLOY / "overlays" / overlay)],
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    return [d for d in yaml.safe_load_all(out.stdout) if d]


@pytest.fixture(scope="module", params=OVERLAYS)
def overlay(request: pytest.FixtureRequest) -> tuple[str, list[dict]]:
    return request.param, build(request.param)


def by_kind(docs: list[dict], kind: str) -> list[dict]:
    return [d for d in docs if d["kind"] == kind]


def one(docs: list[dict], kind: str, name: str | None = None) -> dict:
    (doc,) = [d for d in by_kind(docs, kind) if name is None or d["metadata"]["name"] == name]
    return doc


@pytest.fixture(scope="module")
def core_schemas(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """kubernetes-validate's strict schemas with their '/api/_definitions.json' references
    pointed at the file itself, so kubeconform resolves them offline."""
    import kubernetes_validate

    src = Path(kubernetes_validate.__file__).parent / "kubernetes-json-schema" / (
        f"{KUBERNETES_VERSION}-local-strict")
    out = tmp_path_factory.mktemp("k8s-schemas")
    defs = (out / "_definitions.json").as_uri()
    for path in src.glob("*.json"):
        text = path.read_text(encoding="utf-8").replace('"/api/_definitions.json#',
                                                        f'"{defs}#')
        (out / path.name).write_text(text, encoding="utf-8")
    return out


def kubeconform(docs: list[dict], core: Path, tmp_path: Path,
                skip: set[str] = STRIMZI) -> list[dict]:
    """kubeconform -strict over docs; the per-resource results."""
    path = tmp_path / "resources.yaml"
    path.write_text(yaml.safe_dump_all(docs), encoding="utf-8")
    out = subprocess.run(
        [_tool("kubeconform"), "-strict", "-output", "json", "-verbose",
         "-schema-location", f"{core}/{{{{ .ResourceKind }}}}{{{{ .KindSuffix }}}}.json",
         "-schema-location",
         f"{DEPLOY / 'schemas'}/{{{{ .ResourceKind }}}}-{{{{ .Group }}}}-"
         "{{ .ResourceAPIVersion }}.json",
         *(["-skip", ",".join(sorted(skip))] if skip else []), str(path)],
        capture_output=True, text=True, timeout=300)
    return json.loads(out.stdout)["resources"]


def strimzi(docs: list[dict]) -> tuple[int, list[dict]]:
    script = DEPLOY / "validate" / "strimzi.mjs"
    assert (DEPLOY / "validate" / "node_modules").is_dir(), "run 'make setup' (npm install)"
    out = subprocess.run(["node", str(script)], input=json.dumps(docs), capture_output=True,
                         text=True, timeout=120, cwd=script.parent)
    return out.returncode, [json.loads(line) for line in out.stdout.splitlines()]


# ---------------------------------------------------------------- schemas


def test_every_resource_validates(overlay, core_schemas: Path, tmp_path: Path) -> None:
    _, docs = overlay
    results = kubeconform(docs, core_schemas, tmp_path)
    bad = [r for r in results if r["status"] not in ("statusValid", "statusSkipped")]
    assert not bad, bad
    valid = {(r["kind"], r["name"]) for r in results if r["status"] == "statusValid"}
    assert valid == {(d["kind"], d["metadata"]["name"]) for d in docs
                     if d["kind"] not in STRIMZI}, "every other resource had a schema"
    # Each FlinkDeployment podTemplate is a Pod: validated as one against Kubernetes' schema.
    pods = []
    for fd in by_kind(docs, "FlinkDeployment"):
        spec = fd["spec"]
        for tpl in (spec.get("podTemplate"), spec["jobManager"].get("podTemplate"),
                    spec["taskManager"].get("podTemplate")):
            if tpl:
                pods.append({**tpl, "apiVersion": "v1", "kind": "Pod"})
    assert pods
    pod_results = kubeconform(pods, core_schemas, tmp_path, skip=set())
    assert all(r["status"] == "statusValid" for r in pod_results), pod_results
    code, strimzi_results = strimzi(docs)
    assert code == 0, [r for r in strimzi_results if not r["ok"]]
    assert {(r["kind"], r["name"]) for r in strimzi_results} == {
        (d["kind"], d["metadata"]["name"]) for d in docs if d["kind"] in STRIMZI}


def test_the_validators_reject_mistakes(core_schemas: Path, tmp_path: Path) -> None:
    """A typo in a field, a wrong type or an unknown enum value fails each validator."""
    docs = build("small")
    deployment = copy.deepcopy(one(docs, "Deployment", "ingest"))
    deployment["spec"]["replica"] = 1
    flink = copy.deepcopy(one(docs, "FlinkDeployment"))
    flink["spec"]["job"]["upgradeMode"] = "whenever"
    pod = copy.deepcopy(flink["spec"]["podTemplate"]) | {"apiVersion": "v1", "kind": "Pod"}
    pod["spec"]["containers"][0]["envFrom"][0]["configMapRefs"] = {"name": "x"}
    results = kubeconform([deployment, flink, pod], core_schemas, tmp_path, skip=set())
    assert [r["status"] for r in results] == ["statusInvalid"] * 3, results
    kafka = copy.deepcopy(one(docs, "Kafka"))
    kafka["spec"]["kafka"]["listeners"][0]["type"] = "bogus"
    topic = copy.deepcopy(one(docs, "KafkaTopic", "prices"))
    topic["spec"]["partitions"] = "three"
    code, results = strimzi([kafka, topic])
    assert code == 1 and [r["ok"] for r in results] == [False, False], results


# ---------------------------------------------------------------- what the manifests say


def test_topics_are_the_topic_registry() -> None:
    text = (DEPLOY / "base" / "kafka-topics.yaml").read_text(encoding="utf-8")
    assert text == strimzi_topics(), "regenerate: python -m lcm.topics strimzi > " \
        "deploy/kubernetes/base/kafka-topics.yaml"


def test_kafka_is_replicated_kraft_with_scram(overlay) -> None:
    _, docs = overlay
    kafka = one(docs, "Kafka")
    pool = one(docs, "KafkaNodePool")
    assert pool["spec"]["replicas"] == 3 and set(pool["spec"]["roles"]) == {"controller",
                                                                             "broker"}
    assert "zookeeper" not in kafka["spec"]
    config = kafka["spec"]["kafka"]["config"]
    assert config["default.replication.factor"] == 3 and config["min.insync.replicas"] == 2
    assert config["offsets.topic.replication.factor"] == 3
    assert config["auto.create.topics.enable"] is False
    ns = ET.parse(REPO_DIR / "stack" / "pom.xml").getroot()
    version = ns.find("{http://maven.apache.org/POM/4.0.0}properties").findtext(
        "{http://maven.apache.org/POM/4.0.0}kafka.version")
    assert kafka["spec"]["kafka"]["version"] == version, "same Kafka as the native stack"
    (listener,) = kafka["spec"]["kafka"]["listeners"]
    assert listener["tls"] is True and listener["authentication"]["type"] == "scram-sha-512"
    user = one(docs, "KafkaUser")
    assert user["spec"]["authentication"]["type"] == "scram-sha-512"
    topics = {t["spec"]["topicName"]: t for t in by_kind(docs, "KafkaTopic")}
    assert set(topics) == set(TOPICS)
    for name, t in topics.items():
        assert t["spec"]["replicas"] == 3 and t["spec"]["config"]["min.insync.replicas"] == "2"
        assert t["spec"]["partitions"] >= TOPICS[name], name
        assert t["metadata"]["labels"]["strimzi.io/cluster"] == kafka["metadata"]["name"]


def test_parallelism_fits_the_partitions(overlay) -> None:
    """Every parallel reader of a topic that bounds parallelism gets a partition: the
    heartbeat readers never idle, so one without a partition would stop the job's clock."""
    name, docs = overlay
    flink = one(docs, "FlinkDeployment")["spec"]
    parallelism = flink["job"]["parallelism"]
    topics = {t["spec"]["topicName"]: t["spec"]["partitions"] for t in by_kind(docs, "KafkaTopic")}
    assert topics["ingest_heartbeat"] >= parallelism
    if name == "large":
        assert parallelism > 2
        assert all(topics[t] >= parallelism for t in SCALING_TOPICS)


def test_flink_runs_the_job_the_way_the_issue_asks(overlay) -> None:
    _, docs = overlay
    fd = one(docs, "FlinkDeployment")
    spec, conf = fd["spec"], fd["spec"]["flinkConfiguration"]
    assert spec["job"]["entryClass"] == "org.apache.flink.client.python.PythonDriver"
    assert spec["job"]["args"][:2] == ["-pym", "flink_jobs.job"]
    pin = next(line.split("==")[1] for line in
               (REPO_DIR / "constraints.txt").read_text().splitlines()
               if line.startswith("apache-flink=="))
    assert spec["job"]["jarURI"] == f"local:///opt/flink/opt/flink-python-{pin}.jar"
    assert spec["image"] == f"lcm-flink:{pin}"
    assert spec["flinkVersion"] == "v" + "_".join(pin.split(".")[:2])
    assert spec["job"]["upgradeMode"] == "savepoint"
    assert conf["state.backend.type"] == "rocksdb"
    assert conf["execution.checkpointing.dir"].startswith("s3://")
    assert conf["execution.checkpointing.savepoint-dir"].startswith("s3://")
    assert conf["high-availability.type"] == "kubernetes"
    assert conf["high-availability.storageDir"].startswith("s3://")
    assert conf["python.executable"] == "/opt/lcm/.venv/bin/python"
    env = {e["name"]: e for e in spec["podTemplate"]["spec"]["containers"][0]["env"]}
    assert env["ENABLE_BUILT_IN_PLUGINS"]["value"] == f"flink-s3-fs-presto-{pin}.jar"
    assert int(conf["taskmanager.numberOfTaskSlots"]) >= 1


def test_every_kafka_client_gets_the_same_security(overlay) -> None:
    _, docs = overlay
    settings = one(docs, "ConfigMap", "lcm-settings")["data"]
    assert settings["KAFKA_SECURITY_PROTOCOL"] == "SASL_SSL"
    assert settings["KAFKA_SASL_MECHANISM"] == "SCRAM-SHA-512"
    assert settings["KAFKA_SASL_USERNAME"] == one(docs, "KafkaUser")["metadata"]["name"]
    assert settings["KAFKA_REPLICATION_FACTOR"] == "3"
    containers = [one(docs, "FlinkDeployment")["spec"]["podTemplate"]["spec"]["containers"][0]]
    containers += [one(docs, "Deployment", n)["spec"]["template"]["spec"]["containers"][0]
                   for n in ("ingest", "notifier")]
    for c in containers:
        assert {"configMapRef": {"name": "lcm-settings"}} in c["envFrom"]
        env = {e["name"]: e for e in c.get("env", [])}
        assert env["KAFKA_SASL_PASSWORD"]["valueFrom"]["secretKeyRef"] == {
            "name": "lcm", "key": "password"}  # the secret Strimzi makes for KafkaUser lcm
        mounts = {m["mountPath"] for m in c["volumeMounts"]}
        assert str(Path(settings["KAFKA_SSL_CA_LOCATION"]).parent) in mounts


def test_images_match_compose_and_are_pinned(overlay) -> None:
    _, docs = overlay
    compose = yaml.safe_load((REPO_DIR / "docker-compose.yml").read_text())["services"]
    images = set()
    for d in docs:
        spec = d.get("spec", {})
        template = spec.get("template", {}).get("spec") or spec.get("jobTemplate", {})
        for c in [*template.get("initContainers", []), *template.get("containers", [])]:
            images.add(c["image"])
    for image in images:
        assert re.fullmatch(r"[\w./-]+:[\w.-]+", image) and "latest" not in image, image
    assert compose["timescaledb"]["image"] in images
    assert compose["grafana"]["image"] in images
    assert compose["ingest"]["image"] in images  # lcm-app: ingest, notifier, init steps


def test_one_ingest_and_one_notifier(overlay) -> None:
    """Two ingest replicas would publish every message twice; two notifiers would race
    on the ledger."""
    _, docs = overlay
    for name in ("ingest", "notifier"):
        d = one(docs, "Deployment", name)
        assert d["spec"]["replicas"] == 1 and d["spec"]["strategy"]["type"] == "Recreate"
