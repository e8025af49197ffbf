"""`veritune eval`: base vs fine-tuned vs fine-tuned + retrieval on the same items, in one run.

Systems: `base` (the model alone), `lora` (the model with the task domain's adapter), `lora+rag` (with the
adapter, answering from evidence retrieved from the domain's index, in the prompt format the SFT data teaches),
`api` (an OpenAI-compatible endpoint). The local systems answer through the retrieval stage's grounded-answer path
(`retrieval.GroundedAnswerer`) with the same settings the apps use, generating in padded batches.
Every item of every system gets scores; results.json holds means with bootstrap 95 % intervals and paired
differences (lora - base, lora+rag - lora) over the same items. samples.jsonl holds prompts, outputs and golds
after desensitization (outputs could echo anything).
"""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import torch

from desensitize import detect_language
from eval.config import EvalConfig
from eval.metrics import METRICS, REPETITION_METRICS, without_citations
from eval.stats import bootstrap, paired_difference
from eval.tasks import Task, get_task
from finetune import inference_dtype, load_for_inference
from veritune.errors import VerituneError
from veritune.hashing import sha256_file
from veritune.logs import get_logger
from veritune.runs import open_run

log = get_logger("eval")


class Scorer:
    """Log-likelihoods of given continuations after a chat (multiple-choice tasks), counting time."""

    TREE_ATTENTION = ("sdpa", "eager")   # attention implementations that honour a custom 4D mask

    def __init__(self, model: Any, tokenizer: Any) -> None:
        self.model, self.tokenizer = model, tokenizer
        self.seconds = 0.0

    @torch.no_grad()
    def loglikelihoods(self, messages: list[dict[str, str]], continuations: Sequence[str]) -> list[tuple[float, int]]:
        """(sum of log-probabilities, length in characters) of each continuation after the chat context. The context
        runs once and its KV cache is shared by every choice (as lm-evaluation-harness caches a shared prefix):
        a 15-choice question costs one context pass plus the choices' own tokens, not 15 full passes."""
        from retrieval import chat_ids

        context = chat_ids(self.tokenizer, messages)
        conts = [self.tokenizer(text, add_special_tokens=False)["input_ids"] for text in continuations]
        started = time.perf_counter()
        device = self.model.device
        # the context's last position only: it scores each continuation's first token
        prefix = self.model(input_ids=torch.tensor([context], device=device), use_cache=True, logits_to_keep=1)
        first = torch.log_softmax(prefix.logits[0, -1].float(), dim=-1)
        if getattr(self.model.config, "_attn_implementation", None) in self.TREE_ATTENTION:
            rows = self._as_tree(prefix.cache, len(context), conts)
        else:
            rows = self._as_batch(prefix.cache, len(context), conts)
        self.seconds += time.perf_counter() - started
        scores = []
        for row, cont, text in zip(rows, conts, continuations, strict=True):
            later = (row[torch.arange(len(cont) - 1, device=device), torch.tensor(cont[1:], device=device)].sum()
                     if len(cont) > 1 else 0)
            scores.append((float(first[cont[0]] + later), max(len(text), 1)))
        return scores

    def _as_tree(self, cache: Any, n: int, conts: list[list[int]]) -> list[torch.Tensor]:
        """Every continuation in one row after the context, each attending to the context and its own earlier
        tokens (a 4D mask; positions restart after the context for each): the context's cache is read once. Copying
        it per choice (the batch path) cost more than the choices themselves: 19 choices after a 1,150-token
        evidence prompt, 1.5 s of a 3.5 s item in bf16 (2 threads). Equal to the batch path in fp32 (3e-5)."""
        flat = [token for cont in conts for token in cont]
        device, dtype = self.model.device, self.model.dtype
        owner = torch.tensor([i for i, cont in enumerate(conts) for _ in cont], device=device)
        offset = torch.tensor([j for cont in conts for j in range(len(cont))], device=device)
        own = (owner[:, None] == owner[None, :]) & (offset[None, :] <= offset[:, None])
        allowed = torch.cat([torch.ones(len(flat), n, dtype=torch.bool, device=device), own], dim=1)
        mask = torch.zeros(1, 1, len(flat), n + len(flat), dtype=dtype, device=device).masked_fill(
            ~allowed, torch.finfo(dtype).min)
        logits = self.model(input_ids=torch.tensor([flat], device=device), attention_mask=mask,
                            position_ids=(n + offset)[None], cache=cache, use_cache=True).logits[0]
        return list(torch.log_softmax(logits.float(), dim=-1).split([len(cont) for cont in conts]))

    def _as_batch(self, cache: Any, n: int, conts: list[list[int]]) -> list[torch.Tensor]:
        """The continuations as a padded batch over copies of the context's cache (attention without custom masks,
        such as flash-attention)."""
        cache.batch_repeat_interleave(len(conts))
        width = max(len(c) for c in conts)
        pad = self.tokenizer.pad_token_id if self.tokenizer.pad_token_id is not None else 0
        ids = torch.tensor([c + [pad] * (width - len(c)) for c in conts], device=self.model.device)
        mask = torch.tensor([[1] * (n + len(c)) + [0] * (width - len(c)) for c in conts], device=self.model.device)
        logprobs = torch.log_softmax(self.model(input_ids=ids, attention_mask=mask, cache=cache,
                                                use_cache=True).logits.float(), dim=-1)
        return list(logprobs)


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


