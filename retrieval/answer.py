"""The grounded answer, in one place: retrieve → abstain on weak evidence → prompt → generate (streamed or in
batches) → verify → count tokens and time. The apps, the API (its `+rag` models and its plain ones) and the eval
all answer through `GroundedAnswerer`, so what the eval measures is what the apps serve.

The default prompt is the format the packs' SFT data teaches (`qa_rag` examples), so a fine-tuned model copies from
the evidence and cites it; a task or an app with its own taught format passes its own `EvidencePrompt`.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from desensitize import detect_language
from retrieval.chunking import split_sentences
from retrieval.config import AnswerSettings
from retrieval.generation import (
    AnswerConstraints,
    GenerationStats,
    chat_ids,
    cut_at_stop,
    generate_batch,
    stream_generate,
)
from veritune.registry import Registry

if TYPE_CHECKING:
    import threading

    from retrieval.index import Hit, RetrievalIndex
    from retrieval.verifier import Verification

ABSTAIN = {"en": "Not enough evidence in the knowledge base to answer this.",
           "zh": "知识库中没有足够的证据回答这个问题。"}

PromptBuilder = Callable[[str, "Sequence[Hit]", str], str]      # (question, hits, lang) -> the user turn
Retriever = Callable[..., "tuple[list[Hit], bool]"]             # (index, question, k, filters, abstain_below)


class EvidencePrompt:
    """A prompt that lists numbered evidence before the question: a template per language with {evidence} and
    {input}, and how each passage is written ({n}, {doc_id}, {text} and any metadata field of the passage)."""

    def __init__(self, templates: Mapping[str, str], evidence_line: str = "[{n}] ({doc_id}) {text}",
                 attribute: bool = True, answer_prefix: Mapping[str, str] | None = None,
                 listed_ids_only: bool = False) -> None:
        self.templates, self.evidence_line = dict(templates), evidence_line
        # False where the answer's citations are verdicts (a compliance finding cites the rule it says is broken):
        # a citation added there would be a verdict the model never gave
        self.attribute = attribute
        # The answer's first words in the taught format, per language, written for the model (a prefilled
        # assistant turn): a model that would otherwise restate the prompt's instruction starts where its SFT
        # answers start. Measured on the finance adapter (140 compliance checks): instruction echoes 14 -> 0.
        self.answer_prefix = dict(answer_prefix or {})
        # True where an id the answer writes is a verdict on that passage (a breached rule): decoding completes
        # any id the model starts to one of the listed passages' (retrieval.listed_ids)
        self.listed_ids_only = listed_ids_only
        parts = re.split(r"(\{[a-z_]+\})", evidence_line.split("{text}")[0])
        pattern = "".join(r"\d+" if p == "{n}" else ".+?" if p.startswith("{") else re.escape(p) for p in parts)
        self._echo = re.compile(pattern) if pattern.strip() else None

    def echoes(self, line: str) -> bool:
        """Whether an answer line restates a passage as the prompt listed it ('[2] (FIN-X, high) ...'): a model
        copying its prompt, not citing; readers of verdicts skip such lines."""
        return self._echo is not None and self._echo.search(line) is not None

    def __call__(self, question: str, hits: Sequence[Hit], lang: str) -> str:
        evidence = "\n".join(self.evidence_line.format(**{**hit.metadata, "n": n, "doc_id": hit.doc_id,
                                                          "text": hit.text})
                             for n, hit in enumerate(hits, start=1))
        template = self.templates.get(lang, next(iter(self.templates.values())))
        return template.format(evidence=evidence, input=question)

    def prefix(self, lang: str) -> str:
        """The answer's prefilled start in `lang` ('' for none)."""
        return self.answer_prefix.get(lang, "")


GROUNDED_QA = EvidencePrompt({
    "en": "Evidence:\n{evidence}\n\nQuestion: {input}\nAnswer using the evidence and cite it as [n].",
    "zh": "证据：\n{evidence}\n\n问题：{input}\n请依据证据回答，并以[n]标注引用。"})


