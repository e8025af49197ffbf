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
from veritune.errors import VerituneError
from veritune.hashing import sha256_file
from veritune.logs import get_logger
from veritune.runs import open_run

log = get_logger("eval")
SYSTEMS = ("base", "lora", "lora+rag", "api")
DEFAULT_SYSTEMS = ("base", "lora", "lora+rag")


@dataclass
class EvalConfig:
    tasks: list[str]
    model: str
    adapters: dict[str, str] = field(default_factory=dict)  # domain -> fine-tune run folder
    indexes: dict[str, str] = field(default_factory=dict)   # domain -> index folder
    systems: list[str] = field(default_factory=lambda: list(DEFAULT_SYSTEMS))
    limit: int | None = None
    k: int = 4
    gpu_hour_price: float = 2.5
    seed: int = 0
    endpoint: str | None = None                                 # system `api`: an OpenAI-compatible base URL
    api_models: dict[str, str] = field(default_factory=dict)    # domain -> the endpoint's model id
    api_key_env: str = "VERITUNE_API_KEY"                        # the key is read from this variable, never stored
    allow_unfinished: bool = False                               # load adapters of runs without a valid manifest


class Generator:
    """Greedy generation with the KV cache, and log-likelihoods of given continuations, counting tokens and time."""

    def __init__(self, model: Any, tokenizer: Any) -> None:
        self.model, self.tokenizer = model, tokenizer
        self.tokens = 0
        self.seconds = 0.0

    def _context(self, messages: list[dict[str, str]]) -> list[int]:
        return list(self.tokenizer.apply_chat_template(messages, add_generation_prompt=True,
                                                       return_dict=True)["input_ids"])

    @torch.no_grad()
    def __call__(self, messages: list[dict[str, str]], max_new_tokens: int) -> Answer:
        inputs = torch.tensor([self._context(messages)])
        started = time.perf_counter()
        output = self.model.generate(input_ids=inputs, attention_mask=torch.ones_like(inputs),
                                     max_new_tokens=max_new_tokens, do_sample=False, use_cache=True,
                                     pad_token_id=self.tokenizer.pad_token_id)
        self.seconds += time.perf_counter() - started
        new = output[0, inputs.shape[1]:]
        self.tokens += int(new.shape[0])
        return Answer(self.tokenizer.decode(new, skip_special_tokens=True).strip())

    @torch.no_grad()
    def loglikelihoods(self, messages: list[dict[str, str]], continuations: Sequence[str]) -> list[tuple[float, int]]:
        """(sum of log-probabilities, length in characters) of each continuation after the chat context: all
        choices in one right-padded forward pass."""
        context = self._context(messages)
        conts = [self.tokenizer(text, add_special_tokens=False)["input_ids"] for text in continuations]
        width = len(context) + max(len(c) for c in conts)
        pad = self.tokenizer.pad_token_id
        ids = torch.tensor([context + c + [pad] * (width - len(context) - len(c)) for c in conts])
        mask = torch.tensor([[1] * (len(context) + len(c)) + [0] * (width - len(context) - len(c)) for c in conts])
        started = time.perf_counter()
        logprobs = torch.log_softmax(self.model(input_ids=ids, attention_mask=mask).logits.float(), dim=-1)
        self.seconds += time.perf_counter() - started
        scores = []
        for row, cont in enumerate(conts):
            positions = torch.arange(len(context) - 1, len(context) - 1 + len(cont))
            total = logprobs[row, positions, torch.tensor(cont)].sum().item()
            scores.append((total, max(len(continuations[row]), 1)))
        return scores


@dataclass
class Answer:
    text: str
    citations: list[str] = field(default_factory=list)  # doc ids the system retrieved itself (an API's +rag model)


