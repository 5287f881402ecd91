"""Logs never carry personal numbers: a filter that masks resident IDs and mobile numbers.

No route takes a resident ID or phone in its path or query (lookups go in POST bodies), so
access logs should never see one; this filter is the defence in depth for what slips through
anyway (a client putting a number in a URL, an exception message quoting input). It masks in
the message and in every string argument, keeping the arguments' shape: uvicorn's access
formatter unpacks them as a tuple.
"""

from __future__ import annotations

import copy
import logging
import re
from typing import Any

__all__ = ["PiiLogFilter", "mask_numbers", "server_log_config"]

# 18-character resident ID (17 digits and a digit or X check character) and Chinese mobile
# numbers (11 digits from 1[3-9], optionally after +86/86), not inside longer digit runs (so
# that long ids stay readable); over-masking a stray number is the safe side.
_RESIDENT_ID = re.compile(r"(?<![0-9])([1-9][0-9]{5})[0-9]{8}([0-9]{3}[0-9Xx])(?![0-9])")
_MOBILE = re.compile(r"(?<![0-9])((?:\+?86[- ]?)?1[3-9][0-9])[0-9]{4}([0-9]{4})(?![0-9])")


def mask_numbers(text: str) -> str:
    """350524199001011234 -> 350524********1234; 13912345678 -> 139****5678."""
    text = _RESIDENT_ID.sub(lambda m: f"{m.group(1)}********{m.group(2)}", text)
    return _MOBILE.sub(lambda m: f"{m.group(1)}****{m.group(2)}", text)


def _mask(value: Any) -> Any:
    return mask_numbers(value) if isinstance(value, str) else value


class PiiLogFilter(logging.Filter):
    """Masks personal numbers in a record; never drops a record."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.msg, str):
            record.msg = mask_numbers(record.msg)
        if isinstance(record.args, tuple):
            record.args = tuple(_mask(a) for a in record.args)
        elif isinstance(record.args, dict):
            record.args = {k: _mask(v) for k, v in record.args.items()}
        if record.exc_info and not record.exc_text:
            # the traceback text is formatted later by the handler: format and mask it now
            record.exc_text = mask_numbers(logging.Formatter().formatException(record.exc_info))
        elif record.exc_text:
            record.exc_text = mask_numbers(record.exc_text)
        return True


def server_log_config() -> dict[str, Any]:
    """uvicorn's logging configuration with the filter on every handler, and the app's own
    loggers (root) through the same filtered handler. A dict, not objects: with several
    workers each process configures its logging again from it."""
    from uvicorn.config import LOGGING_CONFIG  # lazy: only the server needs uvicorn

    config = copy.deepcopy(LOGGING_CONFIG)
    config.setdefault("filters", {})["pii"] = {"()": "georeg.logs.PiiLogFilter"}
    for handler in config["handlers"].values():
        handler.setdefault("filters", []).append("pii")
    config["root"] = {"handlers": ["default"], "level": "INFO"}
    return config
