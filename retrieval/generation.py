"""Generation, in one place: streamed (one answer, piece by piece) or in left-padded batches (many answers in one
`generate` call), both with the same decoding settings (`AnswerSettings`: max tokens, temperature, repetition
penalty, stop strings) and exact token counts. The grounded-answer path, the API's batcher and the eval all call
these two functions.

Greedy decoding makes batching exact: each row's tokens are those it would get alone (a longer neighbour only adds
steps after this row ends, which are cut off).
"""

from __future__ import annotations

import functools
import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from retrieval.config import AnswerSettings


class GenerationStats:
    """Filled in by `stream_generate`: exact prompt and generated token counts, and time to the first token."""

    def __init__(self) -> None:
        self.prompt_tokens = 0
        self.completion_tokens = 0
        self.first_token_seconds: float | None = None


@dataclass(frozen=True)
class AnswerConstraints:
    """What one answer is held to beyond the decoding settings: the start written for the model (a prefilled
    assistant turn its prompt already holds; the answer's text is that start and its continuation) and the only
    ids it may write out (`retrieval.listed_ids`; empty: free)."""

    prefix: str = ""
    listed_ids: tuple[str, ...] = ()


FREE = AnswerConstraints()


@dataclass
class Generated:
    """One row of a batched `generate` call."""

    text: str
    prompt_tokens: int
    completion_tokens: int
    seconds: float             # the batch's generate time (shared by its rows)
    batch_size: int


def chat_ids(tokenizer: Any, messages: str | Sequence[dict[str, str]]) -> list[int]:
    """The token ids the model sees for a chat (or one user turn), generation prompt included; a chat that ends
    with an assistant turn is left open for the model to continue (a prefilled answer start)."""
    chat = [{"role": "user", "content": messages}] if isinstance(messages, str) else list(messages)
    prefilled = bool(chat) and chat[-1]["role"] == "assistant"
    return list(tokenizer.apply_chat_template(chat, add_generation_prompt=not prefilled,
                                              continue_final_message=prefilled, return_dict=True)["input_ids"])


def cut_at_stop(text: str, stop: Sequence[str]) -> str:
    """The text before the first stop string (OpenAI's convention: the stop string is not returned)."""
    ends = [text.find(s) for s in stop if s and s in text]
    return text[: min(ends)] if ends else text


def kv_cache(model: Any, room: int) -> Any | None:
    """A key/value cache for one `generate` call whose layers write each step's keys and values into room kept
    after the prompt's (`room`: the tokens the call may add), where transformers' DynamicCache concatenates: that
    copies every layer's whole cache at every decode step (medical QA with evidence, batches of 10 prompts of about
    1,200 tokens: 60 copies of 4.7 MB a step, 10-24 % of the generation time, 2 threads). Attention reads a view of
    the written part, so every kernel sees the shapes and values it saw before (the same tokens, test). None where
    a layer is not a plain full-attention one (sliding windows, shared or linear caches): `generate` builds its own."""
    from transformers import DynamicCache
    from transformers.cache_utils import DynamicLayer

    cache = DynamicCache(config=model.config.get_text_config(decoder=True))
    if not cache.layers or any(type(layer) is not DynamicLayer for layer in cache.layers):
        return None
    cache.layers = [_roomy_layer_class()(room) for _ in cache.layers]
    return cache


