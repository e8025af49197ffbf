"""Warnings the pinned libraries raise at one another, which no user can act on: silenced where they arise, and
only those (matched by message and category)."""

from __future__ import annotations

import contextlib
import threading
import warnings
from collections.abc import Iterator

# PEFT 0.21 reads `model.is_gradient_checkpointing` when it wraps a model; transformers 5.24 renamed it
# `is_activation_checkpointing` and warns on every read of the old name: one FutureWarning in every training run's
# log and at every adapter load (the apps, `serve`, the eval), about code that is not ours.
PEFT_READS_OLD_CHECKPOINTING_NAME = r"`is_gradient_checkpointing` is deprecated"
# `catch_warnings` saves and restores the process-wide filter list: two threads wrapping at once (a library user
# loading adapters in parallel; the apps' model pool serializes its own loads) could restore each other's list,
# leaving the filter installed for good or removed under the other. One wrap at a time; not reentrant (no wrap
# calls another), and a wrap is short beside loading the base.
_FILTERS_LOCK = threading.Lock()


@contextlib.contextmanager
def peft_wrapping() -> Iterator[None]:
    """Around PEFT's `get_peft_model` / `PeftModel.from_pretrained`: without the warning above, every other kept."""
    with _FILTERS_LOCK, warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=PEFT_READS_OLD_CHECKPOINTING_NAME, category=FutureWarning)
        yield
