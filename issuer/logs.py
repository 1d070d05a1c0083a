"""Log lines in one format, chosen by ``--log-format``: ``text`` for a terminal, ``json``
(one object per line, the chart's default) for a log collector.

Operational lines go to standard error through :mod:`logging`; the audit lines
(:mod:`gatekey.issuer.audit`, logger name ``gatekey.audit``) go to standard output or
to the file of ``--audit-log``, so the two streams can be collected apart.
"""

import json
import logging
import sys
from datetime import UTC, datetime
from typing import Literal

from aiohttp.http_exceptions import HttpProcessingError

LogFormat = Literal["text", "json"]
FORMATS: tuple[LogFormat, ...] = ("text", "json")
TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s %(message)s"


class JsonFormatter(logging.Formatter):
    """``{"time", "level", "logger", "message"}`` (plus ``exception``), one line each."""

    def format(self, record: logging.LogRecord) -> str:
        line = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        return json.dumps(line, separators=(",", ":"))


class MalformedRequests(logging.Filter):
    """aiohttp logs a request its parser refuses with the exception, whose message quotes
    the bytes it choked on: a form with a client secret, a password, a token. Such a line
    keeps who sent it and the kind of refusal, never the bytes."""

    def filter(self, record: logging.LogRecord) -> bool:
        exc = record.exc_info[1] if record.exc_info else None
        if isinstance(exc, HttpProcessingError):
            record.msg = "refused a malformed request from %s (%s)"
            peer = record.args[0] if isinstance(record.args, tuple) and record.args else "?"
            record.args = (peer, type(exc).__name__)
            record.exc_info, record.exc_text = None, None
        return True


def configure(log_format: LogFormat, level: int = logging.INFO) -> None:
    """Send every operational log line to standard error in ``log_format``."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(
        JsonFormatter() if log_format == "json" else logging.Formatter(TEXT_FORMAT)
    )
    handler.addFilter(MalformedRequests())
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level)
