"""Shared helpers for the benchmark scripts: thread set-up, data location, results files."""

from __future__ import annotations

import json
import os
import platform
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "benchmarks" / "results"
SHARED_DATA = ROOT.parent / "shared" / "data"


def setup_threads() -> int:
    os.environ.setdefault("VERITUNE_THREADS", "1")
    os.environ.setdefault("TLDEXTRACT_PUBLIC_SUFFIX_LIST_URLS", "")
    from veritune.threads import apply_thread_limits

    return apply_thread_limits()


def machine() -> dict[str, Any]:
    return {"cpu_count": os.cpu_count(), "platform": platform.platform(), "python": platform.python_version()}


def write_results(stage: str, results: dict[str, Any]) -> Path:
    from veritune.atomic import write_json
    from veritune.versions import package_versions

    results = {"stage": stage, "created": datetime.now(UTC).isoformat(timespec="seconds"), "machine": machine(),
               "packages": package_versions(), **results}
    path = RESULTS / f"{stage}.json"
    write_json(path, results)
    return path


def pretty(obj: Any) -> str:
    return json.dumps(obj, indent=2, ensure_ascii=False)
