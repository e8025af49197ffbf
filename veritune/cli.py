"""The `veritune` console entry point: thin typer commands over the stages' library functions.

Heavy libraries are imported inside the commands, so `veritune --help` stays fast; thread limits are set before
any of them loads.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import click
import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from veritune import __version__
from veritune.errors import VeritunError
from veritune.logs import STDERR, setup_logging
from veritune.threads import apply_thread_limits

app = typer.Typer(name="veritune", help="Vertical-domain fine-tuning and RAG: desensitize, fine-tune, retrieve, "
                  "evaluate, demo.", no_args_is_help=True, add_completion=False, pretty_exceptions_enable=False)
base_app = typer.Typer(help="Build the local tiny MoE base model.", no_args_is_help=True)
packs_app = typer.Typer(help="List and inspect domain packs.", no_args_is_help=True)
app.add_typer(base_app, name="base")
app.add_typer(packs_app, name="packs")
STDOUT = Console()

OverridesArg = typer.Argument(None, help="key=value overrides of config fields", show_default=False)


@app.callback()
def _root(verbose: bool = typer.Option(False, "--verbose", "-v", help="debug logging")) -> None:
    setup_logging(verbose)


@app.command()
def version() -> None:
    """Print veritune's version and the versions of the libraries it runs on."""
    from veritune.versions import package_versions

    versions = package_versions(("torch", "transformers", "peft", "trl", "datasets", "accelerate", "tokenizers",
                                 "faiss-cpu", "presidio-analyzer", "presidio-anonymizer", "spacy", "gradio"))
    STDOUT.print(f"veritune {__version__}")
    for name, found in versions.items():
        STDOUT.print(f"  {name:<20} {found}")


@base_app.command("build")
def base_build(
    out: Path = typer.Option(Path("runs/base"), "--out", help="output folder"),
    size: str = typer.Option("tiny", "--size", help="tiny or small"),
    pretrain_steps: int = typer.Option(0, "--pretrain-steps", help="causal-LM steps on the packs' text"),
    seed: int = typer.Option(0, "--seed"),
    overrides: list[str] = OverridesArg,
) -> None:
    """Train a tokenizer on the packs and build a Qwen3-MoE base (tiny: 2.8 M params, 8 experts, top-2)."""
    from basemodel.config import BaseBuildConfig
    from veritune.config import deep_merge, parse_overrides, validate

    options = {"out": str(out), "size": size, "pretrain_steps": pretrain_steps, "seed": seed}
    cfg = validate(BaseBuildConfig, deep_merge(options, parse_overrides(overrides or [])), "command line")
    from basemodel import build_base  # torch loads only once the options are known to be valid
    path = build_base(cfg)
    STDOUT.print(f"base model written to [bold]{path}[/bold]")


@packs_app.command("list")
def packs_list() -> None:
    """List the domain packs and what they hold."""
    from veritune.packs import load_all_packs

    table = Table("pack", "languages", "knowledge base", "sft", "eval sets", "entities")
    for pack in load_all_packs():
        kb_count = sum(1 for _ in pack.kb_records())
        table.add_row(pack.name, ",".join(pack.spec.languages), f"{kb_count} entries", ", ".join(pack.spec.sft),
                      ", ".join(pack.spec.eval_sets), str(len(pack.spec.entities)))
    STDOUT.print(table)


@packs_app.command("raw")
def packs_raw(
    domain: str = typer.Argument(..., help="pack name or folder"),
    out: Path = typer.Option(..., "--out", help="JSONL to write (holds synthetic PII: desensitize it next)"),
    count: int | None = typer.Option(None, "--count", help="records (default: the pack's raw_records)"),
    seed: int = typer.Option(0, "--seed"),
) -> None:
    """Generate the pack's seeded synthetic raw records (fake PII with gold spans)."""
    from veritune.jsonl import write_jsonl
    from veritune.packs import load_pack
    from veritune.synth import generate_records

    pack = load_pack(domain)
    rows = generate_records(pack.path(pack.spec.raw_templates), count or pack.spec.raw_records, seed, pack.name)
    write_jsonl(out, rows)
    STDOUT.print(f"{len(rows)} synthetic raw records written to {out}")


@app.command("demo")
def demo(out: Path = typer.Option(Path("runs/demo"), "--out")) -> None:
    """Run every built stage end to end on the embedded defaults (what `make demo` runs)."""
    from veritune.demo import run_demo

    run_demo(out)


def _placeholder(name: str, issue: int, summary: str) -> None:
    @app.command(name, help=f"{summary} (not built yet)", context_settings={"allow_extra_args": True,
                                                                               "ignore_unknown_options": True})
    def _command(ctx: typer.Context) -> None:
        raise VeritunError(f"'veritune {name}' is not built yet (issue {issue})")


_placeholder("desensitize", 3, "Desensitize raw records (PII/PHI, English and Chinese) and verify no leaks.")
_placeholder("finetune", 4, "Fine-tune a MoE base with LoRA/QLoRA recipes; merge and export adapters.")
_placeholder("index", 5, "Build, update and search FAISS + BM25 indexes over a domain knowledge base.")
_placeholder("eval", 6, "Evaluate base vs fine-tuned vs fine-tuned + retrieval.")
_placeholder("app", 7, "Run the Gradio medical or finance assistant.")
_placeholder("serve", 7, "Serve an OpenAI-compatible API with keys, usage and rate limits.")


def main(argv: list[str] | None = None) -> int:
    """Run the CLI; bad input ends in one red line on stderr and exit code 2, never a traceback."""
    os.environ.setdefault("TLDEXTRACT_PUBLIC_SUFFIX_LIST_URLS", "")  # tldextract would reach for the network
    apply_thread_limits()
    command = typer.main.get_command(app)
    try:
        result = command.main(args=argv, prog_name="veritune", standalone_mode=False)
    except VeritunError as exc:
        STDERR.print(f"[red]error:[/red] {escape(str(exc))}", markup=True, highlight=False, soft_wrap=True)
        return exc.exit_code
    except click.exceptions.Abort:
        STDERR.print("aborted")
        return 130
    except click.ClickException as exc:
        exc.show()
        return exc.exit_code
    return result if isinstance(result, int) else 0


if __name__ == "__main__":
    sys.exit(main())
