"""Base-model stage: build a local tiny Mixture-of-Experts causal LM (tokenizer + Qwen3-MoE) from the packs' text.

Public API: `BaseBuildConfig`, `build_base`, `parameter_counts`, `SIZES`. The folder it writes is a plain
`save_pretrained` folder, so every later stage loads it like any Hugging Face model.
"""

from __future__ import annotations

from basemodel.config import SIZES, BaseBuildConfig
from veritune.lazy import lazy_exports

__all__ = ["SIZES", "BaseBuildConfig", "build_base", "parameter_counts"]


# torch and transformers load only when a build is asked for, keeping `veritune --help` fast
__getattr__ = lazy_exports({"build_base": "basemodel.build", "parameter_counts": "basemodel.build"})
