"""The assistant behind both apps and the API: desensitize, retrieve, stream a cited answer, verify it, count
its tokens and cost. It only wires the stages' public functions together; each app adds its own panels.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from apps.config import AssistantSettings
from desensitize import detect_language
from retrieval import GroundedAnswer, PromptBuilder, Retriever
from veritune.errors import VerituneError


class InputRejected(VerituneError):
    """Input an assistant will not take (empty, too long, not text): shown to the user, never a traceback."""


@dataclass
class Turn(GroundedAnswer):
    """One answer as it grows (the apps re-render it after every streamed piece): the grounded answer plus what
    the apps and the API show and bill. `question` is desensitized: the only form ever stored, logged or shown."""

    masked: dict[str, int] = field(default_factory=dict)   # entity type -> replacements in the question
    wall_seconds: float = 0.0          # what the caller waited (batched requests also wait for their neighbours)
    gpu_hour_price: float = 0.0

    @property
    def cost(self) -> float:
        """Compute time priced per GPU-hour (on CPU: the same formula, so numbers compare across machines)."""
        return self.seconds * self.gpu_hour_price / 3600

    @property
    def cost_per_1k_tokens(self) -> float:
        return self.cost / self.completion_tokens * 1000 if self.completion_tokens else 0.0


@dataclass
class Prepared:
    """An answer ready to generate: its turn (already finished when abstained) with the chat the model will see
    and that chat's exact token count (what a quota must hold before generation)."""

    turn: Turn

    @property
    def messages(self) -> list[dict[str, str]]:
        return self.turn.messages

    @property
    def prompt_tokens(self) -> int:
        return self.turn.prompt_tokens


class ModelPool:
    """Each (base, adapter, precision) loaded once per process and shared by every assistant that names it."""

    def __init__(self, loader: Callable[..., tuple[Any, Any]] | None = None) -> None:
        from finetune import load_for_inference

        self._loader = loader or load_for_inference
        self._loaded: dict[tuple[str, str | None, Any], tuple[Any, Any]] = {}
        self._lock = threading.Lock()

    def get(self, model: str, adapter: str | None, allow_unfinished: bool = False, bf16: str = "auto"
            ) -> tuple[Any, Any]:
        from finetune import inference_dtype

        dtype = inference_dtype(bf16)
        with self._lock:
            if (model, adapter, dtype) not in self._loaded:
                self._loaded[(model, adapter, dtype)] = self._loader(model, adapter, dtype=dtype,
                                                                     allow_unfinished=allow_unfinished)
            return self._loaded[(model, adapter, dtype)]


class SharedNlp:
    """spaCy pipelines (seconds to load, hundreds of MB) built once and shared by every assistant's detector."""

    def __init__(self) -> None:
        self._engine: Any = None
        self._lock = threading.Lock()
        # spaCy pipelines and Presidio analyzers are not meant for concurrent calls: every detector that shares
        # these pipelines takes this lock around an analysis
        self.analysis_lock = threading.Lock()

    def engine(self) -> Any:
        with self._lock:
            if self._engine is None:
                from desensitize import build_nlp_engine

                self._engine = build_nlp_engine()
            return self._engine


