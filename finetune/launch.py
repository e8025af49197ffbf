"""Many GPUs through an existing engine: `veritune finetune RECIPE --launcher accelerate --accelerate-config FILE`
re-runs the same recipe under `accelerate launch` (DDP, DeepSpeed ZeRO-2/3, FSDP2; configs in finetune/accelerate/)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from veritune.errors import VerituneError

CONFIGS = Path(__file__).resolve().parent / "accelerate"


def load_accelerate_config(path: Path):  # noqa: ANN201 - accelerate's ClusterConfig
    from accelerate.commands.config.config_args import ClusterConfig

    if not path.is_file():
        raise VerituneError("accelerate config not found", path=path)
    try:
        return ClusterConfig.from_yaml_file(str(path))
    except (TypeError, ValueError, KeyError) as exc:
        raise VerituneError(f"not a valid accelerate config ({exc})", path=path) from None


def launch_command(recipe: Path, config: Path, overrides: list[str], fresh: bool = False) -> list[str]:
    load_accelerate_config(config)
    command = [sys.executable, "-m", "accelerate.commands.launch", "--config_file", str(config), "-m",
               "veritune.cli", "finetune", "run", str(recipe), *overrides]
    return command + (["--fresh"] if fresh else [])


def run_with_accelerate(recipe: Path, config: Path, overrides: list[str], fresh: bool = False) -> int:
    command = launch_command(recipe, config, overrides, fresh)
    return subprocess.run(command, env={**os.environ, "VERITUNE_UNDER_LAUNCHER": "1"}).returncode
