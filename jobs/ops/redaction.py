"""Secrets never reach a log line: API keys given as `?apikey=`, HTTP Basic
and Bearer credentials are replaced wherever they appear in a message, its
arguments or a traceback."""

import logging
import re

REDACTED = "[redacted]"
SECRET_PATTERNS = (
    # ?apikey=KEY or &apikey=KEY, also percent-encoded or in a repr.
    re.compile(r"(?i)(apikey(?:=|%3D))[^&\s'\"#;,)]+"),
    # An Authorization header, or HTTP_AUTHORIZATION in a repr of META: scheme and credentials.
    re.compile(r"(?i)(authorization['\"]?\s*[:=]\s*['\"]?)(?:(?:basic|bearer)\s+)?[^'\"\s,}]+"),
    # Basic … / Bearer … credentials anywhere else.
    re.compile(r"(?i)(\b(?:basic|bearer)\s+)[A-Za-z0-9+/=._~-]+"),
)


def redact(text: str) -> str:
    for pattern in SECRET_PATTERNS:
        text = pattern.sub(lambda match: match.group(1) + REDACTED, text)
    return text


class RedactingFormatter(logging.Formatter):
    """A Formatter whose whole output (message, arguments, traceback) is redacted."""

    def format(self, record: logging.LogRecord) -> str:
        return redact(super().format(record))