class Assistant:
    """A domain assistant: desensitizes what it is given, then answers through the one grounded-answer path
    (`retrieval.GroundedAnswerer`); every collaborator can be injected, and is built from `settings` otherwise."""

    def __init__(self, settings: AssistantSettings, pool: ModelPool | None = None, nlp: SharedNlp | None = None,
                 index: Any = None, verifier: Any = None, prompt_builder: PromptBuilder | None = None,
                 retriever: Retriever | None = None, empty_hint: str = "send a message with text",
                 verdict: Callable[[Turn], dict[str, Any]] | None = None) -> None:
        from desensitize import DesensitizeConfig, Detector, RecordDesensitizer, detector_settings
        from retrieval import GroundedAnswerer, GroundingVerifier, RetrievalIndex, build_prompt, load_embedder, retrieve

        self.settings, self.empty_hint = settings, empty_hint  # each app words its own empty-input error
        self.verdict = verdict  # what a finished answer concludes beyond its words (the compliance check's report)
        self.model, self.tokenizer = (pool or ModelPool()).get(settings.model, settings.adapter,
                                                               settings.allow_unfinished, settings.bf16)
        config = DesensitizeConfig(domain=settings.domain, operator="tag")
        nlp = nlp or SharedNlp()
        detector = Detector(detector_settings(config), nlp_engine=nlp.engine())
        self.desensitizer = RecordDesensitizer(config, detector=detector)
        self.index = index if index is not None else (RetrievalIndex.load(settings.index) if settings.index else None)
        self.answerer = GroundedAnswerer(self.model, self.tokenizer, self.index, settings.answer_settings(),
                                         verifier or GroundingVerifier(embed=load_embedder("minilm").passages),
                                         prompt=prompt_builder or build_prompt, retriever=retriever or retrieve)
        self._analysis_lock = nlp.analysis_lock
        self._lock = threading.Lock()
        self._batcher: Any = None

    @property
    def verifier(self) -> Any:
        return self.answerer.verifier

    # ---- input -----------------------------------------------------------------------------------------------
    def check_input(self, text: Any) -> str:
        if not isinstance(text, str) or not text.strip():
            raise InputRejected(f"the input is empty: {self.empty_hint}", field="question")
        if len(text) > self.settings.max_input_chars:
            raise InputRejected(f"the input has {len(text)} characters; the limit is "
                                f"{self.settings.max_input_chars}", field="question")
        if "\x00" in text:
            raise InputRejected("the input is not text (it contains NUL bytes)", field="question")
        return text.strip()

    def desensitize(self, text: str) -> tuple[str, str, dict[str, int]]:
        """(desensitized text, language, replacements per entity type)."""
        with self._analysis_lock:
            [(record, counts)] = self.desensitizer.process([{"text": text}])
        by_type: Counter[str] = Counter()
        for (entity, _lang), n in counts.items():
            by_type[entity] += n
        return record["text"], detect_language(text), dict(sorted(by_type.items()))

    # ---- answering -------------------------------------------------------------------------------------------
    # Every answer, in the apps and on the API, takes the same steps: `prepare` (check, desensitize, then the
    # grounded-answer path: retrieve, abstain on weak evidence, build the prompt, count its tokens), then `stream`
    # or `generate`. A caller that meters answers (the API, the mounted apps) reserves quota between the two.
    def prepare(self, messages: list[dict[str, str]], rag: bool, k: int | None = None) -> Prepared:
        """Every message desensitized; with `rag` and an index, the last user turn answered from retrieved
        evidence: replaced by the grounded prompt, or abstained on when the evidence is too weak."""
        if not messages or messages[-1].get("role") != "user":
            raise InputRejected("messages must end with a user message", field="messages")
        started = time.perf_counter()
        cleaned, masked, lang = [], Counter(), "en"
        for message in messages:
            content = self.check_input(message.get("content"))
            clean, lang, found = self.desensitize(content)
            masked.update(found)
            cleaned.append({"role": message["role"], "content": clean})
        turn = Turn(cleaned[-1]["content"], lang, masked=dict(sorted(masked.items())),
                    gpu_hour_price=self.settings.gpu_hour_price, started=started)
        self.answerer.prepare(turn.question, lang=lang, history=cleaned[:-1], rag=rag, k=k, answer=turn)
        return Prepared(turn)

    @property
    def context_tokens(self) -> int:
        """The longest prompt + answer the model takes (its position embeddings)."""
        return int(getattr(self.model.config, "max_position_embeddings", 0) or 1_000_000)

    def ask(self, question: Any, k: int | None = None, cancel: threading.Event | None = None) -> Iterator[Turn]:
        """Yield the same Turn, growing: first with the evidence, then after each streamed piece, then verified."""
        prepared = self.prepare([{"role": "user", "content": question}], rag=True, k=k)
        yield prepared.turn
        yield from self.stream(prepared, cancel=cancel)

    def chat(self, messages: list[dict[str, str]], rag: bool, max_new_tokens: int | None = None,
             min_new_tokens: int = 0, cancel: threading.Event | None = None) -> Iterator[Turn]:
        """Streaming, unmetered (scripts and tests; the API meters between `prepare` and `stream`)."""
        prepared = self.prepare(messages, rag)
        yield prepared.turn
        yield from self.stream(prepared, max_new_tokens, min_new_tokens, cancel)

    def generate(self, prepared: Prepared, max_new_tokens: int | None = None, min_new_tokens: int = 0) -> Turn:
        """The finished answer through the model's batcher, so concurrent requests share a generate call."""
        turn = prepared.turn
        if turn.done:                                   # abstained: nothing to generate
            return turn
        self.batcher().submit(turn, max_new_tokens or self.settings.max_new_tokens, min_new_tokens).result()
        turn.wall_seconds = time.perf_counter() - turn.started
        return turn

    def batcher(self) -> Any:
        with self._lock:
            if self._batcher is None:
                from apps.batching import Batcher

                self._batcher = Batcher(self.answerer, max_batch=self.settings.max_batch)
            return self._batcher

    def stream(self, prepared: Prepared, max_new_tokens: int | None = None, min_new_tokens: int = 0,
               cancel: threading.Event | None = None) -> Iterator[Turn]:
        """The answer as it grows; setting `cancel` ends generation within one decode step, and the turn then
        counts every token generated."""
        for _ in self.answerer.stream(prepared.turn, max_new_tokens=max_new_tokens, min_new_tokens=min_new_tokens,
                                      cancel=cancel):
            yield prepared.turn

    def answer(self, question: str, k: int | None = None) -> Turn:
        """The finished turn (tests, scripts)."""
        *_, last = self.ask(question, k)
        return last
