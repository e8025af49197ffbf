"""`make demo`: run every stage that exists, end to end, on the embedded defaults; outputs under runs/demo/.

Stages run in pipeline order and each reads only the artefacts the previous ones wrote.
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

from rich.console import Console
from rich.markup import escape

from veritune.threads import apply_thread_limits

CONSOLE = Console()
DEMO_PRETRAIN_STEPS = 300
DEMO_SEED = 0


def desensitize_pack(pack, root: Path) -> dict[str, Path]:
    """Raw records, knowledge base and SFT data of one pack through the privacy stage; raw output verified."""
    from desensitize import DesensitizeConfig, desensitize_file, verify_file
    from veritune.errors import VerituneError
    from veritune.jsonl import write_jsonl
    from veritune.synth import generate_records

    raw = root / pack.name / "raw.jsonl"
    write_jsonl(raw, generate_records(pack.path(pack.spec.raw_templates), pack.spec.raw_records, DEMO_SEED,
                                      pack.name))
    clean = root / pack.name / "clean"
    jobs = {"raw": (raw, "text"), "kb": (pack.knowledge_base, "text")}
    jobs.update({f"sft_{name}": (path, "messages") for name, path in pack.sft_files().items()})
    jobs.update({f"preferences_{name}": (path, "prompt,chosen,rejected")
                 for name, path in pack.preference_files().items()})
    outputs = {}
    for name, (source, field) in jobs.items():
        target = clean / f"{name}.jsonl"
        report = desensitize_file(source, target, DesensitizeConfig(domain=pack.name, field=field),
                                  show_progress=False)
        CONSOLE.print(f"  {pack.name}/{name}: {report.records} records, replaced {report.by_type() or 'nothing'}")
        outputs[f"{pack.name}/clean/{name}"] = target
    verified = verify_file(clean / "raw.jsonl")
    if not verified.clean:
        raise VerituneError(f"strict verify found {verified.counts()} in the desensitized raw records",
                            path=clean / "raw.jsonl")
    CONSOLE.print(f"  {pack.name}/raw verified: the strict pass finds nothing in {verified.records} records")
    return outputs


def build_pack_index(pack, root: Path) -> Path:
    """Index the desensitized KB (the gate checks its manifest), fusion weights tuned on the pack's dev set."""
    from retrieval import IndexSettings, build_index
    from veritune.manifest import read_manifest

    tune_on = pack.path(pack.spec.dev_sets["retrieval"]) if "retrieval" in pack.spec.dev_sets else None
    out = build_index(root / pack.name / "clean" / "kb.jsonl", root / pack.name / "index",
                      IndexSettings(domain=pack.name), tune_on=tune_on)
    manifest = read_manifest(out / "manifest.json")
    CONSOLE.print(f"  {pack.name}: {manifest.stats['chunks']} chunks; fusion dense weight per language "
                  f"{manifest.config['settings']['dense_weight']}")
    return out


def finetune_pack(pack, root: Path) -> Path:
    """The pack's tiny SFT recipe on the demo's base and the desensitized SFT data (the gate checks it)."""
    import json

    from finetune import Recipe, run_recipe
    from veritune.config import load_config

    recipe = load_config(Recipe, pack.path(pack.spec.recipes["tiny_sft"]), [
        f"model={root / 'base'}", f"data.path={root / pack.name / 'clean' / 'sft_train.jsonl'}",
        f"output_dir={root / pack.name / 'finetune'}"])
    out = run_recipe(recipe, resume=False)
    summary = json.loads((out / "summary.json").read_text())
    CONSOLE.print(f"  {pack.name}: loss {summary['first_loss']:.2f} -> {summary['final_loss']:.2f} in "
                  f"{summary['steps']} steps, {summary['tokens_per_second']:.0f} tokens/s, trainable "
                  f"{summary['parameters']['trainable_by_group']}")
    return out


DEMO_EVAL_LIMIT = 16  # items per task: enough for intervals, a couple of minutes on a CPU


def evaluate(root: Path) -> Path:
    from eval import EvalConfig, run_eval
    from veritune.packs import load_all_packs

    packs = load_all_packs()
    config = EvalConfig(tasks=[t for p in packs for t in p.spec.eval_tasks], model=str(root / "base"),
                        adapters={p.name: str(root / p.name / "finetune") for p in packs},
                        indexes={p.name: str(root / p.name / "index") for p in packs}, limit=DEMO_EVAL_LIMIT)
    out = run_eval(config, root / "eval")
    CONSOLE.print((out / "report.md").read_text(encoding="utf-8"))
    return out


def run_demo(root: Path = Path("runs/demo"), pretrain_steps: int = DEMO_PRETRAIN_STEPS) -> dict[str, Path]:
    from basemodel import BaseBuildConfig, build_base
    from veritune.packs import load_all_packs

    outputs: dict[str, Path] = {}
    started = time.perf_counter()
    CONSOLE.rule("1/5  desensitize: synthetic raw records, knowledge bases and SFT data (then verify)")
    for pack in load_all_packs():
        outputs.update(desensitize_pack(pack, root))
    CONSOLE.rule("2/5  retrieval: hybrid index per pack over its desensitized knowledge base")
    for pack in load_all_packs():
        outputs[f"{pack.name}/index"] = build_pack_index(pack, root)
    CONSOLE.rule("3/5  base model: tokenizer + tiny Qwen3-MoE")
    outputs["base"] = build_base(BaseBuildConfig(out=str(root / "base"), size="tiny", pretrain_steps=pretrain_steps,
                                                 seed=DEMO_SEED))
    CONSOLE.rule("4/5  fine-tune: each pack's tiny SFT recipe (LoRA on attention and experts)")
    for pack in load_all_packs():
        outputs[f"{pack.name}/finetune"] = finetune_pack(pack, root)
    CONSOLE.rule("5/5  evaluate: base vs LoRA vs LoRA + retrieval on both packs")
    outputs["eval"] = evaluate(root)
    CONSOLE.rule(f"demo finished in {time.perf_counter() - started:.0f} s")
    for name, path in outputs.items():
        CONSOLE.print(f"  {name:<24} {path}")
    CONSOLE.print(f"Report: {root / 'eval' / 'report.md'}; figures: {root / 'eval' / 'results.json'}.")
    CONSOLE.print("Try the assistants on what the demo built:\n"
                  "  make app-medical   # medical diagnosis assistant on http://127.0.0.1:7860\n"
                  "  make app-finance   # finance compliance check on http://127.0.0.1:7861\n"
                  "  make serve         # OpenAI-compatible API on http://127.0.0.1:8000/v1 (apps at /ui/medical, "
                  "/ui/finance);\n"
                  "                     # make a key first: .venv/bin/veritune serve key add NAME")
    return outputs


def main() -> int:
    os.environ.setdefault("TLDEXTRACT_PUBLIC_SUFFIX_LIST_URLS", "")  # before Presidio loads tldextract
    apply_thread_limits()
    from veritune.errors import VerituneError
    from veritune.logs import setup_logging

    setup_logging()
    try:
        run_demo()
    except VerituneError as exc:
        CONSOLE.print(f"[red]error:[/red] {escape(str(exc))}")
        return exc.exit_code
    return 0


if __name__ == "__main__":
    sys.exit(main())