class ApiGenerator:
    """An OpenAI-compatible endpoint as a system: the served assistant is measured the way users meet it."""

    def __init__(self, base_url: str, api_key: str, model: str) -> None:
        import openai

        self.client = openai.OpenAI(base_url=base_url, api_key=api_key, max_retries=2, timeout=300)
        self.model = model
        self.tokens = 0
        self.seconds = 0.0

    def __call__(self, messages: list[dict[str, str]], max_new_tokens: int) -> Answer:
        import openai

        started = time.perf_counter()
        try:
            response = self.client.chat.completions.create(model=self.model, messages=messages,
                                                           max_tokens=max_new_tokens)
        except openai.APIError as exc:
            raise VerituneError(f"the endpoint answered {getattr(exc, 'status_code', '')} {exc.message}",
                                field="endpoint") from None
        self.seconds += time.perf_counter() - started
        self.tokens += response.usage.completion_tokens if response.usage else 0
        citations = [c["doc_id"] for c in (getattr(response, "citations", None) or [])]
        return Answer((response.choices[0].message.content or "").strip(), citations)

    def loglikelihoods(self, messages: list[dict[str, str]], continuations: Sequence[str]) -> list[tuple[float, int]]:
        raise VerituneError("multiple-choice tasks are scored by log-likelihood, which a chat endpoint does not "
                            "expose: evaluate them on a local model", field="systems")


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


def grounded_prompt(task: Task, item: dict, lang: str, hits: Sequence[Any]) -> str:
    """The task's retrieval prompt (its rag_prompt and evidence_line), or the grounded QA format."""
    from retrieval.answer import build_prompt

    text = item[task.spec.input_field]
    if not task.spec.rag_prompt:
        return build_prompt(text, hits, lang)
    evidence = "\n".join(task.spec.evidence_line.format(**{**h.metadata, "n": n, "doc_id": h.doc_id, "text": h.text})
                         for n, h in enumerate(hits, start=1))
    template = task.spec.rag_prompt.get(lang, next(iter(task.spec.rag_prompt.values())))
    return template.format(evidence=evidence, input=text)


def _retrieval_scores(task: Task, item: dict, ranked: list[str], k: int) -> dict[str, float]:
    gold_evidence = item.get(task.spec.evidence_field or "", []) or []
    if not gold_evidence or not ranked:
        return {}
    return {"hit_at_k": METRICS.get("hit_at_k").fn(ranked, gold_evidence, k=k),
            "mrr": METRICS.get("mrr").fn(ranked, gold_evidence, k=k)}


def _choose(task: Task, generate: Any, messages: list[dict[str, str]], lang: str) -> tuple[str, str, dict]:
    """multiple_choice: (label by summed log-likelihood, label by log-likelihood per character, the scores)."""
    continuations = task.continuations(lang)
    scores = dict(zip(continuations, generate.loglikelihoods(messages, list(continuations.values())), strict=True))
    raw = max(scores, key=lambda label: scores[label][0])
    normalized = max(scores, key=lambda label: scores[label][0] / scores[label][1])
    return raw, normalized, {label: round(total, 4) for label, (total, _) in scores.items()}


def _run_system(task: Task, items: Sequence[dict], system: str, generate: Any, index: Any, verifier: Any,
                leak_detector: Any, k: int, pool: Sequence[dict] = (), seed: int = 0) -> list[dict[str, Any]]:
    from retrieval.answer import ABSTAIN, retrieve

    rows = []
    for item in items:
        text = item[task.spec.input_field]
        lang = item.get("lang") or detect_language(text)
        record: dict[str, Any] = {"id": item.get("id"), "lang": lang, "system": system}
        scores: dict[str, float] = {}
        hits, weak = [], False
        if system == "lora+rag":
            hits, weak = retrieve(index, text, k=k)
            record["evidence"] = [h.doc_id for h in hits]
            scores.update(_retrieval_scores(task, item, record["evidence"], k))
            scores["abstained"] = float(weak)
            prompt = grounded_prompt(task, item, lang, hits)
        else:
            prompt = task.prompt(item, lang)
        messages = task.shots(item, pool, seed) + [{"role": "user", "content": prompt}]
        if task.spec.output == "multiple_choice":
            raw, normalized, record["choice_loglik"] = _choose(task, generate, messages, lang)
            record["predicted_label"], output = raw, task.continuations(lang)[raw]
            scores.update(mc_accuracy=float(raw == item[task.spec.gold_field]),
                          mc_accuracy_norm=float(normalized == item[task.spec.gold_field]))
        else:
            answer = Answer(ABSTAIN[lang]) if weak else generate(messages, task.spec.max_new_tokens)
            output = answer.text
            if answer.citations:  # an endpoint that retrieved on its own: score its evidence too
                record["evidence"] = answer.citations
                scores.update(_retrieval_scores(task, item, answer.citations, k))
            if system == "lora+rag" and not weak:
                check = verifier.check(output, [h.text for h in hits])
                claims = [s for s in check.sentences if s.reason != "no claim"]
                scores.update(groundedness=check.groundedness,
                              unsupported_claim_rate=(len(check.unsupported) / len(claims)) if claims else 0.0)
            scores.update(_item_scores(task, item, output))
            if task.spec.output == "label":
                record["predicted_label"] = task.read_label(output)
        scores["pii_leak"] = float(bool(_leaks(output, leak_detector)))
        record.update(prompt=_render(messages), output=output, gold=item[task.spec.gold_field], scores=scores)
        rows.append(record)
    return rows