def build_prompt(question: str, hits: Sequence[Hit], lang: str) -> str:
    """The grounded QA prompt (`GROUNDED_QA`)."""
    return GROUNDED_QA(question, hits, lang)


RETRIEVERS: Registry[Retriever] = Registry("retriever")
MAX_PER_SENTENCE = 8
# Passages searched for each sentence the finding scorer calls a finding: a breach's own rule is often second to a
# rule on its topic ("We guarantee a 15 % annual return with no risk" finds a disclosure rule on projected returns
# first, the guaranteed-returns rule second), and without the document's top-k nothing else would bring it in.
PER_FINDING = 2


@RETRIEVERS.register("question")
def retrieve(index: RetrievalIndex, question: str, k: int = 4, filters: dict[str, str] | None = None,
             abstain_below: Mapping[str, float] | None = None) -> tuple[list[Hit], bool]:
    """Hits, and whether the evidence is too weak to answer from (best dense cosine under the threshold: the
    index's own per language unless `abstain_below` overrides it)."""
    lang = (filters or {}).get("lang") or detect_language(question)
    hits = index.search(question, k=k, filters=filters)
    thresholds = abstain_below if abstain_below is not None else index.settings.abstain_below
    threshold = thresholds.get(lang, 0.3)
    return hits, not hits or index.best_dense_score(question, filters) < threshold


@RETRIEVERS.register("per_sentence")
def retrieve_per_sentence(index: RetrievalIndex, document: str, k: int = 4, filters: dict[str, str] | None = None,
                          abstain_below: Mapping[str, float] | None = None) -> tuple[list[Hit], bool]:
    """For a document checked against rules: the best passage for each sentence (annotated with that sentence as
    `matched_sentence`), then the document's own top-k, deduplicated, at most MAX_PER_SENTENCE; weak only when
    every search was. A whole-document search misses the rule one sentence of many breaks.

    With a finding scorer for the language (`RetrievalIndex.learn_findings`), only the sentences it calls findings
    search, likeliest first, PER_FINDING passages each, annotated with the sentence's `finding_score`, and the
    document's own top-k is the fallback when it calls none: a compliant sentence, or a whole-document search,
    would bring in rules on the document's topics beside the breached one, and the model picks among them little
    better than chance. Measured on the finance pack's 140 generated checks (a smoke test; the demo's adapter at
    1cc8352): candidates 5.8 -> 3.7, set recall 0.34 -> 0.46, precision 0.15 -> 0.30, held-out rules 0.08 -> 0.29."""
    hits: dict[str, Hit] = {}
    weak_everywhere = True
    lang = (filters or {}).get("lang") or detect_language(document)
    sentences, scored = _finding_order(index, split_sentences(document)[:MAX_PER_SENTENCE], lang)
    for sentence, score in sentences:
        found, weak = retrieve(index, sentence, k=1 if score is None else PER_FINDING, filters=filters,
                               abstain_below=abstain_below)
        weak_everywhere &= weak
        for hit in found if not weak else []:
            if hit.doc_id not in hits:
                hit.metadata["matched_sentence"] = sentence  # a fresh Hit per search: safe to annotate
                if score is not None:
                    hit.metadata["finding_score"] = round(score, 4)
                hits[hit.doc_id] = hit
    if not scored or not hits:
        whole, weak = retrieve(index, document, k=k, filters=filters, abstain_below=abstain_below)
        weak_everywhere &= weak
        for hit in whole:
            hits.setdefault(hit.doc_id, hit)
    return list(hits.values())[:MAX_PER_SENTENCE], weak_everywhere


def _finding_order(index: RetrievalIndex, sentences: list[str],
                   lang: str) -> tuple[list[tuple[str, float | None]], bool]:
    """The sentences to search with their finding scores, and whether a scorer chose them: all, in document order,
    without one; else those it calls findings, likeliest first."""
    scores = index.finding_scores(sentences, lang)
    if scores is None:
        return [(sentence, None) for sentence in sentences], False
    order = sorted(range(len(sentences)), key=lambda i: -scores[i])
    return [(sentences[i], float(scores[i])) for i in order if scores[i] >= index.findings.threshold], True


