"""Loading a base model and, optionally, a fine-tune run's adapter for inference (eval, apps, API).

The adapter is merged in memory: generation without the LoRA detour is about 3x faster on CPU, and the run
folder on disk is never touched.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from veritune.errors import VerituneError


def load_for_inference(model_name: str, adapter_run: str | Path | None = None,
                       dtype: torch.dtype = torch.float32, allow_unfinished: bool = False) -> tuple[Any, Any]:
    """(model in eval mode, tokenizer). `adapter_run` is a finished `veritune finetune` run folder (its
    `adapter/`): one without a valid manifest is refused unless `allow_unfinished`."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from veritune.runs import require_finished

    adapter_dir = Path(adapter_run) / "adapter" if adapter_run else None
    if adapter_dir is not None and not adapter_dir.is_dir():
        raise VerituneError("not a fine-tune run folder (no adapter/ inside)", path=adapter_run, field="adapter")
    if adapter_run:
        require_finished(adapter_run, "finetune_run", allow_unfinished)
    try:
        tokenizer = AutoTokenizer.from_pretrained(adapter_dir or model_name)
        model = AutoModelForCausalLM.from_pretrained(model_name, dtype=dtype)
    except OSError as exc:
        raise VerituneError(f"cannot load the model ({str(exc).splitlines()[0][:160]})", path=model_name,
                            field="model") from None
    if adapter_dir is not None:
        from peft import PeftModel

        try:
            model = PeftModel.from_pretrained(model, adapter_dir)
        except (RuntimeError, ValueError, KeyError, OSError) as exc:
            raise VerituneError(f"the adapter does not match the base model {model_name!r} "
                                f"({str(exc).splitlines()[0][:120]})", path=adapter_run, field="adapter") from None
        model = model.merge_and_unload()
    return model.eval(), tokenizer
