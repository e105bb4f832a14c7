"""Logging to stdout, as text for a terminal or one JSON object per line for a log collector.

A container's stdout is its log; a pipeline job's stdout is its job log. Nothing is written to
files, and every line carries the logger name so engine output (``components.watch.engine``) can
be told apart from the watcher's own decisions.

Messages may carry binding text relayed from the engine, so control and format characters are
escaped (:func:`components.inert.neutralise`): in text, a message's own line breaks become
indented continuation lines, so only a real record starts a line with a timestamp; in JSON, the
message stays one escaped string.
"""

from __future__ import annotations

import json
import logging
import sys
from datetime import UTC, datetime

from components.inert import neutralise

_CONTINUATION = "\n    "


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": neutralise(record.getMessage()),
        }
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry)


class TextFormatter(logging.Formatter):
    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)-7s %(name)s: %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        return _CONTINUATION.join(neutralise(line) for line in super().format(record).split("\n"))


def configure(level: str = "INFO", fmt: str = "text") -> None:
    handler = logging.StreamHandler(sys.stdout)
    handler.setFormatter(JsonFormatter() if fmt == "json" else TextFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    # The kubernetes client logs every retried connection at WARNING; ours are enough.
    logging.getLogger("urllib3").setLevel(logging.ERROR)
