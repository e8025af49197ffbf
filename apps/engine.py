"""The assistant behind both apps and the API: desensitize, retrieve, stream a cited answer, verify it, count
its tokens and cost. It only wires the stages' public functions together; each app adds its own panels.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from apps.config import AssistantSettings
from desensitize.lang import detect_language
from veritune.errors import VerituneError

PromptBuilder = Callable[[str, Sequence[Any], str], str]  # (question, hits, lang) -> prompt
Retriever = Callable[..., tuple[list[Any], bool]]  # (index, question, k, filters) -> (hits, evidence too weak)


class InputRejected(VerituneError):
    """Input an assistant will not take (empty, too long, not text): shown to the user, never a traceback."""


@dataclass
class Turn:
    """One answer as it grows: the apps re-render it after every streamed piece."""

    question: str                      # desensitized: the only form that is ever stored, logged or shown back
    lang: str
    masked: dict[str, int]             # entity type -> replacements in the question
    hits: list[Any] = field(default_factory=list)
    abstained: bool = False
    text: str = ""
    done: bool = False
    verification: Any = None
    prompt_tokens: int = 0
    completion_tokens: int = 0
    first_token_seconds: float | None = None
    seconds: float = 0.0               # compute time charged to this answer
    wall_seconds: float = 0.0          # what the caller waited (batched requests also wait for their neighbours)
    gpu_hour_price: float = 0.0

    @property
    def cost(self) -> float:
        """Compute time priced per GPU-hour (on CPU: the same formula, so numbers compare across machines)."""
        return self.seconds * self.gpu_hour_price / 3600

    @property
    def cost_per_1k_tokens(self) -> float:
        return self.cost / self.completion_tokens * 1000 if self.completion_tokens else 0.0

    @property
    def groundedness(self) -> float | None:
        return None if self.verification is None else self.verification.groundedness


@dataclass
class Prepared:
    """An answer ready to generate: its turn (already finished when abstained), the chat the model will see,
    and that chat's exact token count (what a quota must hold before generation)."""

    turn: Turn
    messages: list[dict[str, str]]
    prompt_tokens: int
    started: float


class ModelPool:
    """Each (base, adapter) pair loaded once per process and shared by every assistant that names it."""

    def __init__(self, loader: Callable[..., tuple[Any, Any]] | None = None) -> None:
        from finetune.inference import load_for_inference

        self._loader = loader or load_for_inference
        self._loaded: dict[tuple[str, str | None], tuple[Any, Any]] = {}
        self._lock = threading.Lock()

    def get(self, model: str, adapter: str | None, allow_unfinished: bool = False) -> tuple[Any, Any]:
        with self._lock:
            if (model, adapter) not in self._loaded:
                self._loaded[(model, adapter)] = self._loader(model, adapter, allow_unfinished=allow_unfinished)
            return self._loaded[(model, adapter)]


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
                from desensitize.nlp import build_nlp_engine

                self._engine = build_nlp_engine()
            return self._engine


