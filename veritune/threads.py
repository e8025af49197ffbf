"""Thread limits. On a shared 2-core machine torch ran 10-40x slower on 2 threads than on 1 while the other core
was busy, so veritune defaults to 1 thread; VERITUNE_THREADS overrides it."""

from __future__ import annotations

import os
import sys

from veritune.errors import VerituneError

_ENV_VARS = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS", "TOKENIZERS_PARALLELISM")


def configured_threads() -> int:
    raw = os.environ.get("VERITUNE_THREADS", "1").strip()
    try:
        threads = int(raw)
    except ValueError:
        raise VerituneError(f"VERITUNE_THREADS must be a positive integer, got {raw!r}") from None
    if threads < 1:
        raise VerituneError(f"VERITUNE_THREADS must be a positive integer, got {threads}")
    return threads


def apply_thread_limits(threads: int | None = None) -> int:
    """Set the limits for native libraries (before they start) and for torch (if loaded). Returns the count."""
    threads = threads or configured_threads()
    for var in _ENV_VARS[:-1]:
        os.environ[var] = str(threads)
    os.environ["TOKENIZERS_PARALLELISM"] = "false"
    if "torch" in sys.modules:
        import torch

        torch.set_num_threads(threads)
    return threads