def _render(messages: list[dict[str, str]]) -> str:
    """The prompt as stored in samples.jsonl: few-shot turns shown before the question."""
    if len(messages) == 1:
        return messages[0]["content"]
    return "\n\n".join(f"[{m['role']}] {m['content']}" for m in messages)


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
    for later, earlier in (("lora", "base"), ("lora+rag", "lora"), ("lora+rag", "base"), ("api", "lora+rag")):
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
    from retrieval.verifier import GroundingVerifier

    unknown = [s for s in config.systems if s not in SYSTEMS]
    if unknown:
        raise VerituneError(f"unknown system {unknown[0]!r} (base, lora, lora+rag, api)", field="systems")
    tasks = [get_task(name) for name in config.tasks]
    torch.manual_seed(config.seed)
    leak_detector = Detector(DetectorSettings(threshold=STRICT_THRESHOLD))
    scrubber = RecordDesensitizer(DesensitizeConfig(), detector=leak_detector)
    verifier = GroundingVerifier(embed=load_embedder("minilm").passages)
    results: dict[str, Any] = {"tasks": {}}
    samples: list[dict] = []
    loaded: dict[str | None, tuple[Any, Any]] = {}
    generators: dict[str | None, Any] = {}
    indexes: dict[str, Any] = {}  # path -> loaded index, shared by the tasks of one domain
    for task in tasks:
        domain = task.spec.domain
        items = task.items(config.limit)
        per_system: dict[str, list[dict]] = {}
        for system in config.systems:
            if system == "api":
                generator, index = _api_generator(config, domain, generators), None
            else:
                generator, index = _local_system(config, system, domain, loaded, generators, indexes)
            log.info("%s: %s on %d items", task.spec.name, system, len(items))
            per_system[system] = _run_system(task, items, system, generator, index, verifier, leak_detector,
                                             config.k, pool=task.items(), seed=config.seed)
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


def _local_system(config: EvalConfig, system: str, domain: str | None, loaded: dict, generators: dict,
                  indexes: dict) -> tuple[Generator, Any]:
    """The generator (model + adapter, loaded once) and the index a local system needs."""
    from retrieval.index import RetrievalIndex

    adapter = config.adapters.get(domain or "") if system != "base" else None
    if system != "base" and not adapter:
        raise VerituneError(f"system {system} needs an adapter for domain {domain!r} (--adapter {domain}=RUN)",
                            field="adapter")
    if adapter not in loaded:
        loaded[adapter] = load_for_inference(config.model, adapter, allow_unfinished=config.allow_unfinished)
        generators[adapter] = Generator(*loaded[adapter])
    if system != "lora+rag":
        return generators[adapter], None
    path = config.indexes.get(domain or "")
    if not path:
        raise VerituneError(f"system lora+rag needs an index for domain {domain!r} (--index {domain}=INDEX)",
                            field="index")
    if path not in indexes:
        indexes[path] = RetrievalIndex.load(path)
    return generators[adapter], indexes[path]


def _api_generator(config: EvalConfig, domain: str | None, generators: dict) -> ApiGenerator:
    import os

    model = config.api_models.get(domain or "")
    if not config.endpoint or not model:
        raise VerituneError(f"system api needs --endpoint URL and --api-model {domain}=MODEL_ID", field="endpoint")
    key = os.environ.get(config.api_key_env)
    if not key:
        raise VerituneError(f"system api reads its key from ${config.api_key_env}, which is not set", field="endpoint")
    name = f"api:{model}"
    if name not in generators:
        generators[name] = ApiGenerator(config.endpoint, key, model)
    return generators[name]


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
