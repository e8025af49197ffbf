"""`veritune base build`: tokenizer + randomly initialised Qwen3-MoE, optionally pretrained for a few steps."""

from __future__ import annotations

import math
import time
from pathlib import Path
from typing import Any

import torch
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
from transformers import PreTrainedTokenizerFast, Qwen3MoeConfig, Qwen3MoeForCausalLM

from basemodel.config import SIZES, BaseBuildConfig
from basemodel.layout import layout_of
from basemodel.tokenizer import train_tokenizer
from veritune.errors import VerituneError
from veritune.logs import get_logger
from veritune.packs import Pack, load_all_packs, load_pack
from veritune.runs import open_run

log = get_logger("base")

def parameter_counts(model: torch.nn.Module, config: Any) -> dict[str, int]:
    """Total parameters and parameters active per token (only top-k of E routed experts run). LoRA weights of a
    PEFT-wrapped model are not counted; a dense model has no inactive experts."""
    layout = layout_of(config)
    weights = [(n, p.numel()) for n, p in model.named_parameters() if "lora_" not in n]
    total = sum(size for _, size in weights)
    experts = sum(size for n, size in weights if f".{layout.experts_path}." in n)
    n_experts = layout.num_experts(config)
    inactive = experts * (n_experts - config.num_experts_per_tok) // n_experts if n_experts else 0
    embeddings = model.get_input_embeddings().weight.numel()
    return {"total": total, "active_per_token": total - inactive, "routed_experts": experts,
            "embeddings": embeddings}


def _model_config(cfg: BaseBuildConfig, tokenizer: PreTrainedTokenizerFast) -> Qwen3MoeConfig:
    return Qwen3MoeConfig(
        vocab_size=len(tokenizer),
        max_position_embeddings=1024,
        tie_word_embeddings=True,
        decoder_sparse_step=1,
        mlp_only_layers=[],
        norm_topk_prob=True,
        router_aux_loss_coef=cfg.router_aux_loss_coef,
        output_router_logits=False,
        pad_token_id=tokenizer.pad_token_id,
        eos_token_id=tokenizer.eos_token_id,
        bos_token_id=None,
        **SIZES[cfg.size],
    )


def _token_blocks(texts: list[str], tokenizer: PreTrainedTokenizerFast, seq_len: int) -> torch.Tensor:
    ids: list[int] = []
    eos = tokenizer.convert_tokens_to_ids("<|endoftext|>")
    for text in texts:
        ids.extend(tokenizer(text, add_special_tokens=False)["input_ids"])
        ids.append(eos)
    usable = len(ids) // seq_len * seq_len
    if usable == 0:
        raise VerituneError("the packs hold too little text to pretrain on", field="domains")
    return torch.tensor(ids[:usable]).view(-1, seq_len)


def _pretrain(model: Qwen3MoeForCausalLM, blocks: torch.Tensor, cfg: BaseBuildConfig) -> list[float]:
    generator = torch.Generator().manual_seed(cfg.seed)
    optimizer = torch.optim.AdamW(model.parameters(), lr=cfg.learning_rate, weight_decay=0.01)
    schedule = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda step: min(1.0, (step + 1) / 20) * 0.5 * (1 + math.cos(math.pi * step / cfg.pretrain_steps)))
    model.train()
    losses: list[float] = []
    columns = (TextColumn("pretraining"), BarColumn(), MofNCompleteColumn(), TextColumn("loss {task.fields[loss]}"),
               TimeRemainingColumn())
    with Progress(*columns, transient=True) as progress:
        task = progress.add_task("pretrain", total=cfg.pretrain_steps, loss="-")
        for _ in range(cfg.pretrain_steps):
            rows = torch.randint(0, blocks.shape[0], (cfg.batch_size,), generator=generator)
            batch = blocks[rows]
            out = model(input_ids=batch, labels=batch, output_router_logits=True)
            out.loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            optimizer.step()
            schedule.step()
            optimizer.zero_grad(set_to_none=True)
            losses.append(round(out.loss.item(), 4))
            progress.update(task, advance=1, loss=f"{losses[-1]:.3f}")
    model.eval()
    return losses


