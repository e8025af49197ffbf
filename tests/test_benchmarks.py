"""The GPU benchmark's prepared inputs stay in step with what this environment installs and tests."""

from __future__ import annotations

import importlib.metadata
import os
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _gpu_wheels() -> dict[str, str]:
    """name -> version of the wheels benchmarks/prepare_gpu.sh downloads for the GPU machine."""
    text = (ROOT / "benchmarks" / "prepare_gpu.sh").read_text(encoding="utf-8")
    listed = text[text.index("WHEELS=("):]
    return dict(re.findall(r"([A-Za-z0-9_.-]+)==([0-9][A-Za-z0-9.]*)", listed[:listed.index(")")]))


def test_the_gpu_wheels_are_the_versions_installed_here() -> None:
    """The GPU run trains with the transformers/peft/trl/datasets (and their imports) the suite tests on CPU; a pin
    bumped in pyproject.toml without the list would measure other code there."""
    wheels = _gpu_wheels()
    assert {"transformers", "peft", "trl", "datasets", "huggingface_hub", "tokenizers"} <= set(wheels)
    stale = {name: (version, importlib.metadata.version(name)) for name, version in wheels.items()
             if importlib.metadata.version(name) != version}
    assert not stale, f"benchmarks/prepare_gpu.sh's wheels differ from the installed versions: {stale}"


def test_the_gpu_script_runs_the_benchmark_it_documents() -> None:
    script = ROOT / "benchmarks" / "finetune_gpu.sh"
    text = script.read_text(encoding="utf-8")
    assert os.access(script, os.X_OK) and "benchmarks/finetune_bench.py --synthetic" in text
    assert (ROOT / "benchmarks" / "finetune_bench.py").is_file() and ".whl/*.whl" in text
    assert "pytest -q -p no:cacheprovider tests/gpu" in text and (ROOT / "tests" / "gpu" / "test_cuda.py").is_file()
    prepare = ROOT / "benchmarks" / "prepare_gpu.sh"
    readme = (ROOT / "benchmarks" / "README.md").read_text(encoding="utf-8")
    assert os.access(prepare, os.X_OK) and "benchmarks/prepare_gpu.sh" in readme


def _bench_module(name: str = "finetune_bench"):  # noqa: ANN202 - a benchmark script as a module (not a package)
    import importlib.util

    spec = importlib.util.spec_from_file_location(name, ROOT / "benchmarks" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_vector_search_ratio_is_the_median_of_interleaved_rounds() -> None:
    """Both halves of the retrieval benchmark's headline ratio are timed in the same rounds (this machine's speed
    moves between two timings taken a minute apart); here on 20k vectors, for its shape, not its figures."""
    import numpy as np

    scale = _bench_module("retrieval_bench").vector_search(20_000, 20)
    rounds = scale["rounds"]
    assert len(rounds) == 5 and all(r["ivf_queries_per_second"] > 0 and r["brute_force_queries_per_second"] > 0
                                    for r in rounds)
    assert scale["speedup"] == round(float(np.median([r["speedup"] for r in rounds])), 1)
    assert scale["nprobe"] in scale["nprobe_sweep"] and scale["ivf_recall_at_10"] > 0.5


def _row(tokens_per_second: float, peak: int) -> dict:
    return {"tokens_per_second": tokens_per_second, "ms_per_1k_tokens": 1e6 / tokens_per_second,
            "peak_memory_bytes": peak}


def test_a_partial_run_reports_only_the_comparisons_whose_rows_ran() -> None:
    """A shape run (SHAPE=...) runs five rows at top-8: its figures are those rows' ratios, named by its top-k."""
    figures = _bench_module()._figures({
        "veritune": _row(300.0, 60), "trl_best_grouped_mm": _row(200.0, 100), "dense_floor": _row(400.0, 50),
        "veritune_checkpointing": _row(240.0, 30), "trl_default_checkpointing": _row(160.0, 40)}, 8)
    assert figures == {"baseline": "trl_best_grouped_mm", "speedup": 1.5, "memory_ratio": 0.6,
                       "memory_ratio_checkpointing": 0.75, "speedup_checkpointing": 1.5,
                       "moe_top8_step_vs_dense": 1.33}


def test_the_baseline_is_trls_faster_experts_kernel() -> None:
    figures = _bench_module()._figures({"veritune": _row(300.0, 60), "trl_best_grouped_mm": _row(200.0, 100),
                                        "trl_best_eager": _row(250.0, 120)}, 2)
    assert figures["baseline"] == "trl_best_eager" and figures["speedup"] == 1.2 and figures["memory_ratio"] == 0.5


def test_the_shipped_shapes_are_moe_configs_with_a_dense_floor_of_equal_active_compute() -> None:
    """Each folder under benchmarks/shapes is a config transformers reads; the dense floor the benchmark builds
    from it has the MLP width of the routed experts together (`intermediate_size` = top-k x expert width)."""
    from transformers import AutoConfig

    shapes = sorted((ROOT / "benchmarks" / "shapes").iterdir())
    assert shapes
    for folder in shapes:
        config = AutoConfig.from_pretrained(folder)
        assert config.num_experts_per_tok * config.moe_intermediate_size == config.intermediate_size, folder.name