@dataclass
class LocalSystem:
    """A model (base, or base + one domain's adapter) answering through the grounded-answer path, with or
    without that domain's index."""

    answerer: Any              # retrieval.GroundedAnswerer
    scorer: Scorer
    evidence: Any = None       # the domain's index, to check answers given without retrieval against it

    @property
    def tokens(self) -> int:
        return self.answerer.tokens

    @property
    def seconds(self) -> float:
        return self.answerer.seconds + self.scorer.seconds


def _item_scores(task: Task, item: dict, output: str, evidence_ids: Sequence[str] = ()) -> dict[str, float]:
    """The task's item metrics; text metrics read the answer without its [n] marks (the golds have none, and a
    cited answer says no more than the same answer uncited)."""
    gold = item[task.spec.gold_field]
    scores: dict[str, float] = {}
    for name in task.spec.metrics:
        metric = METRICS.get(name)
        if metric.kind == "corpus":
            continue
        if name.startswith("set_"):
            scores[name] = metric.fn(task.cited(output, evidence_ids), gold)
        elif task.spec.output == "label":
            scores[name] = metric.fn(task.read_label(output), gold)
        else:
            scores[name] = metric.fn(without_citations(output), gold)
    return scores


GROUNDING_METRICS = ("groundedness", "unsupported_claim_rate")   # also compared between systems, item by item


def _grounding_scores(verification: Any) -> dict[str, float]:
    """Groundedness and unsupported-claim rate of a verified answer, how many of its claims the model cited
    itself (the rest were attributed by the verifier or stay unsupported) and, of those, how many its own citation
    backs (the verifier corrects the others to the passage that backs them). An answer that makes no claim (empty,
    a question, a copied '[n]') gets none: scoring it 1.0 would reward saying nothing."""
    if not verification.claims:
        return {}
    scores = {"groundedness": verification.groundedness, "unsupported_claim_rate": verification.unsupported_rate,
              "model_cited_rate": verification.model_cited}
    precision = verification.model_citation_precision
    return scores if precision is None else {**scores, "model_citation_precision": precision}


def _retrieval_scores(task: Task, item: dict, ranked: list[str], k: int) -> dict[str, float]:
    gold_evidence = item.get(task.spec.evidence_field or "", []) or []
    if not gold_evidence or not ranked:
        return {}
    return {"hit_at_k": METRICS.get("hit_at_k").fn(ranked, gold_evidence, k=k),
            "mrr": METRICS.get("mrr").fn(ranked, gold_evidence, k=k)}


