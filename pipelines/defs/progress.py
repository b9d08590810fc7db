"""Progress on the terminal: one logger that Dagster manages.

Assets report with ``say_to(context)(...)``. That line goes to the run's event log (the UI)
as always, and, through the ``progress`` logger below, to the Python logger
``welfare.progress``, which ``welfare run`` prints on the terminal. Dagster's own events
(step started, asset materialized, …) are not repeated there. A line about what the event log
records already (each model dbt built) goes to the terminal alone (``say_on_terminal``).
"""

from __future__ import annotations

import logging
from collections.abc import Callable

TERMINAL_LOGGER = "welfare.progress"
PROGRESS = "welfare_progress"  # set on what an asset says for the terminal


def say_to(context) -> Callable[[str], None]:
    """How an asset says what it is doing: a line in the run's event log (the UI) that is also
    a progress line on the terminal of `welfare run`."""

    def say(message: str) -> None:
        context.log.info(message, extra={PROGRESS: True})

    return say


def say_on_terminal(message: str) -> None:
    """A progress line for the terminal of `welfare run` only, not kept in the run's event log:
    for what the event log records in its own way already (a model built is its
    materialization). Each event stored costs a run milliseconds."""
    logging.getLogger(TERMINAL_LOGGER).info(message)


class _OwnMessagesOnly(logging.Filter):
    """Keep what assets said through :func:`say_to`; drop Dagster's framework events and what
    libraries log through the loggers Dagster captures (dagster-dbt's commands, its notes on
    dbt's indirect selection: the run's event log has those); show the bare message."""

    def filter(self, record: logging.LogRecord) -> bool:
        meta = getattr(record, "dagster_meta", None) or {}
        if meta.get("dagster_event") is not None:
            return False
        if not getattr(record, PROGRESS, False):
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
