"""Versions of the packages a run depends on: written beside every run's outputs."""

from __future__ import annotations

import platform
from importlib.metadata import PackageNotFoundError, version

# The libraries whose versions change what a run produces; `veritune version` prints them too.
TRACKED_PACKAGES: tuple[str, ...] = (
    "veritune", "torch", "transformers", "peft", "trl", "datasets", "accelerate", "tokenizers", "safetensors",
    "faiss-cpu", "presidio-analyzer", "presidio-anonymizer", "spacy", "gradio",
)


def package_version(name: str) -> str | None:
    try:
        return version(name)
    except PackageNotFoundError:
        return None


def package_versions(names: tuple[str, ...] = TRACKED_PACKAGES) -> dict[str, str]:
    found = {name: package_version(name) or "not installed" for name in names}
    found["python"] = platform.python_version()
    return found