def _choose(task: Task, scorer: Scorer, messages: list[dict[str, str]], lang: str) -> tuple[str, str, dict]:
    """multiple_choice: (label by summed log-likelihood, label by log-likelihood per character, the scores)."""
    continuations = task.continuations(lang)
    scores = dict(zip(continuations, scorer.loglikelihoods(messages, list(continuations.values())), strict=True))
    raw = max(scores, key=lambda label: scores[label][0])
    normalized = max(scores, key=lambda label: scores[label][0] / scores[label][1])
    return raw, normalized, {label: round(total, 4) for label, (total, _) in scores.items()}


class SharedRetrieval:
    """One search per index, question and settings across a run's systems: base's and lora's answers are checked
    against the evidence lora+rag retrieves for the same question, so every grounded item was searched three times
    (about 7 s of query encoding per 120 answers on CPU). Each caller gets its own copies of the hits."""

    def __init__(self) -> None:
        self._found: dict[tuple, tuple[list[Any], bool]] = {}
        self.searches = 0

    def of(self, retriever: Any) -> Any:
        """`retriever` (a `retrieval.RETRIEVERS` function) answering repeated searches from this run's memory."""
        def shared(index: Any, question: str, k: int = 4, filters: dict[str, str] | None = None,
                   abstain_below: dict[str, float] | None = None) -> tuple[list[Any], bool]:
            key = (id(index), retriever, question, k, _frozen(filters), _frozen(abstain_below))
            if key not in self._found:
                self.searches += 1
                self._found[key] = retriever(index, question, k=k, filters=filters, abstain_below=abstain_below)
            hits, weak = self._found[key]
            return [replace(hit, metadata=dict(hit.metadata)) for hit in hits], weak
        return shared


def _frozen(mapping: Any) -> tuple | None:
    return None if mapping is None else tuple(sorted(mapping.items()))


def _prepare(task: Task, item: dict, system: str, local: LocalSystem, pool: Sequence[dict], seed: int,
             retriever: Any) -> Any:
    """The item through the grounded-answer path's `prepare`: the question itself with retrieval (the task's
    evidence prompt), the task's prompt without."""
    text = item[task.spec.input_field]
    lang = item.get("lang") or detect_language(text)
    rag = system == "lora+rag"
    return local.answerer.prepare(text if rag else task.prompt(item, lang), lang=lang,
                                  history=task.shots(item, pool, seed), rag=rag, prompt=task.evidence_prompt(),
                                  retriever=retriever)


PADDING_SPREAD = 1.5   # a batch's longest prompt at most this many times its shortest


def _generate(local: LocalSystem, answers: list[Any], max_new_tokens: int, batch_size: int) -> None:
    """Every answer that needs generating, in padded batches of similar prompt length (faster; greedy decoding
    gives each the same tokens as alone)."""
    pending = sorted((a for a in answers if not a.done), key=lambda a: a.prompt_tokens)
    for batch in length_batches(pending, batch_size):
        local.answerer.generate(batch, max_new_tokens=max_new_tokens)


def length_batches(pending: list[Any], batch_size: int, spread: float = PADDING_SPREAD) -> list[list[Any]]:
    """Answers sorted by prompt length, cut into batches of at most `batch_size` whose longest prompt is at most
    `spread` times the shortest: every prompt is left-padded to the longest, and a Chinese evidence prompt is about
    twice an English one for SmolLM2's tokenizer (medical QA, 20 items in one batch: 24,560 tokens through the
    model, 153 s; cut at the languages: 17,910, 102 s; 2 threads)."""
    batches: list[list[Any]] = []
    for answer in pending:
        batch = batches[-1] if batches else None
        if batch is None or len(batch) == batch_size or answer.prompt_tokens > spread * max(batch[0].prompt_tokens, 1):
            batches.append([answer])
        else:
            batch.append(answer)
    return batches


