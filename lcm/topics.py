"""The Kafka topics and their partitions: one list (lcm/topics.txt, which docker compose
mounts too), and names for the topics the code refers to. `python -m lcm.topics` prints
the list for shell scripts.
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


if __name__ == "__main__":
    for name, partitions in TOPICS.items():
        print(name, partitions)
