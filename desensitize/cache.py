"""Where the desensitize stage keeps what it builds from public packages (word lists, the Chinese tagger's
weights): `$VERITUNE_CACHE/gazetteers/`, else `~/.cache/veritune/gazetteers/`. A module of its own so that reading
the cache imports nothing heavy (spaCy imports torch through thinc)."""

from __future__ import annotations

import os
from pathlib import Path


def cache_dir() -> Path:
    return Path(os.environ.get("VERITUNE_CACHE") or Path.home() / ".cache" / "veritune") / "gazetteers"