def _verify_without_rag(task: Task, item: dict, answer: Any, local: LocalSystem, retriever: Any) -> Any:
    """An answer given without evidence, checked against the evidence lora+rag retrieves for the same question
    (with attribution, as the answer path would cite it): how much of what the model says the knowledge base backs,
    comparable across systems. None when the task attributes nothing or no index is known for its domain."""
    if local.evidence is None or not task.spec.attribute or not answer.text.strip():
        return None
    hits, weak = retriever(local.evidence, item[task.spec.input_field], k=local.answerer.settings.k,
                                  filters={"lang": answer.lang}, abstain_below=local.answerer.settings.abstain_below)
    if weak or not hits:
        return None
    return local.answerer.verifier.check(answer.text, [hit.text for hit in hits], attribute=True,
                                         ids=[hit.doc_id for hit in hits])


def _run_local(task: Task, items: Sequence[dict], system: str, local: LocalSystem, leak_detector: Any, k: int,
               pool: Sequence[dict], seed: int, batch_size: int, retriever: Any) -> list[dict[str, Any]]:
    rag = system == "lora+rag"
    answers = [_prepare(task, item, system, local, pool, seed, retriever) for item in items]
    if task.spec.output != "multiple_choice":
        limit = min(task.spec.max_new_tokens, local.answerer.settings.max_new_tokens)
        _generate(local, answers, limit, batch_size)
    rows = []
    for item, answer in zip(items, answers, strict=True):
        record: dict[str, Any] = {"id": item.get("id"), "lang": answer.lang, "system": system}
        scores: dict[str, float] = {}
        if rag:
            record["evidence"] = [h.doc_id for h in answer.hits]
            scores.update(_retrieval_scores(task, item, record["evidence"], k))
            scores["abstained"] = float(answer.abstained)
        if task.spec.output == "multiple_choice":
            output = _multiple_choice(task, item, answer, local, record, scores)
        else:
            output = answer.text
            verification = answer.verification if rag else _verify_without_rag(task, item, answer, local, retriever)
            if verification is not None:
                scores.update(_grounding_scores(verification))
            _score_text(task, item, output, record, scores, [h.doc_id for h in answer.hits])
        shown = answer.messages or [{"role": "user", "content": answer.question}]
        rows.append(_finish(task, item, shown, output, record, scores, leak_detector))
    return rows


def _score_text(task: Task, item: dict, output: str, record: dict, scores: dict,
                evidence_ids: Sequence[str] = ()) -> None:
    """A generated answer's task metrics, its repetition measures (a looping model shows there whatever the
    task), and the label read from it for label tasks."""
    scores.update(_item_scores(task, item, output, evidence_ids))
    scores.update({name: METRICS.get(name).fn(output, "") for name in REPETITION_METRICS})
    if task.spec.output == "label":
        record["predicted_label"] = task.read_label(output)


def _finish(task: Task, item: dict, messages: list[dict[str, str]], output: str, record: dict, scores: dict,
            leak_detector: Any) -> dict[str, Any]:
    """The sample row: leak check of the output, the prompt as shown, the gold and every score."""
    scores["pii_leak"] = float(bool(_leaks(output, leak_detector)))
    record.update(prompt=_render(messages), output=output, gold=item[task.spec.gold_field], scores=scores)
    return record


def _multiple_choice(task: Task, item: dict, answer: Any, local: LocalSystem, record: dict, scores: dict) -> str:
    """Scores the choices by log-likelihood after the prepared chat; an abstention chooses nothing (wrong)."""
    gold = item[task.spec.gold_field]
    if answer.abstained:
        record["predicted_label"], record["choice_loglik"] = "", {}
        scores.update(mc_accuracy=0.0, mc_accuracy_norm=0.0)
        return answer.text
    raw, normalized, record["choice_loglik"] = _choose(task, local.scorer, answer.messages, answer.lang)
    record["predicted_label"] = raw
    scores.update(mc_accuracy=float(raw == gold), mc_accuracy_norm=float(normalized == gold))
    return task.continuations(answer.lang)[raw]


