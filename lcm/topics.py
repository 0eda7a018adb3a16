"""The Kafka topics and their partitions: one list (lcm/topics.txt, which docker compose
mounts too), and names for the topics the code refers to. `python -m lcm.topics` prints
the list for shell scripts; `python -m lcm.topics strimzi` as Strimzi KafkaTopic resources.
"""

from __future__ import annotations

from pathlib import Path

TOPICS_FILE = Path(__file__).resolve().parent / "topics.txt"

# Market data (the message contract, docs/contract.md).
PRICES = "prices"
FUNDING_RATES = "funding_rates"
OPEN_INTEREST = "open_interest"
LIQUIDATIONS = "liquidations"
LONG_SHORT_RATIO = "long_short_ratio"
STABLECOIN_FLOWS = "stablecoin_flows"
# The pipeline's own.
ALERTS_TOPIC = "alerts"
DEAD_LETTER_TOPIC = "ingest_dead_letter"
HEARTBEAT_TOPIC = "ingest_heartbeat"
HEALTH_TOPIC = "ingest_health"


def topic_partitions(path: Path = TOPICS_FILE) -> dict[str, int]:
    """name -> partitions, from the topic list."""
    topics: dict[str, int] = {}
    for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        name, _, parts = line.partition(" ")
        if not parts.strip().isdigit():
            raise ValueError(f"{path}:{n}: expected 'topic partitions', got {line!r}")
        topics[name] = int(parts)
    return topics


TOPICS = topic_partitions()
DATA_TOPICS = (PRICES, FUNDING_RATES, OPEN_INTEREST, LIQUIDATIONS, LONG_SHORT_RATIO,
               STABLECOIN_FLOWS)
_missing = [t for t in (*DATA_TOPICS, ALERTS_TOPIC, DEAD_LETTER_TOPIC, HEARTBEAT_TOPIC,
                        HEALTH_TOPIC) if t not in TOPICS]
if _missing:
    raise RuntimeError(f"{TOPICS_FILE} lacks the topics {_missing}")


# Topics whose partition count bounds the job's parallelism (each parallel reader needs a
# partition to read): the market data and the heartbeat. The Kubernetes overlays widen
# exactly these (label lcm.io/scales).
SCALING_TOPICS = (*DATA_TOPICS, HEARTBEAT_TOPIC)


def strimzi_topics(cluster: str = "lcm", replicas: int = 3, min_insync: int = 2) -> str:
    """The topic list as Strimzi KafkaTopic resources (deploy/kubernetes/base/
    kafka-topics.yaml is this output; a test keeps the two in step)."""
    header = (f"# Generated from lcm/topics.txt by `python -m lcm.topics strimzi`; do not edit.\n"
              f"# Replication {replicas}, min.insync.replicas {min_insync}: a write is "
              f"acknowledged by\n# {min_insync} brokers, and one broker can be down without "
              "stopping producers.\n")
    docs = []
    for name, partitions in TOPICS.items():
        scales = "true" if name in SCALING_TOPICS else "false"
        docs.append(
            "apiVersion: kafka.strimzi.io/v1\n"
            "kind: KafkaTopic\n"
            "metadata:\n"
            f"  name: {name.replace('_', '-')}\n"
            "  labels:\n"
            f"    strimzi.io/cluster: {cluster}\n"
            f'    lcm.io/scales: "{scales}"\n'
            "spec:\n"
            f"  topicName: {name}\n"
            f"  partitions: {partitions}\n"
            f"  replicas: {replicas}\n"
            "  config:\n"
            f'    min.insync.replicas: "{min_insync}"\n'
            "    # by size, not time: replays and backfills carry old record timestamps\n"
            '    retention.ms: "-1"\n'
            '    retention.bytes: "1073741824"')
    return header + "\n---\n".join(docs) + "\n"


if __name__ == "__main__":
    import sys

    if sys.argv[1:] == ["strimzi"]:
        print(strimzi_topics(), end="")
    else:
        for name, partitions in TOPICS.items():
            print(name, partitions)
