"""The local delivery ledger: one row per (channel, alert_id) once the channel confirmed
(or was given up on). A restart in the middle of an alert resends it only to the channels
with no 'sent' row, so nobody gets it twice."""

from __future__ import annotations

import sqlite3
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path

SCHEMA = """
CREATE TABLE IF NOT EXISTS deliveries (
    channel    TEXT NOT NULL,
    alert_id   TEXT NOT NULL,
    status     TEXT NOT NULL CHECK (status IN ('sent', 'failed')),
    attempts   INTEGER NOT NULL,
    error      TEXT,           -- masked: never a token or webhook URL
    updated_at TEXT NOT NULL,  -- UTC, ISO-8601
    PRIMARY KEY (channel, alert_id)
)
"""


class Ledger:
    """Thread-safe (the channels of one alert are sent in parallel). Every write is its own
    committed transaction: a 'sent' row exists on disk before the next step."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self._lock = threading.Lock()
        self._db = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=FULL")  # a confirmed delivery survives power loss
        self._db.execute(SCHEMA)

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def status(self, channel: str, alert_id: str) -> str | None:
        with self._lock:
            row = self._db.execute(
                "SELECT status FROM deliveries WHERE channel = ? AND alert_id = ?",
                (channel, alert_id)).fetchone()
        return row[0] if row else None

    def record(self, channel: str, alert_id: str, status: str, attempts: int,
               error: str | None = None) -> None:
        now = datetime.now(UTC).isoformat(timespec="seconds")
        with self._lock:
            self._db.execute(
                "INSERT INTO deliveries (channel, alert_id, status, attempts, error, updated_at)"
                " VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (channel, alert_id) DO UPDATE SET"
                " status = excluded.status, attempts = deliveries.attempts + excluded.attempts,"
                " error = excluded.error, updated_at = excluded.updated_at",
                (channel, alert_id, status, attempts, error, now))

    def rows(self) -> list[tuple[str, str, str, int, str | None]]:
        with self._lock:
            return self._db.execute(
                "SELECT channel, alert_id, status, attempts, error FROM deliveries"
                " ORDER BY updated_at, channel").fetchall()

    def prune(self, keep_days: int) -> int:
        """Drop rows older than keep_days: offsets are committed long before, so they are
        only needed if someone rewinds the consumer group that far."""
        cutoff = (datetime.now(UTC) - timedelta(days=keep_days)).isoformat(timespec="seconds")
        with self._lock:
            return self._db.execute("DELETE FROM deliveries WHERE updated_at < ?",
                                    (cutoff,)).rowcount