def _run_api(task: Task, items: Sequence[dict], generate: ApiGenerator, leak_detector: Any, k: int,
             pool: Sequence[dict], seed: int) -> list[dict[str, Any]]:
    if task.spec.output == "multiple_choice":
        raise VerituneError("multiple-choice tasks are scored by log-likelihood, which a chat endpoint does not "
                            "expose: evaluate them on a local model", field="systems")
    rows = []
    for item in items:
        text = item[task.spec.input_field]
        lang = item.get("lang") or detect_language(text)
        messages = task.shots(item, pool, seed) + [{"role": "user", "content": task.prompt(item, lang)}]
        answer = generate(messages, task.spec.max_new_tokens)
        record: dict[str, Any] = {"id": item.get("id"), "lang": lang, "system": "api"}
        scores: dict[str, float] = {}
        if answer.citations:  # an endpoint that retrieved on its own: score its evidence too
            record["evidence"] = answer.citations
            scores.update(_retrieval_scores(task, item, answer.citations, k))
        _score_text(task, item, answer.text, record, scores)
        rows.append(_finish(task, item, messages, answer.text, record, scores, leak_detector))
    return rows


def _render(messages: list[dict[str, str]]) -> str:
    """The prompt as stored in samples.jsonl: few-shot turns shown before the question."""
    if len(messages) == 1:
        return messages[0]["content"]
    return "\n\n".join(f"[{m['role']}] {m['content']}" for m in messages)


def _leaks(text: str, detector: Any) -> list:
    from desensitize import scan_text

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
        summary.setdefault("by_language", {})[system] = _by_language(task, rows)
    for later, earlier in (("lora", "base"), ("lora+rag", "lora"), ("lora+rag", "base"), ("api", "lora+rag")):
        if later in per_system and earlier in per_system:
            pair = {}
            names = [n for n in task.spec.metrics if METRICS.get(n).kind != "corpus"] + list(GROUNDING_METRICS)
            for name in names:
                both = [(x["scores"][name], y["scores"][name]) for x, y in
                        zip(per_system[later], per_system[earlier], strict=True)
                        if name in x["scores"] and name in y["scores"]]
                if both:    # grounding: the items both systems answered with claims to check
                    pair[name] = paired_difference(*zip(*both, strict=True), seed=seed).to_json()
            summary["paired"][f"{later} - {earlier}"] = pair
    return summary


def _by_language(task: Task, rows: list[dict]) -> dict[str, dict[str, Any]]:
    """Item-level task metrics per language (mean and item count): a model that knows one language well and the
    other not at all shows as such instead of as one average."""
    out: dict[str, dict[str, Any]] = {}
    for lang in sorted({r["lang"] for r in rows}):
        chosen = [r for r in rows if r["lang"] == lang]
        means = {name: round(sum(r["scores"][name] for r in chosen) / len(chosen), 4) for name in task.spec.metrics
                 if METRICS.get(name).kind == "item" and all(name in r["scores"] for r in chosen)}
        out[lang] = {"items": len(chosen), **means}
    return out


def eval_progress() -> Any:
    """A bar over every answer the run will produce (items x systems, all tasks) with the time left: the demo's
    eval is minutes of batched generation that otherwise shows one log line per task and system."""
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    from veritune.logs import STDERR

    return Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                    TimeRemainingColumn(), console=STDERR, transient=True)   # below the log lines