@dataclass
class GroundedAnswer:
    """One answer as it grows: prepared (evidence, chat, prompt size), then generated, then verified."""

    question: str
    lang: str
    hits: list[Hit] = field(default_factory=list)
    messages: list[dict[str, str]] = field(default_factory=list)   # the chat the model sees
    prompt_ids: list[int] = field(default_factory=list, repr=False)  # its token ids (counted once, at prepare)
    abstained: bool = False
    text: str = ""
    done: bool = False
    verification: Verification | None = None
    attribute: bool = True             # add citations the model left out (settings and prompt both allow it)
    prefix: str = ""                   # the answer's start, written for the model (the prompt's answer_prefix)
    listed_ids: list[str] = field(default_factory=list)   # the only ids the answer may write out (empty: free)
    prompt_tokens: int = 0
    completion_tokens: int = 0
    first_token_seconds: float | None = None
    seconds: float = 0.0               # compute time charged to this answer (its share of a batch)
    batch_size: int = 1                # answers generated in the same call as this one
    started: float = field(default_factory=time.perf_counter, repr=False)

    @property
    def constraints(self) -> AnswerConstraints:
        """What generation holds this answer to: its prefix and listed ids, as one record."""
        return AnswerConstraints(self.prefix, tuple(self.listed_ids))

    @property
    def groundedness(self) -> float | None:
        """Share of the answer's claims its evidence supports; None when it was not checked or made no claim."""
        if self.verification is None or not self.verification.claims:
            return None
        return self.verification.groundedness