@functools.cache
def _roomy_layer_class() -> type:
    """The layer class, built once on first use (transformers is imported lazily here)."""
    from transformers.cache_utils import DynamicLayer

    class RoomyLayer(DynamicLayer):
        """DynamicLayer whose keys and values are views of buffers with `room` more positions than the prompt."""

        def __init__(self, room: int) -> None:
            super().__init__()
            self.room = max(room, 1)
            self._room_buffers: tuple[Any, Any] | None = None

        def update(self, key_states: Any, value_states: Any, *args: Any, **kwargs: Any) -> tuple[Any, Any]:
            if not self.is_initialized:
                self.lazy_initialization(key_states, value_states)
            start = self.get_seq_length()
            end = start + key_states.shape[-2]
            if not self._fits(key_states, end):
                self._room_buffers = (self._grown(self.keys, key_states, end),
                                      self._grown(self.values, value_states, end))
            keys, values = self._room_buffers
            keys[..., start:end, :] = key_states
            values[..., start:end, :] = value_states
            self.keys, self.values = keys[..., :end, :], values[..., :end, :]
            return self.keys, self.values

        def _fits(self, new: Any, end: int) -> bool:
            """Whether the buffers hold the cache as it stands (crop keeps a view of them; reordering or a reset
            does not) and have room up to `end`."""
            buffers = self._room_buffers
            return (buffers is not None and self.keys._base is buffers[0] and self.values._base is buffers[1]
                    and end <= buffers[0].shape[-2] and buffers[0].shape[:2] == new.shape[:2])

        def _grown(self, old: Any, new: Any, end: int) -> Any:
            buffer = new.new_empty((*new.shape[:-2], end + self.room, new.shape[-1]))
            if old.numel():
                buffer[..., : old.shape[-2], :] = old
            return buffer

    return RoomyLayer


def _decoding(model: Any, tokenizer: Any, settings: AnswerSettings, max_new_tokens: int, min_new_tokens: int,
              prompt_width: int, constraints: Sequence[AnswerConstraints] = ()) -> dict[str, Any]:
    """generate()'s keyword arguments. The repetition penalty counts the answer's own tokens only unless
    `settings.penalize_prompt`: transformers (and vLLM) count the prompt's too, which in a grounded answer pushes
    the model away from the very words of the evidence it should quote. Prompts end at `prompt_width` in a
    left-padded batch, so one offset serves every row. `constraints`: per row (none: every row free)."""
    kwargs: dict[str, Any] = dict(max_new_tokens=max_new_tokens, min_new_tokens=min_new_tokens,
                                  use_cache=settings.use_cache, pad_token_id=tokenizer.pad_token_id,
                                  repetition_penalty=settings.repetition_penalty)
    cache = kv_cache(model, max_new_tokens) if settings.use_cache else None
    if cache is not None:
        kwargs["cache"] = cache
    if settings.repetition_penalty != 1.0 and not settings.penalize_prompt:
        from transformers import LogitsProcessorList, RepetitionPenaltyLogitsProcessor

        kwargs.update(repetition_penalty=1.0, logits_processor=LogitsProcessorList([
            RepetitionPenaltyLogitsProcessor(settings.repetition_penalty, prompt_ignore_length=prompt_width)]))
    if settings.temperature > 0:
        kwargs.update(do_sample=True, temperature=settings.temperature)
    else:
        kwargs.update(do_sample=False)
    if settings.stop:
        kwargs.update(stop_strings=list(settings.stop), tokenizer=tokenizer)
    if any(c.listed_ids for c in constraints):
        from transformers import LogitsProcessorList

        from retrieval.listed_ids import ListedIdsProcessor

        processors = LogitsProcessorList(kwargs.get("logits_processor") or [])
        processors.append(ListedIdsProcessor(tokenizer, constraints, prompt_width))
        kwargs["logits_processor"] = processors
    return kwargs


