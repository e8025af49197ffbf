"""`veritune finetune RECIPE.yaml`: one recipe, setup -> train -> save, on TRL's SFTTrainer (pt, sft) or
DPOTrainer (dpo) and PEFT.

The run folder is written in place so that checkpoints survive a crash (resume continues from the latest);
the adapter is written atomically and the manifest last: a folder without a manifest is not finished.
"""

from __future__ import annotations

import json
import math
import os
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

from basemodel import parameter_counts
from desensitize import require_desensitized, split_fields
from finetune.compat import peft_wrapping
from finetune.expert_load import expert_load, plot_expert_load, plot_losses
from finetune.expert_lora import use_lowrank_experts
from finetune.inference import native_bf16
from finetune.lengths import check_truncation
from finetune.lm_head import use_compact_lm_head
from finetune.quant import BLOCK, patch_param_wrappers, quantize_model_
from finetune.recipe import Recipe
from finetune.targets import check_reach, lora_config
from finetune.varlen import use_varlen_attention, wants_varlen
from veritune.atomic import atomic_dir, write_json, write_text
from veritune.errors import VerituneError
from veritune.logs import get_logger
from veritune.manifest import Manifest, file_record, folder_records, write_manifest
from veritune.versions import package_versions

log = get_logger("finetune")


def _bf16(recipe: Recipe) -> bool:
    """A bf16 base with fp32 LoRA weights (PEFT keeps adapter weights in fp32) under autocast. auto: where the
    hardware computes bf16 natively (`native_bf16`: a GPU with bf16, or a CPU with AMX tiles, where a LoRA step of
    the upcycled SmolLM2 MoE takes about 0.75x the fp32 time); on: also elsewhere (a GPU without bf16 excepted)."""
    if recipe.train.bf16 == "off":
        return False
    if recipe.train.bf16 == "on":
        return not torch.cuda.is_available() or torch.cuda.is_bf16_supported()
    return native_bf16()


def load_model(recipe: Recipe):  # noqa: ANN201 - transformers types
    from transformers import AutoConfig, AutoModelForCausalLM, AutoTokenizer

    try:
        config = AutoConfig.from_pretrained(recipe.model)
        tokenizer = AutoTokenizer.from_pretrained(recipe.model)
        model = AutoModelForCausalLM.from_pretrained(recipe.model, dtype=torch.bfloat16 if _bf16(recipe) else
                                                     torch.float32)
    except (OSError, ValueError) as exc:
        raise VerituneError(f"cannot load {recipe.model!r} as a causal LM ({str(exc).splitlines()[0][:160]})",
                            field="model") from None
    if getattr(config, "router_aux_loss_coef", None) is not None:
        model.config.router_aux_loss_coef = recipe.train.router_aux_loss_coef
    from finetune.lm_head import contiguous_head_input

    contiguous_head_input(model)   # the expert-load probes before and after training project one position a row
    return model, tokenizer


def load_data(recipe: Recipe, recipe_path: str):  # noqa: ANN201 - datasets types
    from datasets import load_dataset, load_from_disk

    path = Path(recipe.data.path)
    if not path.exists():
        raise VerituneError(f"dataset {path} not found", path=recipe_path, field="data.path")
    require_desensitized(path, allow_raw=recipe.data.allow_raw)
    if path.is_file() and not any(line.strip() for line in path.open("rb")):
        raise VerituneError("dataset is empty", path=path)
    dataset = load_from_disk(str(path)) if path.is_dir() else load_dataset("json", data_files=str(path),
                                                                           split="train")
    columns = split_fields(recipe.data.field)
    for column in columns:
        if column not in dataset.column_names:
            raise VerituneError(f"dataset has no field '{column}'", path=path, field="data.field")
    if len(dataset) == 0:
        raise VerituneError("dataset is empty", path=path)
    if recipe.stage == "dpo":
        return dataset.select_columns(columns)
    target = "messages" if recipe.stage == "sft" else "text"
    dataset = dataset.select_columns([recipe.data.field])
    return dataset.rename_column(recipe.data.field, target) if recipe.data.field != target else dataset


def _probe_text(tokenizer, row: dict) -> str:  # noqa: ANN001
    if "messages" in row:
        return tokenizer.apply_chat_template(row["messages"], tokenize=False)
    if "prompt" in row:  # a preference pair: the prompt and its chosen answer
        prompt, chosen = row["prompt"], row["chosen"]
        if isinstance(prompt, str):
            return prompt + chosen
        return tokenizer.apply_chat_template(prompt + chosen, tokenize=False)
    return row["text"]


