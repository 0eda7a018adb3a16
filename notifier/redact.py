"""Keep tokens and webhook URLs out of every log line and error text."""

from __future__ import annotations

import logging
import urllib.parse
from collections.abc import Iterable

MASK = "***"


class Redactor:
    def __init__(self, secrets: Iterable[str] = ()) -> None:
        self._secrets: set[str] = set()
        for secret in secrets:
            self.add(secret)

    def add(self, secret: str) -> None:
        """A URL is also masked by its path and query, which carry the token in webhook
        URLs, in case a library prints the URL in another normal form."""
        if not secret:
            return
        self._secrets.add(secret)
        parts = urllib.parse.urlsplit(secret)
        if parts.scheme and parts.netloc:
            for piece in (parts.path, parts.query):
                if len(piece) >= 8:
                    self._secrets.add(piece)

    def __call__(self, text: str) -> str:
        # Longest first, so a URL is masked whole before its path is.
        for secret in sorted(self._secrets, key=len, reverse=True):
            text = text.replace(secret, MASK)
        return text


class RedactingFilter(logging.Filter):
    """Attached to the log handlers: masks secrets in the final text of every record,
    including records of libraries (httpx logs request URLs)."""

    def __init__(self, redactor: Redactor) -> None:
        super().__init__()
        self.redactor = redactor

    def filter(self, record: logging.LogRecord) -> bool:
        text = record.getMessage()
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        masked = self.redactor(text)
        if masked != text:
            record.msg, record.args = masked, None
        if record.exc_text:
            record.exc_text = self.redactor(record.exc_text)
        return True
