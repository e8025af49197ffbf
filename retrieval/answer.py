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


def stream_generate(model: Any, tokenizer: Any, prompt: str, max_new_tokens: int = 128, use_cache: bool = True,
                    stop: threading.Event | None = None) -> Iterator[str]:
    """Yield text pieces as the model writes them (TextIteratorStreamer on a generation thread)."""
    from transformers import StoppingCriteria, StoppingCriteriaList, TextIteratorStreamer

    class _Stop(StoppingCriteria):
        def __call__(self, input_ids, scores, **kwargs) -> bool:  # noqa: ANN001, ANN003
            return bool(stop and stop.is_set())

    messages = [{"role": "user", "content": prompt}]
    inputs = tokenizer.apply_chat_template(messages, add_generation_prompt=True, return_tensors="pt",
                                           return_dict=True)
    streamer = TextIteratorStreamer(tokenizer, skip_prompt=True, skip_special_tokens=True, timeout=120)
    kwargs = dict(**inputs, streamer=streamer, max_new_tokens=max_new_tokens, do_sample=False, use_cache=use_cache,
                  pad_token_id=tokenizer.pad_token_id, stopping_criteria=StoppingCriteriaList([_Stop()]))
    worker = threading.Thread(target=model.generate, kwargs=kwargs, daemon=True)
    worker.start()
    yield from streamer
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
        result.text = "".join(stream_generate(model, tokenizer, prompt, max_new_tokens)).strip()
        result.prompt_tokens = len(tokenizer(prompt)["input_ids"])
        result.completion_tokens = len(tokenizer(result.text)["input_ids"])
        result.verification = (verifier or GroundingVerifier()).check(result.text, [h.text for h in hits])
    result.seconds = time.perf_counter() - started
    return result