def run_eval(config: EvalConfig, out: str | Path, progress: Any = None,
             retrieval: SharedRetrieval | None = None) -> Path:
    """Every task on every system; `progress` (a rich Progress, `eval_progress()` by default) counts the answers,
    `retrieval` (a fresh `SharedRetrieval` by default) searches each question once for all systems."""
    tasks = [get_task(name) for name in config.tasks]
    with progress or eval_progress() as bar:
        return _run_eval(config, out, tasks, bar, retrieval or SharedRetrieval())


def _run_eval(config: EvalConfig, out: str | Path, tasks: list[Task], bar: Any, retrieval: SharedRetrieval) -> Path:
    from retrieval import GroundingVerifier, load_embedder

    torch.manual_seed(config.seed)
    privacy = {domain: _privacy(domain) for domain in dict.fromkeys(t.spec.domain for t in tasks)}
    verifier = GroundingVerifier(embed=load_embedder("minilm").passages)
    results: dict[str, Any] = {"tasks": {}}
    samples: list[dict] = []
    systems: dict[str, Any] = {}   # "adapter|index" or "api:model" -> LocalSystem / ApiGenerator
    loaded: dict[str | None, tuple[Any, Any]] = {}
    indexes: dict[str, Any] = {}     # index path -> RetrievalIndex, shared by the systems of a domain
    items_of = {task.spec.name: task.items(config.limit) for task in tasks}
    answers = bar.add_task("eval", total=sum(map(len, items_of.values())) * len(config.systems))
    for task in tasks:
        items = items_of[task.spec.name]
        leak_detector = privacy[task.spec.domain][0]
        per_system: dict[str, list[dict]] = {}
        for system in config.systems:
            log.info("%s: %s on %d items", task.spec.name, system, len(items))
            bar.update(answers, description=f"eval {task.spec.name}: {system}")
            if system == "api":
                api = _api_generator(config, task.spec.domain, systems)
                per_system[system] = _run_api(task, items, api, leak_detector, config.answer.k, task.items(),
                                              config.seed)
            else:
                local = _local_system(config, system, task.spec.domain, loaded, systems, verifier, indexes)
                per_system[system] = _run_local(task, items, system, local, leak_detector, config.answer.k,
                                                task.items(), config.seed, config.batch_size,
                                                retrieval.of(task.retriever()))
            samples += [{"task": task.spec.name, **r} for r in per_system[system]]
            bar.update(answers, advance=len(items))
        results["tasks"][task.spec.name] = {"version": task.spec.version, "dataset": str(task.dataset),
                                            "dataset_sha256": sha256_file(task.dataset), "items": len(items),
                                            **summarize(task, per_system, config.seed)}
    results["speed"] = _speed(systems)
    total_tokens = sum(g.tokens for g in systems.values())
    total_seconds = sum(g.seconds for g in systems.values())
    results["cost"] = {"gpu_hour_price": config.gpu_hour_price, "device": "cuda" if torch.cuda.is_available() else
                       "cpu", "precision": "bf16" if inference_dtype(config.answer.bf16) == torch.bfloat16 else "fp32",
                       "cost_per_1k_tokens": round(config.gpu_hour_price * total_seconds / 3600 /
                                                          max(total_tokens, 1) * 1000, 6)}
    by_task = {t.spec.name: privacy[t.spec.domain][1] for t in tasks}
    samples = [row for name, scrubber in by_task.items()
               for row in _scrub([s for s in samples if s["task"] == name], scrubber)]
    with open_run(out, kind="eval", config=config.model_dump(), seed=config.seed,
                  inputs=[t.dataset for t in tasks]) as run:
        (run.path / "results.json").write_text(json.dumps(results, indent=2, ensure_ascii=False) + "\n")
        (run.path / "samples.jsonl").write_text("".join(json.dumps(s, ensure_ascii=False) + "\n" for s in samples),
                                                encoding="utf-8")
        from eval.report import render_charts, render_report

        (run.path / "report.md").write_text(render_report(results), encoding="utf-8")
        render_charts(results, run.path)
        run.stats.update(tasks=list(results["tasks"]), systems=config.systems)
    return Path(out)


