"""The bot's logging: one JSON object per line on stdout (the same shape as the API's).

Never log the Discord token, the API key or the database URL; log interaction ids instead.
"""

import json
import logging
import sys
from datetime import UTC, datetime

_STANDARD = set(vars(logging.makeLogRecord({}))) | {"message", "asctime", "taskName"}


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        for name, value in vars(record).items():
            if name not in _STANDARD and not name.startswith("_"):
                entry[name] = value
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, default=str)


def configure_logging(level: str = "INFO") -> None:
    handler = logging.StreamHandler(sys.stdout)
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    # nextcord logs every gateway event at DEBUG and the token's first characters in places
    logging.getLogger("nextcord").setLevel(max(logging.INFO, logging.getLevelName(level)))
    # one line per API request is noise; failures are logged by the command with its interaction id
    logging.getLogger("httpx").setLevel(logging.WARNING)
