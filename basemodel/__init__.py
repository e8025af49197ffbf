"""Base-model stage: build a local tiny Mixture-of-Experts causal LM (tokenizer + Qwen3-MoE) from the packs' text,
or sparse-upcycle a real dense Llama-family model into a Mixtral MoE.

Public API: `BaseBuildConfig`, `build_base`, `parameter_counts`, `SIZES`, `UpcycleConfig`, `upcycle`,
`calibration_sha256` (the digest of the text an upcycle calibrates on, recorded in its manifest), and
`resolve_source` / `load_dense` (a dense source by name, folder, GGUF or package, loaded as transformers loads
it). The folders it writes are plain `save_pretrained` folders, so every later stage loads them like any Hugging
Face model.
"""

from __future__ import annotations

from basemodel.config import SIZES, BaseBuildConfig, UpcycleConfig  # noqa: F401 - public, light
from veritune.lazy import lazy_exports

__all__ = sorted(["SIZES", "BaseBuildConfig", "UpcycleConfig", "build_base", "calibration_sha256", "load_dense",
                  "parameter_counts",
                  "resolve_source", "upcycle", "MOE_LAYOUTS", "MoeLayout", "layout_of", "DEFAULT_LAYOUT"])


# torch and transformers load only when a build is asked for, keeping `veritune --help` fast
__getattr__ = lazy_exports({"build_base": "basemodel.build", "parameter_counts": "basemodel.build",
                            "upcycle": "basemodel.upcycling", "load_dense": "basemodel.upcycling",
                            "calibration_sha256": "basemodel.upcycling",
                            "resolve_source": "basemodel.upcycling", "MOE_LAYOUTS": "basemodel.layout",
                            "MoeLayout": "basemodel.layout", "layout_of": "basemodel.layout",
                            "DEFAULT_LAYOUT": "basemodel.layout"})