def _speed(systems: dict[str, Any]) -> dict[str, Any]:
    """Generated tokens and generation (and scoring) time per model: systems sharing an adapter add up."""
    totals: dict[str, list[float]] = {}
    for name, system in systems.items():
        key = name.split("|")[0] or "base"
        totals.setdefault(key, [0, 0.0])
        totals[key][0] += system.tokens
        totals[key][1] += system.seconds
    return {name: {"tokens": int(tokens), "seconds": round(seconds, 2),
                   "tokens_per_second": round(tokens / seconds, 1) if seconds else None}
            for name, (tokens, seconds) in totals.items()}


def _local_system(config: EvalConfig, system: str, domain: str | None, loaded: dict, systems: dict,
                  verifier: Any, indexes: dict) -> LocalSystem:
    """The model (+ adapter, loaded once) answering through the grounded-answer path, with the domain's index
    for lora+rag."""
    from retrieval import GroundedAnswerer, RetrievalIndex

    adapter = config.adapters.get(domain or "") if system != "base" else None
    if system != "base" and not adapter:
        raise VerituneError(f"system {system} needs an adapter for domain {domain!r} (--adapter {domain}=RUN)",
                            field="adapter")
    path = config.indexes.get(domain or "") if system == "lora+rag" else None
    if system == "lora+rag" and not path:
        raise VerituneError(f"system lora+rag needs an index for domain {domain!r} (--index {domain}=INDEX)",
                            field="index")
    if adapter not in loaded:
        loaded[adapter] = load_for_inference(config.model, adapter, dtype=inference_dtype(config.answer.bf16),
                                             allow_unfinished=config.allow_unfinished)
    evidence = config.indexes.get(domain or "")
    # keyed by the evidence index too: base (no adapter, no retrieval) answers every domain's tasks, and each
    # domain's answers are checked against that domain's index, not the first domain's
    name = f"{adapter or ''}|{path or ''}|{evidence or ''}"
    if name not in systems:
        model, tokenizer = loaded[adapter]
        if evidence and evidence not in indexes:
            indexes[evidence] = RetrievalIndex.load(evidence)
        index = indexes[evidence] if evidence else None
        systems[name] = LocalSystem(GroundedAnswerer(model, tokenizer, index if path else None, config.answer,
                                                     verifier), Scorer(model, tokenizer), index)
    return systems[name]


def _api_generator(config: EvalConfig, domain: str | None, systems: dict) -> ApiGenerator:
    import os

    model = config.api_models.get(domain or "")
    if not config.endpoint or not model:
        raise VerituneError(f"system api needs --endpoint URL and --api-model {domain}=MODEL_ID", field="endpoint")
    key = os.environ.get(config.api_key_env)
    if not key:
        raise VerituneError(f"system api reads its key from ${config.api_key_env}, which is not set", field="endpoint")
    name = f"api:{model}"
    if name not in systems:
        systems[name] = ApiGenerator(config.endpoint, key, model)
    return systems[name]


def _privacy(domain: str | None) -> tuple[Any, Any]:
    """The leak detector and the report scrubber of a task's domain: the strict threshold, every entity type, and
    the pack's allowed vocabulary (its KB titles and allow list), so that a clinical term or a jurisdiction the
    desensitize stage leaves alone ('Wells score', '美国') is neither counted as a leak nor masked in the report."""
    from desensitize import (
        STRICT_THRESHOLD,
        DesensitizeConfig,
        Detector,
        DetectorSettings,
        RecordDesensitizer,
        detector_settings,
    )

    allow = detector_settings(DesensitizeConfig(domain=domain)).allow_list if domain else ()
    detector = Detector(DetectorSettings(threshold=STRICT_THRESHOLD, allow_list=list(allow)))
    return detector, RecordDesensitizer(DesensitizeConfig(), detector=detector)


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
