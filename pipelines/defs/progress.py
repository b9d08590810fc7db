"""Progress on the terminal: one logger that Dagster manages.

Assets report with ``context.log.info(...)`` only. That line goes to the run's event log (the
UI) as always, and, through the ``progress`` logger below, to the Python logger
``welfare.progress``, which ``welfare run`` prints on the terminal. Dagster's own events
(step started, asset materialized, …) are not repeated there.
"""

from __future__ import annotations

import logging

TERMINAL_LOGGER = "welfare.progress"


class _OwnMessagesOnly(logging.Filter):
    """Keep what assets said; drop Dagster's framework events; show the bare message."""

    def filter(self, record: logging.LogRecord) -> bool:
        meta = getattr(record, "dagster_meta", None) or {}
        if meta.get("dagster_event") is not None:
            return False
        record.msg, record.args = meta.get("orig_message", record.getMessage()), ()
        return True


def _progress_logger(_init_context) -> logging.Logger:
    logger = logging.getLogger(f"{TERMINAL_LOGGER}.run")
    logger.setLevel(logging.INFO)
    if not logger.filters:
        logger.addFilter(_OwnMessagesOnly())
    return logger


def progress_logger():
    """The Dagster logger (Dagster imported only here: a run with nothing new never does)."""
    import dagster as dg

    return dg.LoggerDefinition(
        _progress_logger,
        description="Progress lines of each asset, on the terminal of `welfare run`.",
    )


def show_on_terminal(stream) -> None:
    """Print progress lines on ``stream`` (the command line's own output)."""
    handler = logging.StreamHandler(stream)
    handler.setFormatter(logging.Formatter("  %(message)s"))
    terminal = logging.getLogger(TERMINAL_LOGGER)
    terminal.addHandler(handler)
    terminal.setLevel(logging.INFO)
    terminal.propagate = False