def _probe(tokenizer, dataset, size: int = 8, length: int = 128) -> torch.Tensor:  # noqa: ANN001
    rows = [dataset[i] for i in range(min(size, len(dataset)))]
    texts = [_probe_text(tokenizer, row) for row in rows]
    encoded = tokenizer(texts, truncation=True, max_length=length, padding="max_length", return_tensors="pt")
    return encoded["input_ids"]


def run_recipe(recipe: Recipe, recipe_path: str = "recipe", resume: bool = True,
               callbacks: list | None = None) -> Path:
    from peft import get_peft_model

    started = time.perf_counter()
    out = Path(recipe.output_dir)
    out.mkdir(parents=True, exist_ok=True)
    (out / "manifest.json").unlink(missing_ok=True)  # the folder is being (re)written: not finished until the end
    torch.manual_seed(recipe.train.seed)
    dataset = load_data(recipe, recipe_path)
    model, tokenizer = load_model(recipe)
    truncation = None if recipe.stage == "dpo" else check_truncation(
        tokenizer, dataset, recipe.train.seq_len, recipe.train.allow_truncation, recipe_path)
    top_k = getattr(model.config, "num_experts_per_tok", 2)
    probe = _probe(tokenizer, dataset)
    load_before = expert_load(model, probe, top_k)
    groups: dict[str, int] = {}
    quantized, counts = None, parameter_counts(model, model.config)
    expert_path: dict[str, Any] = {"path": "peft" if recipe.method in ("lora", "qlora") else None}
    _mark_moe_leaves_for_zero3(model)
    if (recipe.stage != "dpo" and recipe.train.packing
            and wants_varlen(recipe.train.varlen_attention, accelerator=torch.cuda.is_available())):
        use_varlen_attention(model)
    if recipe.method in ("lora", "qlora"):
        config, requested = lora_config(model, recipe.lora)
        with peft_wrapping():
            model = get_peft_model(model, config)
        if recipe.method == "qlora":
            quantized = quantize_model_(model.get_base_model(), dtype=torch.bfloat16 if _bf16(recipe) else
                                        torch.float32)
            patch_param_wrappers(model)
            log.info("NF4 storage: %d tensors, %.1f MiB as bf16 -> %.1f MiB", quantized.tensors,
                     quantized.bytes_bf16 / 2**20, quantized.bytes_after / 2**20)
        groups = check_reach(model, requested)
        log.info("trainable parameters per group: %s", groups)
        if "experts" in requested and recipe.lora.expert_path == "lowrank":
            expert_path = use_lowrank_experts(model).as_dict()
    os.environ["TENSORBOARD_LOGGING_DIR"] = str(out / "tensorboard")  # transformers 5 reads it from here
    trainer = _trainer(recipe, out, model, tokenizer, dataset, callbacks)
    lm_head = None
    if recipe.stage != "dpo":  # after the trainer, which is what gives the model TRL's fused head
        lm_head = use_compact_lm_head(_unwrapped(trainer.model)) if recipe.train.compact_lm_head else "trl"
    checkpoint = _latest_checkpoint(out / "checkpoints") if resume else None
    if checkpoint:
        log.info("resuming from %s", checkpoint.name)
    # LoRA inputs stay in the base's dtype: PEFT casts each one up to its fp32 weights, and under bf16 autocast the
    # matmul casts it back down (two copies of every LoRA input and their gradients, 13 a layer per step, for the
    # same values); the probes around training run without autocast, so only the training steps go without
    from peft.helpers import disable_input_dtype_casting

    with disable_input_dtype_casting(trainer.model, active=_bf16(recipe)):
        result = trainer.train(resume_from_checkpoint=str(checkpoint) if checkpoint else None)
    load_after = expert_load(trainer.model, probe, top_k)
    storage = None if quantized is None else {
        "format": "nf4", "block": BLOCK, "tensors": quantized.tensors, "bytes_as_loaded": quantized.bytes_before,
        "bytes_bf16": quantized.bytes_bf16, "bytes_nf4": quantized.bytes_after,
        "ratio_to_bf16": round(quantized.ratio_to_bf16, 4)}
    facts = {"groups": groups, "counts": counts, "storage": storage, "expert_lora": expert_path, "lm_head": lm_head,
             "truncation": truncation}
    return _save(recipe, recipe_path, trainer, out, result, facts, load_before, load_after, started)


