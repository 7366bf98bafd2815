"""Log records as text lines, or as one JSON object per line for log shippers
(PAPERBOT_LOG_FORMAT=json)."""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime

TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


class JsonFormatter(logging.Formatter):
    """`{"time": ..., "level": ..., "logger": ..., "message": ...}` (and `exception`)."""

    def format(self, record: logging.LogRecord) -> str:
        """One line of JSON for `record`."""
        data = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        if record.exc_info:
            data["exception"] = self.formatException(record.exc_info)
        return json.dumps(data, ensure_ascii=False)


def formatter(kind: str) -> logging.Formatter:
    """The formatter for PAPERBOT_LOG_FORMAT (`text` or `json`)."""
    return JsonFormatter() if kind == "json" else logging.Formatter(TEXT_FORMAT)
