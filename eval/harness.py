"""`veritune eval`: base vs fine-tuned vs fine-tuned + retrieval on the same items, in one run.

Systems: `base` (the model alone), `lora` (the model with the task domain's adapter), `lora+rag` (with the
adapter, answering from evidence retrieved from the domain's index, in the prompt format the SFT data teaches).
Every item of every system gets scores; results.json holds means with bootstrap 95 % intervals and paired
differences (lora - base, lora+rag - lora) over the same items. samples.jsonl holds prompts, outputs and golds
after desensitization (outputs could echo anything).
"""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from desensitize.lang import detect_language
from eval.metrics import METRICS
from eval.stats import bootstrap, paired_difference
from eval.tasks import Task, get_task
from finetune.inference import load_for_inference
from veritune.errors import VeritunError
from veritune.hashing import sha256_file
from veritune.logs import get_logger
from veritune.runs import open_run

log = get_logger("eval")
SYSTEMS = ("base", "lora", "lora+rag")


@dataclass
class EvalConfig:
    tasks: list[str]
    model: str
    adapters: dict[str, str] = field(default_factory=dict)  # domain -> fine-tune run folder
    indexes: dict[str, str] = field(default_factory=dict)   # domain -> index folder
    systems: list[str] = field(default_factory=lambda: list(SYSTEMS))
    limit: int | None = None
    k: int = 4
    gpu_hour_price: float = 2.5
    seed: int = 0


class Generator:
    """Greedy generation with the KV cache, counting tokens and time."""

    def __init__(self, model: Any, tokenizer: Any) -> None:
        self.model, self.tokenizer = model, tokenizer
        self.tokens = 0
        self.seconds = 0.0

    @torch.no_grad()
    def __call__(self, prompt: str, max_new_tokens: int) -> str:
        inputs = self.tokenizer.apply_chat_template([{"role": "user", "content": prompt}], add_generation_prompt=True,
                                                    return_tensors="pt", return_dict=True)
        started = time.perf_counter()
        output = self.model.generate(**inputs, max_new_tokens=max_new_tokens, do_sample=False, use_cache=True,
                                     pad_token_id=self.tokenizer.pad_token_id)
        self.seconds += time.perf_counter() - started
        new = output[0, inputs["input_ids"].shape[1]:]
        self.tokens += int(new.shape[0])
        return self.tokenizer.decode(new, skip_special_tokens=True).strip()


def _item_scores(task: Task, item: dict, output: str) -> dict[str, float]:
    gold = item[task.spec.gold_field]
    scores: dict[str, float] = {}
    for name in task.spec.metrics:
        metric = METRICS.get(name)
        if metric.kind == "corpus":
            continue
        if name.startswith("set_"):
            scores[name] = metric.fn(task.cited(output), gold)
        elif task.spec.output == "label":
            scores[name] = metric.fn(task.read_label(output), gold)
        else:
            scores[name] = metric.fn(output, gold)
    return scores


def _run_system(task: Task, items: Sequence[dict], system: str, generate: Generator, index: Any, verifier: Any,
                leak_detector: Any, k: int) -> list[dict[str, Any]]:
    from retrieval.answer import ABSTAIN, build_prompt, retrieve

    rows = []
    for item in items:
        text = item[task.spec.input_field]
        lang = item.get("lang") or detect_language(text)
        record: dict[str, Any] = {"id": item.get("id"), "lang": lang, "system": system}
        scores: dict[str, float] = {}
        if system == "lora+rag":
            hits, weak = retrieve(index, text, k=k)
            ranked = [h.doc_id for h in hits]
            gold_evidence = item.get(task.spec.evidence_field or "", []) or []
            if gold_evidence:
                scores.update(hit_at_k=METRICS.get("hit_at_k").fn(ranked, gold_evidence, k=k),
                              mrr=METRICS.get("mrr").fn(ranked, gold_evidence, k=k))
            if task.spec.rag_prompt:
                evidence = "\n".join(f"[{n}] ({h.doc_id}) {h.text}" for n, h in enumerate(hits, start=1))
                template = task.spec.rag_prompt.get(lang, next(iter(task.spec.rag_prompt.values())))
                prompt = template.format(evidence=evidence, input=text)
            else:
                prompt = build_prompt(text, hits, lang)
            output = ABSTAIN[lang] if weak else generate(prompt, task.spec.max_new_tokens)
            scores["abstained"] = float(weak)
            if not weak:
                check = verifier.check(output, [h.text for h in hits])
                scores["groundedness"] = check.groundedness
                claims = [s for s in check.sentences if s.reason != "no claim"]
                scores["unsupported_claim_rate"] = (len(check.unsupported) / len(claims)) if claims else 0.0
            record["evidence"] = ranked
        else:
            prompt = task.spec.prompt.get(lang, task.spec.prompt.get("en", "{input}")).format(input=text)
            output = generate(prompt, task.spec.max_new_tokens)
        scores.update(_item_scores(task, item, output))
        scores["pii_leak"] = float(bool(_leaks(output, leak_detector)))
        record.update(prompt=prompt, output=output, gold=item[task.spec.gold_field], scores=scores)
        if task.spec.output == "label":
            record["predicted_label"] = task.read_label(output)
        rows.append(record)
    return rows


def _leaks(text: str, detector: Any) -> list:
    from desensitize.verify import scan_text

    return scan_text(text, detector) if text.strip() else []