class GroundedAnswerer:
    """Answers questions with one model, optionally from one index; every collaborator can be injected.

    `prepare` then `stream` or `generate`: a caller that meters answers (the API) reserves quota in between, when
    the prompt's size is known. `answer` does both."""

    def __init__(self, model: Any, tokenizer: Any, index: RetrievalIndex | None = None,
                 settings: AnswerSettings | None = None, verifier: Any = None,
                 prompt: PromptBuilder = build_prompt, retriever: Retriever = retrieve) -> None:
        self.model, self.tokenizer, self.index = model, tokenizer, index
        self.settings = settings or AnswerSettings()
        self._verifier, self.prompt, self.retriever = verifier, prompt, retriever
        self.tokens = 0        # generated by this answerer, for throughput and cost figures
        self.seconds = 0.0

    @property
    def verifier(self) -> Any:
        if self._verifier is None:
            from retrieval.embedders import load_embedder
            from retrieval.verifier import GroundingVerifier

            self._verifier = GroundingVerifier(embed=load_embedder("minilm").passages)
        return self._verifier

    def prepare(self, question: str, *, lang: str | None = None, history: Sequence[dict[str, str]] = (),
                rag: bool = True, k: int | None = None, filters: dict[str, str] | None = None,
                prompt: PromptBuilder | None = None, retriever: Retriever | None = None,
                answer: GroundedAnswer | None = None) -> GroundedAnswer:
        """Retrieve (with `rag` and an index), abstain when the evidence is weak, and build the chat: `history`
        (earlier turns or solved examples) then the question, as the evidence prompt when there is evidence.
        `answer` is a record to fill (a subclass carrying the caller's own fields); filters default to the
        question's language."""
        answer = answer if answer is not None else GroundedAnswer(question, lang or detect_language(question))
        content = question
        if rag and self.index is not None:
            answer.hits, weak = (retriever or self.retriever)(self.index, question, k=k or self.settings.k,
                                               filters=filters if filters is not None else {"lang": answer.lang},
                                               abstain_below=self.settings.abstain_below)
            if weak:
                answer.text, answer.abstained, answer.done = ABSTAIN.get(answer.lang, ABSTAIN["en"]), True, True
                answer.seconds = time.perf_counter() - answer.started
                return answer
            builder = prompt or self.prompt
            content = builder(question, answer.hits, answer.lang)
            answer.attribute = self.settings.attribute and getattr(builder, "attribute", True)
            answer.prefix = builder.prefix(answer.lang) if hasattr(builder, "prefix") else ""
            if getattr(builder, "listed_ids_only", False):
                answer.listed_ids = [hit.doc_id for hit in answer.hits]
        answer.messages = [*history, {"role": "user", "content": content}]
        if answer.prefix:   # the model continues this assistant turn: its text and tokens are the answer's start
            answer.messages.append({"role": "assistant", "content": answer.prefix})
            answer.text = answer.prefix
        answer.prompt_ids = chat_ids(self.tokenizer, answer.messages)
        answer.prompt_tokens = len(answer.prompt_ids)
        return answer

    def stream(self, answer: GroundedAnswer, *, max_new_tokens: int | None = None, min_new_tokens: int = 0,
               cancel: threading.Event | None = None) -> Iterator[GroundedAnswer]:
        """The same answer after each streamed piece, then verified; setting `cancel` ends generation within one
        decode step, and the answer then counts every token generated."""
        if answer.done:                                   # abstained: nothing to generate
            yield answer
            return
        stats = GenerationStats()
        pieces = stream_generate(self.model, self.tokenizer, answer.messages, self.settings,
                                 max_new_tokens=max_new_tokens, min_new_tokens=min_new_tokens, cancel=cancel,
                                 stats=stats, constraints=answer.constraints)
        try:
            for piece in pieces:
                answer.text += piece
                answer.completion_tokens, answer.prompt_tokens = stats.completion_tokens, stats.prompt_tokens
                answer.first_token_seconds = stats.first_token_seconds
                answer.seconds = time.perf_counter() - answer.started
                yield answer
        finally:
            # also when the caller closed this stream (Stop): closing `pieces` halts generation and waits for it,
            # so the answer then counts every token the model produced, which is what a meter bills
            pieces.close()
            answer.prompt_tokens, answer.completion_tokens = stats.prompt_tokens, stats.completion_tokens
            answer.seconds = time.perf_counter() - answer.started
            self.tokens += stats.completion_tokens
            self.seconds += answer.seconds
        answer.text = cut_at_stop(answer.text, self.settings.stop).strip()
        self.verify(answer)
        answer.seconds, answer.done = time.perf_counter() - answer.started, True
        yield answer

    def generate(self, answers: Sequence[GroundedAnswer], *, max_new_tokens: int | Sequence[int] | None = None,
                 min_new_tokens: int = 0) -> list[GroundedAnswer]:
        """The prepared answers finished in one left-padded generate call (abstained ones are left as they are);
        each is charged its share of the batch's compute. `max_new_tokens`: one limit, or one per answer."""
        if isinstance(max_new_tokens, Sequence):
            max_new_tokens = [n for a, n in zip(answers, max_new_tokens, strict=True) if not a.done]
        pending = [a for a in answers if not a.done]
        if pending:
            rows = generate_batch(self.model, self.tokenizer, [a.prompt_ids for a in pending],
                                  self.settings, max_new_tokens=max_new_tokens, min_new_tokens=min_new_tokens,
                                  constraints=[a.constraints for a in pending])
            self.tokens += sum(row.completion_tokens for row in rows)
            self.seconds += rows[0].seconds
            for answer, row in zip(pending, rows, strict=True):
                answer.text, answer.prompt_tokens, answer.completion_tokens = row.text, row.prompt_tokens, \
                    row.completion_tokens
                answer.seconds, answer.batch_size = row.seconds / row.batch_size, row.batch_size
                self.verify(answer)
                answer.done = True
        return list(answers)

    def verify(self, answer: GroundedAnswer) -> None:
        """Check an answer written from evidence against that evidence (nothing to check otherwise); when the
        settings and the prompt allow attribution, the answer's text then carries the citations it added."""
        if answer.hits and not answer.abstained:
            answer.verification = self.verifier.check(answer.text, [hit.text for hit in answer.hits],
                                                      attribute=answer.attribute,
                                                      ids=[hit.doc_id for hit in answer.hits])
            answer.text = answer.verification.text

    def answer(self, question: str, **options: Any) -> GroundedAnswer:
        """Prepared and generated (options: those of `prepare`)."""
        return self.generate([self.prepare(question, **options)])[0]
