"""Logging through rich on stderr. Log entity types and offsets, never values: no raw PII in any log line."""

from __future__ import annotations

import logging

from rich.console import Console
from rich.logging import RichHandler

STDERR = Console(stderr=True)


def setup_logging(verbose: bool = False) -> None:
    level = logging.DEBUG if verbose else logging.INFO
    root = logging.getLogger("veritune")
    root.setLevel(level)
    if not any(isinstance(h, RichHandler) for h in root.handlers):
        root.addHandler(RichHandler(console=STDERR, show_path=False, rich_tracebacks=False))
    root.propagate = False
    for noisy in ("transformers", "datasets", "presidio-analyzer", "presidio-anonymizer", "jieba", "httpx"):
        logging.getLogger(noisy).setLevel(logging.ERROR)


def get_logger(name: str) -> logging.Logger:
    return logging.getLogger(f"veritune.{name}")