def summarize(task: Task, per_system: dict[str, list[dict]], seed: int) -> dict[str, Any]:
    summary: dict[str, Any] = {"systems": {}, "paired": {}}
    for system, rows in per_system.items():
        names = sorted({n for r in rows for n in r["scores"]})
        metrics = {n: bootstrap([r["scores"][n] for r in rows if n in r["scores"]], seed=seed).to_json()
                   for n in names}
        for name in task.spec.metrics:
            if METRICS.get(name).kind == "corpus":
                metrics[name] = {"value": round(METRICS.get(name).fn([r.get("predicted_label", "") for r in rows],
                                                                     [r["gold"] for r in rows]), 4)}
        summary["systems"][system] = metrics
    for later, earlier in (("lora", "base"), ("lora+rag", "lora"), ("lora+rag", "base")):
        if later in per_system and earlier in per_system:
            pair = {}
            for name in task.spec.metrics:
                if METRICS.get(name).kind == "corpus":
                    continue
                a = [r["scores"][name] for r in per_system[later]]
                b = [r["scores"][name] for r in per_system[earlier]]
                pair[name] = paired_difference(a, b, seed=seed).to_json()
            summary["paired"][f"{later} - {earlier}"] = pair
    return summary


def run_eval(config: EvalConfig, out: str | Path) -> Path:
    from desensitize import DesensitizeConfig, Detector, DetectorSettings, RecordDesensitizer
    from desensitize.verify import STRICT_THRESHOLD
    from retrieval.embedders import load_embedder
    from retrieval.index import RetrievalIndex
    from retrieval.verifier import GroundingVerifier

    unknown = [s for s in config.systems if s not in SYSTEMS]
    if unknown:
        raise VeritunError(f"unknown system {unknown[0]!r} (base, lora, lora+rag)", field="systems")
    tasks = [get_task(name) for name in config.tasks]
    torch.manual_seed(config.seed)
    leak_detector = Detector(DetectorSettings(threshold=STRICT_THRESHOLD))
    scrubber = RecordDesensitizer(DesensitizeConfig(), detector=leak_detector)
    verifier = GroundingVerifier(embed=load_embedder("minilm").passages)
    results: dict[str, Any] = {"tasks": {}}
    samples: list[dict] = []
    loaded: dict[str | None, tuple[Any, Any]] = {}
    generators: dict[str | None, Generator] = {}
    indexes: dict[str, Any] = {}  # path -> loaded index, shared by the tasks of one domain
    for task in tasks:
        domain = task.spec.domain
        items = task.items(config.limit)
        per_system: dict[str, list[dict]] = {}
        for system in config.systems:
            adapter = config.adapters.get(domain or "") if system != "base" else None
            if system != "base" and not adapter:
                raise VeritunError(f"system {system} needs an adapter for domain {domain!r} (--adapter "
                                   f"{domain}=RUN)", field="adapter")
            if adapter not in loaded:
                loaded[adapter] = load_for_inference(config.model, adapter)
                generators[adapter] = Generator(*loaded[adapter])
            index = None
            if system == "lora+rag":
                path = config.indexes.get(domain or "")
                if not path:
                    raise VeritunError(f"system lora+rag needs an index for domain {domain!r} (--index "
                                       f"{domain}=INDEX)", field="index")
                if path not in indexes:
                    indexes[path] = RetrievalIndex.load(path)
                index = indexes[path]
            log.info("%s: %s on %d items", task.spec.name, system, len(items))
            per_system[system] = _run_system(task, items, system, generators[adapter], index, verifier,
                                             leak_detector, config.k)
            samples += [{"task": task.spec.name, **r} for r in per_system[system]]
        results["tasks"][task.spec.name] = {"version": task.spec.version, "dataset": str(task.dataset),
                                            "dataset_sha256": sha256_file(task.dataset), "items": len(items),
                                            **summarize(task, per_system, config.seed)}
    speed = {name or "base": {"tokens": g.tokens, "seconds": round(g.seconds, 2),
                              "tokens_per_second": round(g.tokens / g.seconds, 1) if g.seconds else None}
             for name, g in generators.items()}
    total_tokens = sum(g.tokens for g in generators.values())
    total_seconds = sum(g.seconds for g in generators.values())
    results["speed"] = speed
    results["cost"] = {"gpu_hour_price": config.gpu_hour_price, "device": "cuda" if torch.cuda.is_available() else
                       "cpu", "cost_per_1k_tokens": round(config.gpu_hour_price * total_seconds / 3600 /
                                                          max(total_tokens, 1) * 1000, 6)}
    samples = _scrub(samples, scrubber)
    with open_run(out, kind="eval", config=vars(config), seed=config.seed,
                  inputs=[t.dataset for t in tasks]) as run:
        (run.path / "results.json").write_text(json.dumps(results, indent=2, ensure_ascii=False) + "\n")
        (run.path / "samples.jsonl").write_text("".join(json.dumps(s, ensure_ascii=False) + "\n" for s in samples),
                                                encoding="utf-8")
        from eval.report import render_charts, render_report

        (run.path / "report.md").write_text(render_report(results), encoding="utf-8")
        render_charts(results, run.path)
        run.stats.update(tasks=list(results["tasks"]), systems=config.systems)
    return Path(out)


def _scrub(samples: list[dict], scrubber: Any) -> list[dict]:
    """Prompts, outputs and golds through the desensitizer before they touch the disk."""
    fields = ("prompt", "output", "gold")
    texts = [{"text": s[f] if isinstance(s[f], str) else json.dumps(s[f], ensure_ascii=False)} for s in samples
             for f in fields]
    cleaned = [row["text"] for row, _ in scrubber.process(texts)] if texts else []
    for number, sample in enumerate(samples):
        for offset, name in enumerate(fields):
            value = cleaned[number * len(fields) + offset]
            sample[name] = value if isinstance(sample[name], str) else json.loads(value)
    return samples