def _model_card(cfg: BaseBuildConfig, counts: dict[str, int], packs: list[Pack], losses: list[float]) -> str:
    arch = SIZES[cfg.size]
    trained = (f"pretrained for {cfg.pretrain_steps} steps (final loss {losses[-1]:.3f})" if losses
               else "randomly initialised (not pretrained)")
    shape = (f"{arch['num_hidden_layers']} / {arch['hidden_size']} / {arch['num_attention_heads']} "
             f"({arch['num_key_value_heads']}) / {arch['head_dim']}")
    experts = f"top-{arch['num_experts_per_tok']} of {arch['num_experts']} experts"
    rows = [
        ("total parameters", f"{counts['total']:,}"),
        ("active parameters per token", f"{counts['active_per_token']:,} ({experts})"),
        ("routed-expert parameters", f"{counts['routed_experts']:,}"),
        ("embedding parameters (tied)", f"{counts['embeddings']:,}"),
        ("layers / hidden / heads (kv) / head dim", shape),
        ("tokenizer", f"byte-level BPE, {cfg.vocab_size} entries, trained on the packs: "
                      f"{', '.join(p.name for p in packs)}"),
        ("seed", str(cfg.seed)),
    ]
    table = "\n".join(f"| {name} | {value} |" for name, value in rows)
    return f"""# veritune local base: {cfg.size} Qwen3-MoE

A Mixture-of-Experts causal LM built on this machine by `veritune base build` — no weights were downloaded.
It exists so that tests, benchmarks and the demo run the real code path (the same one a 30 B MoE runs on GPUs)
on a CPU. It is {trained}; do not expect useful answers from it.

| | |
|---|---|
{table}

Load it with `AutoModelForCausalLM.from_pretrained(DIR)` and `AutoTokenizer.from_pretrained(DIR)`.
The chat template is ChatML with `{{% generation %}}` marks around assistant turns (assistant-only SFT loss).
"""


def build_base(cfg: BaseBuildConfig, domains_root: Path | None = None) -> Path:
    """Build the base model folder at `cfg.out` and return its path."""
    started = time.perf_counter()
    packs = [load_pack(d, domains_root) for d in cfg.domains] if cfg.domains else load_all_packs(domains_root)
    if not packs:
        raise VerituneError("no domain packs found to train the tokenizer on", field="domains")
    texts = [text for pack in packs for text in pack.corpus_texts()]
    torch.manual_seed(cfg.seed)
    tokenizer = train_tokenizer(texts, vocab_size=cfg.vocab_size)
    log.info("tokenizer: %d entries from %d texts", len(tokenizer), len(texts))
    model_config = _model_config(cfg, tokenizer)
    torch.manual_seed(cfg.seed)
    model = Qwen3MoeForCausalLM(model_config)
    losses = _pretrain(model, _token_blocks(texts, tokenizer, cfg.seq_len), cfg) if cfg.pretrain_steps else []
    counts = parameter_counts(model, model_config)
    inputs = [pack.knowledge_base for pack in packs] + [f for pack in packs for f in pack.sft_files().values()]
    with open_run(cfg.out, kind="base_model", config=cfg.model_dump(), seed=cfg.seed, inputs=inputs) as run:
        model.save_pretrained(run.path)
        tokenizer.save_pretrained(run.path)
        (run.path / "README.md").write_text(_model_card(cfg, counts, packs, losses), encoding="utf-8")
        run.stats.update(parameters=counts, pretrain_losses=losses[-20:], seconds=round(time.perf_counter() -
                         started, 2), vocab_size=len(tokenizer))
    log.info("base model (%s, %s params, %s active) written to %s", cfg.size, f"{counts['total']:,}",
             f"{counts['active_per_token']:,}", cfg.out)
    return Path(cfg.out)
