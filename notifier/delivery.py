"""One alert to one channel with bounded retries (tenacity): exponential backoff with
jitter, or exactly the wait the server asked for (Retry-After, retry_after)."""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass

import httpx
from tenacity import (
    RetryCallState,
    Retrying,
    retry_if_exception_type,
    stop_after_attempt,
    stop_before_delay,
    wait_exponential_jitter,
)
from tenacity.stop import stop_base
from tenacity.wait import wait_base

from notifier.alert import Alert
from notifier.channels import USER_AGENT, Permanent, Retryable, Sender
from notifier.config import RetryPolicy
from notifier.message import Message
from notifier.redact import Redactor

log = logging.getLogger(__name__)


class Interrupted(Exception):
    """Shutdown was asked for while this channel was still retrying: not delivered, not
    given up either, so the alert's offset is not committed and a restart tries again."""


@dataclass(frozen=True)
class Outcome:
    delivered: bool
    attempts: int
    error: str | None = None  # masked: safe to log and store


class wait_server_hint(wait_base):
    """The server's wait when it gave one, else the fallback (backoff with jitter)."""

    def __init__(self, fallback: wait_base) -> None:
        self.fallback = fallback

    def __call__(self, retry_state: RetryCallState) -> float:
        exc = retry_state.outcome.exception() if retry_state.outcome else None
        if isinstance(exc, Retryable) and exc.retry_after is not None:
            return exc.retry_after
        return self.fallback(retry_state)


class stop_on_event(stop_base):
    def __init__(self, event: threading.Event) -> None:
        self.event = event

    def __call__(self, retry_state: RetryCallState) -> bool:
        return self.event.is_set()


class Deliverer:
    """Sends through one channel. `stopping` makes waits end early and retries stop, for a
    prompt shutdown."""

    def __init__(self, sender: Sender, policy: RetryPolicy, redactor: Redactor,
                 stopping: threading.Event | None = None) -> None:
        self.sender = sender
        self.policy = policy
        self.redact = redactor
        self.stopping = stopping or threading.Event()
        self.client = httpx.Client(timeout=policy.timeout_s, follow_redirects=False,
                                   headers={"User-Agent": USER_AGENT})
        self.waits: list[float] = []  # every wait taken, for the log and the tests

    def close(self) -> None:
        self.client.close()

    def _sleep(self, seconds: float) -> None:
        self.waits.append(seconds)
        self.stopping.wait(seconds)

    def _attempt(self, alert: Alert, message: Message) -> None:
        out = self.sender.request(alert, message)
        try:
            response = self.client.post(out.url, json=out.json, headers=out.headers,
                                        params=out.params or None)
        except httpx.TransportError as exc:  # refused, reset, timed out: try again
            raise Retryable(f"{type(exc).__name__}: {exc}") from None
        self.sender.check(response)

    def _log_retry(self, state: RetryCallState) -> None:
        exc = state.outcome.exception() if state.outcome else None
        log.warning("channel %s: alert %s attempt %d failed (%s); next try in %.1f s",
                    self.sender.name, state.args[0].alert_id, state.attempt_number,
                    self.redact(str(exc)), state.upcoming_sleep)

    def deliver(self, alert: Alert, message: Message) -> Outcome:
        p = self.policy
        retrying = Retrying(
            retry=retry_if_exception_type(Retryable),
            wait=wait_server_hint(wait_exponential_jitter(
                multiplier=p.initial_backoff_s, max=p.max_backoff_s, jitter=p.jitter_s)),
            stop=(stop_after_attempt(p.max_attempts) | stop_before_delay(p.max_total_s)
                  | stop_on_event(self.stopping)),
            sleep=self._sleep,
            before_sleep=self._log_retry,
            reraise=True,
        )
        try:
            retrying(self._attempt, alert, message)
        except (Retryable, Permanent) as exc:
            attempts = retrying.statistics.get("attempt_number", 1)
            if self.stopping.is_set() and isinstance(exc, Retryable):
                raise Interrupted(self.sender.name) from None
            kind = "gave up" if isinstance(exc, Retryable) else "refused"
            return Outcome(False, attempts, self.redact(f"{kind}: {exc}"))
        return Outcome(True, retrying.statistics.get("attempt_number", 1))
