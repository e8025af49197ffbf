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
    from veritune.errors import VeritunError
    from veritune.jsonl import write_jsonl
    from veritune.synth import generate_records

    raw = root / pack.name / "raw.jsonl"
    write_jsonl(raw, generate_records(pack.path(pack.spec.raw_templates), pack.spec.raw_records, DEMO_SEED,
                                      pack.name))
    clean = root / pack.name / "clean"
    jobs = {"raw": (raw, "text"), "kb": (pack.knowledge_base, "text")}
    jobs.update({f"sft_{name}": (path, "messages") for name, path in pack.sft_files().items()})
    outputs = {}
    for name, (source, field) in jobs.items():
        target = clean / f"{name}.jsonl"
        report = desensitize_file(source, target, DesensitizeConfig(domain=pack.name, field=field),
                                  show_progress=False)
        CONSOLE.print(f"  {pack.name}/{name}: {report.records} records, replaced {report.by_type() or 'nothing'}")
        outputs[f"{pack.name}/clean/{name}"] = target
    verified = verify_file(clean / "raw.jsonl")
    if not verified.clean:
        raise VeritunError(f"strict verify found {verified.counts()} in the desensitized raw records",
                           path=clean / "raw.jsonl")
    CONSOLE.print(f"  {pack.name}/raw verified: the strict pass finds nothing in {verified.records} records")
    return outputs


def run_demo(root: Path = Path("runs/demo"), pretrain_steps: int = DEMO_PRETRAIN_STEPS) -> dict[str, Path]:
    from basemodel import BaseBuildConfig, build_base
    from veritune.packs import load_all_packs

    outputs: dict[str, Path] = {}
    started = time.perf_counter()
    CONSOLE.rule("1/2  desensitize: synthetic raw records, knowledge bases and SFT data (then verify)")
    for pack in load_all_packs():
        outputs.update(desensitize_pack(pack, root))
    CONSOLE.rule("2/2  base model: tokenizer + tiny Qwen3-MoE")
    outputs["base"] = build_base(BaseBuildConfig(out=str(root / "base"), size="tiny", pretrain_steps=pretrain_steps,
                                                 seed=DEMO_SEED))
    CONSOLE.rule(f"demo finished in {time.perf_counter() - started:.0f} s")
    for name, path in outputs.items():
        CONSOLE.print(f"  {name:<24} {path}")
    CONSOLE.print("Stages not built yet (finetune, index, eval, apps) join the demo as they land.")
    return outputs


def main() -> int:
    os.environ.setdefault("TLDEXTRACT_PUBLIC_SUFFIX_LIST_URLS", "")  # before Presidio loads tldextract
    apply_thread_limits()
    from veritune.errors import VeritunError
    from veritune.logs import setup_logging

    setup_logging()
    try:
        run_demo()
    except VeritunError as exc:
        CONSOLE.print(f"[red]error:[/red] {escape(str(exc))}")
        return exc.exit_code
    return 0


if __name__ == "__main__":
    sys.exit(main())
