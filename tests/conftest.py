"""Shared fixtures. Tests run on 1 torch thread (VERITUNE_THREADS overrides) and never touch the network."""

from __future__ import annotations

import atexit
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

os.environ.setdefault("VERITUNE_THREADS", "1")
os.environ.setdefault("TLDEXTRACT_PUBLIC_SUFFIX_LIST_URLS", "")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
if os.environ.get("VERITUNE_APPS_FROM_DEMO") != "1":   # screenshots read the demo's runs, signed with the user's key
    # the session's own manifest key: tests never read or create the user's ~/.config/veritune/manifest.key
    _KEY_DIR = tempfile.mkdtemp(prefix="veritune-tests-")
    atexit.register(shutil.rmtree, _KEY_DIR, ignore_errors=True)
    os.environ.setdefault("VERITUNE_MANIFEST_KEY_FILE", os.path.join(_KEY_DIR, "manifest.key"))

from veritune.threads import apply_thread_limits  # noqa: E402

apply_thread_limits()

REPO = Path(__file__).resolve().parent.parent
DOMAINS = REPO / "domains"
SHARED_DATA = REPO.parent / "shared" / "data"


def run_cli(*args: str, cwd: Path | None = None, timeout: int = 300) -> subprocess.CompletedProcess[str]:
    """Run the installed `veritune` console script as a user would."""
    exe = Path(sys.executable).parent / "veritune"
    return subprocess.run([str(exe), *args], capture_output=True, text=True, cwd=cwd, timeout=timeout,
                          env={**os.environ, "COLUMNS": "200"})


@pytest.fixture(scope="session")
def tiny_base(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny MoE base built once per session (random init: the tests check plumbing, not quality)."""
    from basemodel import BaseBuildConfig, build_base

    out = tmp_path_factory.mktemp("base") / "tiny"
    return build_base(BaseBuildConfig(out=str(out), size="tiny", pretrain_steps=0, seed=0))


def train_tiny_adapter(tiny_base: Path, folder: Path, rows: list[dict]) -> Path:
    """A 2-step LoRA run on `rows` (SFT messages), desensitized first as the gate requires: plumbing, not quality."""
    import json

    from desensitize import DesensitizeConfig, desensitize_file
    from finetune.recipe import Recipe
    from finetune.train import run_recipe

    (folder / "raw.jsonl").write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows))
    desensitize_file(folder / "raw.jsonl", folder / "sft.jsonl", DesensitizeConfig(field="messages"),
                     show_progress=False)
    recipe = Recipe.model_validate({"model": str(tiny_base), "stage": "sft",
                                    "data": {"path": str(folder / "sft.jsonl")},
                                    "train": {"max_steps": 2, "batch_size": 2, "seq_len": 448, "bf16": "off"},
                                    "output_dir": str(folder / "run")})
    return run_recipe(recipe)
