"""Logging setup: structlog for our own logs, with the standard library's records rendered the same way.

Call :func:`configure_logging` once at start-up. Inside a reconcile, ``structlog.get_logger()`` already
carries ``controller``, ``namespace``, ``name`` and ``reconcile_id`` (bound by the controller through
contextvars), so a reconciler just logs::

    log = structlog.get_logger(__name__)
    log.info("created pod", pod=pod_name)
"""

from __future__ import annotations

import logging
import sys
from typing import Any, Literal

import structlog

LogFormat = Literal["json", "console"]


def configure_logging(format: LogFormat = "json", level: str | int = "info") -> None:
    """Send all logs to stderr as JSON lines (``format="json"``) or human-readable lines (``"console"``)."""
    numeric_level = level if isinstance(level, int) else logging.getLevelNamesMapping()[level.upper()]
    shared: list[Any] = [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
    ]
    renderer: Any
    if format == "json":
        shared.append(structlog.processors.dict_tracebacks)
        renderer = structlog.processors.JSONRenderer()
    else:
        renderer = structlog.dev.ConsoleRenderer(colors=sys.stderr.isatty())

    structlog.configure(
        processors=[
            structlog.stdlib.filter_by_level,
            *shared,
            structlog.stdlib.PositionalArgumentsFormatter(),
            structlog.processors.StackInfoRenderer(),
            structlog.stdlib.ProcessorFormatter.wrap_for_formatter,
        ],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=True,
    )
    formatter = structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=shared,
        processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta, renderer],
    )
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(formatter)
    root = logging.getLogger()
    root.handlers = [handler]
    root.setLevel(numeric_level)
    # Library chatter at info level (connection pools, retries) is not useful in an operator's log.
    for noisy in ("aiohttp", "kubernetes_asyncio", "asyncio"):
        logging.getLogger(noisy).setLevel(max(numeric_level, logging.WARNING))