def stream_generate(model: Any, tokenizer: Any, prompt: str | Sequence[dict[str, str]],
                    settings: AnswerSettings | None = None, *, max_new_tokens: int | None = None,
                    min_new_tokens: int = 0, cancel: threading.Event | None = None,
                    stats: GenerationStats | None = None, constraints: AnswerConstraints = FREE) -> Iterator[str]:
    """Yield text pieces as the model writes them (TextIteratorStreamer on a generation thread).

    `prompt` is one user turn or a whole chat; setting `cancel` ends generation within one decode step; `stats`
    receives exact token counts (the ids the model produced, the end-of-turn token included, as OpenAI's usage
    counts them). Stop strings end generation; the caller cuts them off the joined text (`cut_at_stop`). The pieces
    continue `constraints.prefix` (the prompt holds it) and never repeat it."""
    import torch
    from transformers import StoppingCriteria, StoppingCriteriaList, TextIteratorStreamer

    settings = settings or AnswerSettings()
    stats = stats if stats is not None else GenerationStats()
    cancel = cancel if cancel is not None else threading.Event()
    started = time.perf_counter()

    class _Cancel(StoppingCriteria):
        def __call__(self, input_ids, scores, **kwargs) -> bool:  # noqa: ANN001, ANN003
            return cancel.is_set()

    class _CountingStreamer(TextIteratorStreamer):
        def put(self, value) -> None:  # noqa: ANN001 - a tensor of new ids
            if not self.next_tokens_are_prompt:
                stats.completion_tokens += int(value.numel())
                if stats.first_token_seconds is None:
                    stats.first_token_seconds = time.perf_counter() - started
            super().put(value)

    ids = torch.tensor([chat_ids(tokenizer, prompt)], device=model.device)
    stats.prompt_tokens = int(ids.shape[1])
    streamer = _CountingStreamer(tokenizer, skip_prompt=True, skip_special_tokens=True, timeout=120)
    limit = max_new_tokens or settings.max_new_tokens
    kwargs = dict(input_ids=ids, attention_mask=torch.ones_like(ids), streamer=streamer,
                  stopping_criteria=StoppingCriteriaList([_Cancel()]),
                  **_decoding(model, tokenizer, settings, limit, min_new_tokens, int(ids.shape[1]), [constraints]))
    worker = threading.Thread(target=model.generate, kwargs=kwargs, daemon=True)
    worker.start()
    try:
        yield from streamer
    finally:
        if worker.is_alive():
            cancel.set()  # the consumer went away (a closed stream, a cancelled request): free the model
        worker.join()


def generate_batch(model: Any, tokenizer: Any, prompts: Sequence[Sequence[int]], settings: AnswerSettings | None = None,
                   *, max_new_tokens: Sequence[int] | int | None = None, min_new_tokens: int = 0,
                   constraints: Sequence[AnswerConstraints] | None = None) -> list[Generated]:
    """Answers to several prompts (token ids, see `chat_ids`) in one left-padded `generate` call; each row keeps
    its own token limit and ends at its first end-of-turn token or stop string. `constraints`: per row (none: every
    row free); a row's text is its constraints' prefix and the continuation."""
    import torch

    settings = settings or AnswerSettings()
    limits = ([max_new_tokens or settings.max_new_tokens] * len(prompts) if not isinstance(max_new_tokens, Sequence)
              else list(max_new_tokens))
    pad = tokenizer.pad_token_id
    width = max(len(p) for p in prompts)
    input_ids = torch.tensor([[pad] * (width - len(p)) + list(p) for p in prompts], device=model.device)
    attention = torch.tensor([[0] * (width - len(p)) + [1] * len(p) for p in prompts], device=model.device)
    constraints = list(constraints) if constraints is not None else [FREE] * len(prompts)
    started = time.perf_counter()
    with torch.no_grad():
        output = model.generate(input_ids=input_ids, attention_mask=attention,
                                **_decoding(model, tokenizer, settings, max(limits), min_new_tokens, width,
                                            constraints))
    seconds = time.perf_counter() - started
    eos = _eos_ids(model, tokenizer)
    rows = []
    for row, (prompt, limit, held) in enumerate(zip(prompts, limits, constraints, strict=True)):
        new = output[row, width:].tolist()[:limit]
        new = new[: next((i + 1 for i, token in enumerate(new) if token in eos), len(new))]
        while new and new[-1] == pad and pad not in eos:  # a row ended by a stop string is padded to the batch's end
            new.pop()
        # joined before stripping: the continuation's leading newline belongs between the prefix and its lines
        text = cut_at_stop(held.prefix + tokenizer.decode(new, skip_special_tokens=True), settings.stop).strip()
        rows.append(Generated(text, len(prompt), len(new), seconds, len(prompts)))
    return rows


def _eos_ids(model: Any, tokenizer: Any) -> set[int]:
    eos = model.generation_config.eos_token_id
    ids = set(eos if isinstance(eos, list) else [eos]) if eos is not None else set()
    return ids | ({tokenizer.eos_token_id} if tokenizer.eos_token_id is not None else set())