def _common_args(recipe: Recipe, out: Path) -> dict[str, Any]:
    """TrainingArguments shared by the SFT and DPO configs, from the recipe's `train` section."""
    train = recipe.train
    return dict(
        output_dir=str(out / "checkpoints"), max_steps=train.max_steps, num_train_epochs=train.epochs,
        per_device_train_batch_size=train.batch_size, gradient_accumulation_steps=train.grad_accum,
        learning_rate=train.learning_rate, lr_scheduler_type="cosine", warmup_steps=train.warmup_ratio,
        logging_steps=train.logging_steps, save_steps=train.save_steps, save_total_limit=2,
        seed=train.seed, data_seed=train.seed, report_to=["tensorboard"], bf16=_bf16(recipe),
        use_cpu=not torch.cuda.is_available(), activation_checkpointing=train.gradient_checkpointing,
        max_length=train.seq_len, router_aux_loss_coef=train.router_aux_loss_coef, dataloader_num_workers=0,
        disable_tqdm=False,
        # the Trainer's own count is saved in every checkpoint, so a resumed run reports all the tokens it saw
        # (TRL's logged num_tokens restarts at zero on resume)
        include_num_input_tokens_seen="non_padding",
    )


def _trainer(recipe: Recipe, out: Path, model, tokenizer, dataset, callbacks: list | None):  # noqa: ANN001, ANN202
    if recipe.stage == "dpo":
        from trl import DPOConfig, DPOTrainer

        # No packing for pairs: chosen and rejected must stay whole to be compared. With LoRA, ref_model=None
        # makes TRL score the reference with the adapter disabled.
        args = DPOConfig(**_common_args(recipe, out), beta=recipe.dpo.beta, loss_type=[recipe.dpo.loss_type])
        return DPOTrainer(model=model, ref_model=None, args=args, train_dataset=dataset, processing_class=tokenizer,
                          callbacks=callbacks)
    from trl import SFTConfig, SFTTrainer

    args = SFTConfig(**_common_args(recipe, out), packing=recipe.train.packing, padding_free=recipe.train.packing,
                     assistant_only_loss=recipe.stage == "sft", dataset_text_field="text")
    return SFTTrainer(model=model, args=args, train_dataset=dataset, processing_class=tokenizer, callbacks=callbacks)


def _unwrapped(model: torch.nn.Module) -> torch.nn.Module:
    return model.get_base_model() if hasattr(model, "get_base_model") else model


def _mark_moe_leaves_for_zero3(model: torch.nn.Module) -> None:
    """Under DeepSpeed ZeRO-3, make each sparse-MoE block a leaf module, or ranks hang on expert parameters."""
    if os.environ.get("ACCELERATE_DEEPSPEED_ZERO_STAGE") != "3":
        return
    from deepspeed.utils import set_z3_leaf_modules

    blocks = sorted({type(m) for m in model.modules() if type(m).__name__.endswith(("SparseMoeBlock", "MoeBlock"))},
                    key=lambda cls: cls.__name__)
    if blocks:
        set_z3_leaf_modules(model, blocks)
        log.info("ZeRO-3 leaf modules: %s", ", ".join(cls.__name__ for cls in blocks))


def _latest_checkpoint(folder: Path) -> Path | None:
    """The newest complete checkpoint. The Trainer writes trainer_state.json after the weights, optimizer and RNG
    states, so a checkpoint a kill interrupted lacks it and is skipped."""
    if not folder.is_dir():
        return None
    complete = [p for p in folder.glob("checkpoint-*") if p.name.split("-")[-1].isdigit()
                and (p / "trainer_state.json").is_file()]
    return max(complete, key=lambda p: int(p.name.split("-")[-1]), default=None)


def _save(recipe: Recipe, recipe_path: str, trainer, out: Path, result, facts: dict[str, Any],  # noqa: ANN001
          load_before: np.ndarray, load_after: np.ndarray, started: float) -> Path:
    model = trainer.model
    with atomic_dir(out / "adapter") as staging:
        model.save_pretrained(staging)
        trainer.processing_class.save_pretrained(staging)

    history = trainer.state.log_history
    write_json(out / "log_history.json", history)
    plot_losses(history, out / "loss.png")
    write_json(out / "expert_load.json", {"before": load_before.tolist(), "after": load_after.tolist()})
    plot_expert_load(load_before, load_after, out / "expert_load.png")
    summary = _summary(recipe, trainer, result, facts, started)
    write_json(out / "summary.json", summary)
    write_text(out / "recipe.resolved.json", json.dumps(recipe.model_dump(), indent=2) + "\n")
    inputs = [file_record(Path(recipe.data.path))] if Path(recipe.data.path).is_file() else []
    outputs = [r for r in folder_records(out) if not r.path.startswith(("checkpoints/", "tensorboard/"))]
    manifest = Manifest(kind="finetune_run", config=recipe.model_dump(), seed=recipe.train.seed, inputs=inputs,
                        outputs=outputs, stats=summary, packages=package_versions())
    write_manifest(out / "manifest.json", manifest)
    log.info("run finished: adapter in %s", out / "adapter")
    return out


