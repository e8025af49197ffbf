"""Grounded answering: numbered evidence in the prompt, streamed generation that cites [n], the verifier's
verdict, and abstention when retrieval finds nothing close enough.

The prompt is the format the packs' SFT data teaches (`qa_rag` examples), so a fine-tuned model copies from the
evidence and cites it.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from desensitize.lang import detect_language
from retrieval.index import Hit, RetrievalIndex
from retrieval.verifier import GroundingVerifier, Verification

PROMPTS = {"en": "Evidence:\n{evidence}\n\nQuestion: {question}\nAnswer using the evidence and cite it as [n].",
           "zh": "证据：\n{evidence}\n\n问题：{question}\n请依据证据回答，并以[n]标注引用。"}
ABSTAIN = {"en": "Not enough evidence in the knowledge base to answer this.",
           "zh": "知识库中没有足够的证据回答这个问题。"}


@dataclass
class GroundedAnswer:
    question: str
    lang: str
    hits: list[Hit]
    text: str = ""
    abstained: bool = False
    verification: Verification | None = None
    prompt_tokens: int = 0
    completion_tokens: int = 0
    seconds: float = 0.0
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def groundedness(self) -> float:
        return 0.0 if self.verification is None else self.verification.groundedness


def build_prompt(question: str, hits: Sequence[Hit], lang: str) -> str:
    evidence = "\n".join(f"[{n}] ({hit.doc_id}) {hit.text}" for n, hit in enumerate(hits, start=1))
    return PROMPTS.get(lang, PROMPTS["en"]).format(evidence=evidence, question=question)


def retrieve(index: RetrievalIndex, question: str, k: int = 4, filters: dict[str, str] | None = None
             ) -> tuple[list[Hit], bool]:
    """Hits, and whether the evidence is too weak to answer from (best dense cosine under the threshold)."""
    lang = (filters or {}).get("lang") or detect_language(question)
    hits = index.search(question, k=k, filters=filters)
    threshold = index.settings.abstain_below.get(lang, 0.3)
    return hits, not hits or index.best_dense_score(question, filters) < threshold


class GenerationStats:
    """Filled in by `stream_generate`: exact prompt and generated token counts, and time to the first token."""

    def __init__(self) -> None:
        self.prompt_tokens = 0
        self.completion_tokens = 0
        self.first_token_seconds: float | None = None


def stream_generate(model: Any, tokenizer: Any, prompt: str | list[dict[str, str]], max_new_tokens: int = 128,
                    use_cache: bool = True, stop: threading.Event | None = None, min_new_tokens: int = 0,
                    stats: GenerationStats | None = None, repetition_penalty: float = 1.0) -> Iterator[str]:
    """Yield text pieces as the model writes them (TextIteratorStreamer on a generation thread).

    `prompt` is one user turn or a whole chat; `stop` ends generation early; `stats` receives exact token counts
    (the ids the model produced, the end-of-turn token included, as OpenAI's usage counts them)."""
    from transformers import StoppingCriteria, StoppingCriteriaList, TextIteratorStreamer

    stats = stats if stats is not None else GenerationStats()
    stop = stop if stop is not None else threading.Event()
    started = time.perf_counter()

    class _Stop(StoppingCriteria):
        def __call__(self, input_ids, scores, **kwargs) -> bool:  # noqa: ANN001, ANN003
            return stop.is_set()

    class _CountingStreamer(TextIteratorStreamer):
        def put(self, value) -> None:  # noqa: ANN001 - a tensor of new ids
            if not self.next_tokens_are_prompt:
                stats.completion_tokens += int(value.numel())
                if stats.first_token_seconds is None:
                    stats.first_token_seconds = time.perf_counter() - started
            super().put(value)

    messages = [{"role": "user", "content": prompt}] if isinstance(prompt, str) else prompt
    inputs = tokenizer.apply_chat_template(messages, add_generation_prompt=True, return_tensors="pt",
                                           return_dict=True)
    stats.prompt_tokens = int(inputs["input_ids"].shape[1])
    streamer = _CountingStreamer(tokenizer, skip_prompt=True, skip_special_tokens=True, timeout=120)
    kwargs = dict(**inputs, streamer=streamer, max_new_tokens=max_new_tokens, min_new_tokens=min_new_tokens,
                  do_sample=False, use_cache=use_cache, pad_token_id=tokenizer.pad_token_id,
                  repetition_penalty=repetition_penalty,
                  stopping_criteria=StoppingCriteriaList([_Stop()]))
    worker = threading.Thread(target=model.generate, kwargs=kwargs, daemon=True)
    worker.start()
    try:
        yield from streamer
    finally:
        if worker.is_alive():
            stop.set()  # the consumer went away (a closed stream, a cancelled request): free the model
        worker.join()


def answer(question: str, index: RetrievalIndex, model: Any, tokenizer: Any, k: int = 4,
           filters: dict[str, str] | None = None, max_new_tokens: int = 128,
           verifier: GroundingVerifier | None = None) -> GroundedAnswer:
    started = time.perf_counter()
    lang = (filters or {}).get("lang") or detect_language(question)
    hits, weak = retrieve(index, question, k, filters)
    result = GroundedAnswer(question, lang, hits)
    if weak:
        result.text, result.abstained = ABSTAIN.get(lang, ABSTAIN["en"]), True
    else:
        prompt = build_prompt(question, hits, lang)
        stats = GenerationStats()
        result.text = "".join(stream_generate(model, tokenizer, prompt, max_new_tokens, stats=stats)).strip()
        result.prompt_tokens, result.completion_tokens = stats.prompt_tokens, stats.completion_tokens
        result.verification = (verifier or GroundingVerifier()).check(result.text, [h.text for h in hits])
    result.seconds = time.perf_counter() - started
    return result
