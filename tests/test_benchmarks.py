"""The GPU benchmark's prepared inputs stay in step with what this environment installs and tests."""

from __future__ import annotations

import importlib.metadata
import os
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _gpu_wheels() -> dict[str, str]:
    """name -> version of the wheels benchmarks/README.md has carried to the GPU machine."""
    text = (ROOT / "benchmarks" / "README.md").read_text(encoding="utf-8")
    command = text[text.index("python3 -m pip download"):]
    command = command[:command.index("```")]
    return dict(re.findall(r"([A-Za-z0-9_.-]+)==([0-9][A-Za-z0-9.]*)", command))


def test_the_gpu_wheels_are_the_versions_installed_here() -> None:
    """The GPU run trains with the transformers/peft/trl/datasets (and their imports) the suite tests on CPU; a pin
    bumped in pyproject.toml without the list would measure other code there."""
    wheels = _gpu_wheels()
    assert {"transformers", "peft", "trl", "datasets", "huggingface_hub", "tokenizers"} <= set(wheels)
    stale = {name: (version, importlib.metadata.version(name)) for name, version in wheels.items()
             if importlib.metadata.version(name) != version}
    assert not stale, f"benchmarks/README.md GPU wheels differ from the installed versions: {stale}"


def test_the_gpu_script_runs_the_benchmark_it_documents() -> None:
    script = ROOT / "benchmarks" / "finetune_gpu.sh"
    text = script.read_text(encoding="utf-8")
    assert os.access(script, os.X_OK) and "benchmarks/finetune_bench.py --synthetic" in text
    assert (ROOT / "benchmarks" / "finetune_bench.py").is_file() and ".whl/*.whl" in text
    assert "pytest -q -p no:cacheprovider tests/gpu" in text and (ROOT / "tests" / "gpu" / "test_cuda.py").is_file()