class Assistant:
    """A domain assistant; every collaborator can be injected, and is built from `settings` otherwise."""

    def __init__(self, settings: AssistantSettings, pool: ModelPool | None = None, nlp: SharedNlp | None = None,
                 index: Any = None, verifier: Any = None, prompt_builder: PromptBuilder | None = None,
                 retriever: Retriever | None = None) -> None:
        from desensitize import DesensitizeConfig
        from desensitize.detector import Detector
        from desensitize.records import RecordDesensitizer, detector_settings
        from retrieval.answer import build_prompt, retrieve
        from retrieval.embedders import load_embedder
        from retrieval.index import RetrievalIndex
        from retrieval.verifier import GroundingVerifier

        self.settings = settings
        self.model, self.tokenizer = (pool or ModelPool()).get(settings.model, settings.adapter,
                                                               settings.allow_unfinished)
        config = DesensitizeConfig(domain=settings.domain, operator="tag")
        nlp = nlp or SharedNlp()
        detector = Detector(detector_settings(config), nlp_engine=nlp.engine())
        self.desensitizer = RecordDesensitizer(config, detector=detector)
        self.index = index if index is not None else (RetrievalIndex.load(settings.index) if settings.index else None)
        self.verifier = verifier or GroundingVerifier(embed=load_embedder("minilm").passages)
        self.prompt_builder = prompt_builder or build_prompt
        self.retriever = retriever or retrieve
        self._analysis_lock = nlp.analysis_lock
        self._lock = threading.Lock()
        self._batcher: Any = None

    # ---- input -----------------------------------------------------------------------------------------------
    def check_input(self, text: Any) -> str:
        if not isinstance(text, str) or not text.strip():
            raise InputRejected("the question is empty: describe the case or paste a document", field="question")
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
    # Every answer, in the apps and on the API, takes the same steps: `prepare` (check, desensitize, retrieve,
    # abstain on weak evidence, build the prompt, count its tokens), then `stream` or `generate`. A caller that
    # meters answers (the API, the mounted apps) reserves quota between the two, when the prompt size is known.
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
        turn = Turn(cleaned[-1]["content"], lang, dict(sorted(masked.items())),
                    gpu_hour_price=self.settings.gpu_hour_price)
        if rag and self.index is not None:
            turn.hits, weak = self.retriever(self.index, turn.question, k=k or self.settings.k, filters={"lang": lang})
            if weak:
                from retrieval import ABSTAIN

                turn.text, turn.abstained, turn.done = ABSTAIN.get(lang, ABSTAIN["en"]), True, True
                turn.seconds = time.perf_counter() - started
                return Prepared(turn, [], 0, started)
            cleaned[-1] = {"role": "user", "content": self.prompt_builder(turn.question, turn.hits, lang)}
        ids = self.tokenizer.apply_chat_template(cleaned, add_generation_prompt=True, return_dict=True)["input_ids"]
        return Prepared(turn, cleaned, len(ids), started)

    @property
    def context_tokens(self) -> int:
        """The longest prompt + answer the model takes (its position embeddings)."""
        return int(getattr(self.model.config, "max_position_embeddings", 0) or 1_000_000)

    def ask(self, question: Any, k: int | None = None, stop: threading.Event | None = None) -> Iterator[Turn]:
        """Yield the same Turn, growing: first with the evidence, then after each streamed piece, then verified."""
        prepared = self.prepare([{"role": "user", "content": question}], rag=True, k=k)
        yield prepared.turn
        yield from self.stream(prepared, stop=stop)

    def chat(self, messages: list[dict[str, str]], rag: bool, max_new_tokens: int | None = None,
             min_new_tokens: int = 0, stop: threading.Event | None = None) -> Iterator[Turn]:
        """Streaming, unmetered (scripts and tests; the API meters between `prepare` and `stream`)."""
        prepared = self.prepare(messages, rag)
        yield prepared.turn
        yield from self.stream(prepared, max_new_tokens, min_new_tokens, stop)

    def generate(self, prepared: Prepared, max_new_tokens: int | None = None, min_new_tokens: int = 0) -> Turn:
        """The finished answer through the model's batcher, so concurrent requests share a generate call."""
        turn = prepared.turn
        if turn.done:                                   # abstained: nothing to generate
            return turn
        result = self.batcher().submit(prepared.messages, max_new_tokens or self.settings.max_new_tokens,
                                       min_new_tokens).result()
        turn.text, turn.prompt_tokens, turn.completion_tokens = result.text, result.prompt_tokens, \
            result.completion_tokens
        # a batch's compute is shared by its rows: each is charged its share, so costs add up to the machine time
        turn.seconds = result.seconds / result.batch_size
        if turn.hits:
            turn.verification = self.verifier.check(turn.text, [hit.text for hit in turn.hits])
        turn.wall_seconds = time.perf_counter() - prepared.started
        turn.done = True
        return turn

    def batcher(self) -> Any:
        with self._lock:
            if self._batcher is None:
                from apps.batching import Batcher

                self._batcher = Batcher(self.model, self.tokenizer, max_batch=self.settings.max_batch,
                                        use_cache=self.settings.use_cache,
                                        repetition_penalty=self.settings.repetition_penalty)
            return self._batcher

    def stream(self, prepared: Prepared, max_new_tokens: int | None = None, min_new_tokens: int = 0,
               stop: threading.Event | None = None) -> Iterator[Turn]:
        """The answer as it grows; setting `stop` ends generation within one decode step, and the turn then
        counts every token generated."""
        from retrieval import GenerationStats, stream_generate

        turn, started = prepared.turn, prepared.started
        if turn.done:                                   # abstained: nothing to generate
            yield turn
            return
        stats = GenerationStats()
        pieces = stream_generate(self.model, self.tokenizer, prepared.messages,
                                 max_new_tokens or self.settings.max_new_tokens,
                                 use_cache=self.settings.use_cache, stop=stop, min_new_tokens=min_new_tokens,
                                 stats=stats, repetition_penalty=self.settings.repetition_penalty)
        try:
            for piece in pieces:
                turn.text += piece
                turn.completion_tokens, turn.first_token_seconds = stats.completion_tokens, stats.first_token_seconds
                turn.prompt_tokens = stats.prompt_tokens
                turn.seconds = time.perf_counter() - started
                yield turn
        finally:
            # also when the caller closed this stream (Stop): closing `pieces` halts generation and waits for it,
            # so the turn then counts every token the model produced, which is what a meter bills
            pieces.close()
            turn.prompt_tokens, turn.completion_tokens = stats.prompt_tokens, stats.completion_tokens
            turn.seconds = time.perf_counter() - started
        turn.text = turn.text.strip()
        if turn.hits:
            turn.verification = self.verifier.check(turn.text, [hit.text for hit in turn.hits])
        turn.seconds, turn.done = time.perf_counter() - started, True
        yield turn

    def answer(self, question: str, k: int | None = None) -> Turn:
        """The finished turn (tests, scripts)."""
        *_, last = self.ask(question, k)
        return last
