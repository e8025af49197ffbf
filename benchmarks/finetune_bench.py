"""Fine-tuning throughput: veritune's tiny SFT recipe vs a plain TRL SFTTrainer + PEFT LoRA baseline, same run.

Baseline, as a user of TRL + PEFT would start: fp32, no packing (each example padded to the batch's longest), the
default collator. Headline: the baseline trains the same adapter as veritune (LoRA on attention and the fused
experts through PEFT `target_parameters`), so only the training pipeline differs; a second baseline trains LoRA on
the attention projections only (what `target_modules` reaches), for reference. veritune: the pack's tiny_sft
recipe (padding-free packing, assistant-only loss). Same tiny base, same desensitized SFT data, same
batch size, sequence cap and steps. Each runs in its own process so peak memory is its own. Reported: real
(non-padding) tokens per second from TRL's `num_tokens`, seconds per step, peak RSS, threads.
Writes benchmarks/results/finetune.json with a top-level `speedup` (tokens/s of veritune over the baseline).

Needs the demo's artefacts (runs/demo/base, runs/demo/medical/clean/sft_train.jsonl): run `make demo` first.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import ROOT, pretty, setup_threads, write_results  # noqa: E402

BASE = ROOT / "runs/demo/base"
DATA = ROOT / "runs/demo/medical/clean/sft_train.jsonl"
RECIPE = ROOT / "domains/medical/recipes/tiny_sft.yaml"


def run_baseline(steps: int, out: Path, experts: bool = True) -> dict:
    import resource
    import time

    from datasets import load_dataset
    from peft import LoraConfig
    from transformers import AutoModelForCausalLM, AutoTokenizer
    from trl import SFTConfig, SFTTrainer

    from finetune.recipe import Recipe
    from veritune.config import load_config

    recipe = load_config(Recipe, RECIPE)
    tokenizer = AutoTokenizer.from_pretrained(BASE)
    model = AutoModelForCausalLM.from_pretrained(BASE)
    dataset = load_dataset("json", data_files=str(DATA), split="train").select_columns(["messages"])
    args = SFTConfig(output_dir=str(out), max_steps=steps, per_device_train_batch_size=recipe.train.batch_size,
                     learning_rate=recipe.train.learning_rate, max_length=recipe.train.seq_len, packing=False,
                     logging_steps=1, save_strategy="no", report_to=[], use_cpu=True, seed=0,
                     dataloader_num_workers=0, disable_tqdm=True)
    lora = LoraConfig(r=recipe.lora.r, lora_alpha=recipe.lora.alpha,
                      target_modules=["q_proj", "k_proj", "v_proj", "o_proj"],
                      target_parameters=["mlp.experts.gate_up_proj", "mlp.experts.down_proj"] if experts else None,
                      task_type="CAUSAL_LM")
    trainer = SFTTrainer(model=model, args=args, train_dataset=dataset, processing_class=tokenizer, peft_config=lora)
    started = time.perf_counter()
    trainer.train()
    seconds = time.perf_counter() - started
    tokens = max(h["num_tokens"] for h in trainer.state.log_history if "num_tokens" in h)
    return {"steps": steps, "seconds": round(seconds, 2), "tokens": int(tokens),
            "tokens_per_second": round(tokens / seconds, 1), "seconds_per_step": round(seconds / steps, 3),
            "peak_rss_bytes": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024}


def run_veritune(steps: int, out: Path) -> dict:
    import resource

    from finetune.recipe import Recipe
    from finetune.train import run_recipe
    from veritune.config import load_config

    recipe = load_config(Recipe, RECIPE, [f"model={BASE}", f"data.path={DATA}", f"output_dir={out}",
                                          f"train.max_steps={steps}", "train.logging_steps=1",
                                          f"train.save_steps={steps}"])
    run = run_recipe(recipe, resume=False)
    summary = json.loads((run / "summary.json").read_text())
    return {"steps": steps, "seconds": summary["train_seconds"], "tokens": summary["tokens_seen"],
            "tokens_per_second": summary["tokens_per_second"],
            "seconds_per_step": round(summary["train_seconds"] / steps, 3),
            "peak_rss_bytes": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024,
            "trainable_by_group": summary["parameters"]["trainable_by_group"]}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--only", choices=["baseline", "baseline_attention", "veritune"], help=argparse.SUPPRESS)
    parser.add_argument("--json-out", help=argparse.SUPPRESS)
    args = parser.parse_args()
    threads = setup_threads()
    if args.only:  # child process: one system, its result as JSON
        with tempfile.TemporaryDirectory() as tmp:
            run = Path(tmp) / "run"
            result = (run_veritune(args.steps, run) if args.only == "veritune" else
                      run_baseline(args.steps, run, experts=args.only == "baseline"))
        Path(args.json_out).write_text(json.dumps(result))
        return 0
    if not (BASE.is_dir() and DATA.is_file()):
        print(f"skipped: {BASE} and {DATA} come from `make demo`; run it first")
        return 0
    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        for system in ("baseline", "baseline_attention", "veritune"):
            target = Path(tmp) / f"{system}.json"
            subprocess.run([sys.executable, __file__, "--steps", str(args.steps), "--only", system, "--json-out",
                            str(target)], check=True)
            results[system] = json.loads(target.read_text())
    speedup = round(results["veritune"]["tokens_per_second"] / results["baseline"]["tokens_per_second"], 2)
    payload = {"threads": threads, "steps": args.steps, "model": "runs/demo/base (tiny Qwen3-MoE)",
               "data": "runs/demo/medical/clean/sft_train.jsonl", "baseline_trl_peft": results["baseline"],
               "baseline_trl_peft_attention_only": results["baseline_attention"], "veritune": results["veritune"],
               "speedup": speedup, "speedup_vs_attention_only_baseline": round(
                   results["veritune"]["tokens_per_second"] / results["baseline_attention"]["tokens_per_second"], 2),
               "targets": {"speedup": ">= 2"}}
    print(pretty(payload))
    print(f"results written to {write_results('finetune', payload)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
