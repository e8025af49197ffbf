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


def run_demo(root: Path = Path("runs/demo"), pretrain_steps: int = DEMO_PRETRAIN_STEPS) -> dict[str, Path]:
    from basemodel import BaseBuildConfig, build_base
    from veritune.jsonl import write_jsonl
    from veritune.packs import load_all_packs
    from veritune.synth import generate_records

    outputs: dict[str, Path] = {}
    started = time.perf_counter()
    CONSOLE.rule("1/2  base model: tokenizer + tiny Qwen3-MoE")
    outputs["base"] = build_base(BaseBuildConfig(out=str(root / "base"), size="tiny", pretrain_steps=pretrain_steps,
                                                 seed=DEMO_SEED))
    CONSOLE.rule("2/2  raw records with synthetic PII (seeded)")
    for pack in load_all_packs():
        raw = root / pack.name / "raw.jsonl"
        rows = generate_records(pack.path(pack.spec.raw_templates), pack.spec.raw_records, DEMO_SEED, pack.name)
        write_jsonl(raw, rows)
        outputs[f"{pack.name}/raw"] = raw
        CONSOLE.print(f"{pack.name}: {len(rows)} raw records (synthetic PII) -> {raw}")
    CONSOLE.rule(f"demo finished in {time.perf_counter() - started:.0f} s")
    for name, path in outputs.items():
        CONSOLE.print(f"  {name:<16} {path}")
    CONSOLE.print("Stages not built yet (desensitize, finetune, index, eval, apps) join the demo as they land.")
    return outputs


def main() -> int:
    os.environ.setdefault("TLDEXTRACT_PUBLIC_SUFFIX_LIST_URLS", "")
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