def _summary(recipe: Recipe, trainer, result, facts: dict[str, Any], started: float) -> dict[str, Any]:  # noqa: ANN001
    """`facts`: trainable parameters per group, parameter counts (taken before any quantization), storage."""
    seconds = time.perf_counter() - started
    total, active = facts["counts"]["total"], facts["counts"]["active_per_token"]
    logged_tokens = [h["num_tokens"] for h in trainer.state.log_history if "num_tokens" in h]
    tokens = int(trainer.state.num_input_tokens_seen or 0) or (int(max(logged_tokens)) if logged_tokens else 0)
    # tokens/s over this session only: a resumed run's runtime does not include the steps before the crash
    session_tokens = tokens - int(getattr(trainer, "_initial_num_input_tokens_seen", 0) or 0)
    losses = [h["loss"] for h in trainer.state.log_history if "loss" in h]
    aux = [h["aux_loss"] for h in trainer.state.log_history if "aux_loss" in h]
    gpus = max(1, torch.cuda.device_count()) if torch.cuda.is_available() else 0
    gpu_hours = gpus * seconds / 3600
    peak = (torch.cuda.max_memory_allocated() if torch.cuda.is_available() else _peak_rss())
    return {
        "steps": trainer.state.global_step, "train_seconds": round(result.metrics.get("train_runtime", seconds), 2),
        "wall_seconds": round(seconds, 2), "tokens_seen": tokens,
        "tokens_per_second": round(session_tokens / max(result.metrics.get("train_runtime", seconds), 1e-9), 1),
        "first_loss": losses[0] if losses else None, "final_loss": losses[-1] if losses else None,
        "final_aux_loss": aux[-1] if aux else None, "peak_memory_bytes": int(peak),
        "preference": _preference(trainer.state.log_history) if recipe.stage == "dpo" else None,
        "parameters": {"total": total, "active_per_token": active,
                       "trainable": sum(p.numel() for p in trainer.model.parameters() if p.requires_grad),
                       "trainable_by_group": facts["groups"]},
        "storage": facts["storage"] or {"format": "bf16" if _bf16(recipe) else "fp32"},
        "expert_lora": facts["expert_lora"], "truncation": facts["truncation"],
        "attention": trainer.model.config._attn_implementation,
        "lm_head": facts["lm_head"],
        "distributed": _distributed(trainer),
        "gpus": gpus, "gpu_hours": round(gpu_hours, 6),
        "estimated_cost": round(gpu_hours * recipe.cost.gpu_hour_price, 6),
        "gpu_hour_price": recipe.cost.gpu_hour_price, "torch_threads": torch.get_num_threads(),
        "epochs": round(trainer.state.epoch or 0, 3) if not math.isnan(trainer.state.epoch or 0) else None,
    }


def _preference(history: list[dict[str, Any]]) -> dict[str, Any]:
    """DPO's last logged reward accuracy (share of pairs where chosen outscores rejected) and margin."""
    logged = [h for h in history if "rewards/margins" in h]
    last = logged[-1] if logged else {}
    return {"reward_accuracy": last.get("rewards/accuracies"), "reward_margin": last.get("rewards/margins"),
            "first_reward_margin": logged[0]["rewards/margins"] if logged else None}


def _distributed(trainer) -> dict[str, Any]:  # noqa: ANN001
    """How the run was spread: accelerate's distributed type, processes and, under DeepSpeed, the ZeRO stage."""
    accelerator = trainer.accelerator
    plugin = getattr(accelerator.state, "deepspeed_plugin", None)
    return {"type": str(accelerator.distributed_type).rsplit(".", 1)[-1], "processes": accelerator.num_processes,
            "zero_stage": plugin.zero_stage if plugin is not None else None}


def _peak_rss() -> int:
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
