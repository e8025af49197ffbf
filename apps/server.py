"""`veritune serve`: an OpenAI-compatible API over the assistants, with hashed keys, a usage ledger, quotas and
rate limits, and the Gradio apps mounted beside it behind the same key (see `apps.door`).

Endpoints: GET /health (the only one without a key), GET /v1/models, POST /v1/chat/completions (plain and SSE
streaming, with `stream_options.include_usage`), GET /v1/usage, POST /login (a browser's key for the apps), and the
apps at /ui/<name>. Errors are OpenAI-shaped JSON (`{"error": {message, type, param, code}}`) with the matching
status. Logs hold key names, model ids, counts and times, never message content; messages are desensitized before
they reach the model. An answer reserves its prompt and its largest possible length against the key's quota
before the model runs (`KeyStore.reserve`), and is billed for every token generated, also when the client left.
"""

from __future__ import annotations

import asyncio
import json
import math
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated, Any, Literal

from fastapi import FastAPI, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse, StreamingResponse
from pydantic import BaseModel, ConfigDict, Field, Strict, ValidationError, field_validator

from apps.config import ModelEntry, ServeConfig
from apps.door import ApiError, Door, KeyResolver, Sessions, log_refusal
from apps.engine import Assistant, InputRejected, Prepared, Turn
from apps.keys import ApiKey, KeyStore, QuotaExceeded, Reservation
from veritune.logs import get_logger

log = get_logger("serve")
MAX_JSON_DEPTH = 32
StrictInt = Annotated[int, Strict()]


class Message(BaseModel):
    model_config = ConfigDict(extra="ignore")
    role: Literal["system", "user", "assistant"]
    content: str = Field(strict=True)


class StreamOptions(BaseModel):
    model_config = ConfigDict(extra="ignore")
    include_usage: bool = Field(default=False, strict=True)


class ChatRequest(BaseModel):
    """The fields of OpenAI's chat completion request that this server honours; others are ignored."""

    model_config = ConfigDict(extra="ignore")
    model: str = Field(strict=True)
    messages: list[Message] = Field(min_length=1)
    stream: bool = Field(default=False, strict=True)
    stream_options: StreamOptions | None = None
    max_tokens: StrictInt | None = Field(default=None, ge=1)
    max_completion_tokens: StrictInt | None = Field(default=None, ge=1)
    min_tokens: StrictInt = Field(default=0, ge=0, description="vLLM's extension: generate at least this many")
    n: StrictInt = Field(default=1, ge=1, description="choices per request: this server returns one")

    @field_validator("n")
    @classmethod
    def _one_choice(cls, n: int) -> int:
        if n != 1:
            raise ValueError(f"n={n} is not supported: this server returns one choice per request (send n=1)")
        return n


class RateLimiter:
    """Moving-window limits per key, with the `limits` library (slowapi's decorators were measured to skip
    APIRouter routes on current FastAPI, so the check is explicit)."""

    def __init__(self) -> None:
        from limits.storage import MemoryStorage
        from limits.strategies import MovingWindowRateLimiter

        self._limiter = MovingWindowRateLimiter(MemoryStorage())

    def check(self, key: ApiKey, rate: str | None = None) -> None:
        """Count one request of `key` against its own rate, or against `rate` (a separate window, e.g. the
        apps' pages and assets); 429 with Retry-After when it is full."""
        from limits import parse_many

        scope = "key" if rate is None else f"key:{rate}"
        rate = rate or key.rate
        for limit in parse_many(rate):
            if not self._limiter.hit(limit, scope, str(key.id)):
                reset = self._limiter.get_window_stats(limit, scope, str(key.id)).reset_time
                retry = max(1, math.ceil(reset - time.time()))
                raise ApiError(429, f"rate limit {rate} reached for this key; retry in {retry} s",
                               "rate_limit_error", "rate_limit_exceeded", headers={"Retry-After": str(retry)})


@dataclass
class Served:
    entry: ModelEntry
    assistant: Assistant


async def read_body(request: Request, limit: int) -> bytes:
    """The body, refused with 413 as soon as it passes `limit` (never read whole first)."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise ApiError(413, f"request body of {declared} bytes exceeds the limit of {limit}", code="body_too_large")
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > limit:
            raise ApiError(413, f"request body exceeds the limit of {limit} bytes", code="body_too_large")
    return bytes(body)


def _check_json(value: Any, depth: int = 0) -> None:
    """Nesting depth and valid Unicode (JSON escapes can spell lone surrogates, which no encoder takes)."""
    if depth > MAX_JSON_DEPTH:
        raise ApiError(400, f"the JSON body is nested more than {MAX_JSON_DEPTH} levels deep", code="invalid_json")
    if isinstance(value, str):
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            raise ApiError(400, "the body holds a lone surrogate escape (not valid Unicode text)",
                           code="invalid_json") from None
    elif isinstance(value, dict):
        for key, item in value.items():
            _check_json(key, depth + 1)
            _check_json(item, depth + 1)
    elif isinstance(value, list):
        for item in value:
            _check_json(item, depth + 1)


def parse_request(raw: bytes) -> ChatRequest:
    try:
        data = json.loads(raw)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ApiError(400, f"malformed JSON body: {exc.msg if hasattr(exc, 'msg') else 'not UTF-8'}",
                       code="invalid_json") from None
    except RecursionError:
        raise ApiError(400, f"the JSON body is nested more than {MAX_JSON_DEPTH} levels deep",
                       code="invalid_json") from None
    _check_json(data)
    try:
        return ChatRequest.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        param = ".".join(str(part) for part in first["loc"]) or None
        code = "unsupported_value" if param == "n" else "invalid_value"
        raise ApiError(400, f"{param}: {first['msg']}", param=param, code=code) from None


@dataclass
class Budget:
    """What admission granted one answer: its reservation and its answer-token limits."""

    key: ApiKey
    reservation: Reservation
    max_tokens: int
    min_tokens: int


class ChatService:
    """Everything between an authenticated caller and its tokens: access, quota reservation, generation, the
    ledger. The API's routes and the mounted apps' meters both go through it."""

    def __init__(self, config: ServeConfig, keys: KeyStore, served: dict[str, Served],
                 limiter: RateLimiter | None = None) -> None:
        self.config, self.keys, self.served = config, keys, served
        self.limiter = limiter or RateLimiter()

    def admit(self, key: ApiKey, model: str) -> None:
        """May `key` call `model` (an API model id or an app's `ui/<name>`) now: does the key allow it, and is its
        quota not used up? (Whether this answer fits the quota is `budget`'s question, once the prompt is known.)"""
        if not key.allows(model):
            raise ApiError(403, f"this key may not use the model {model!r}", "permission_error",
                           "model_not_allowed", param="model")
        if key.quota is not None and self.keys.tokens_used(key) >= key.quota:
            raise ApiError(429, f"the token quota of this key ({key.quota}) is used up", "insufficient_quota",
                           "insufficient_quota")

    def model(self, name: str) -> Served:
        served = self.served.get(name)
        if served is None:
            raise ApiError(404, f"the model {name!r} does not exist; GET /v1/models lists them",
                           code="model_not_found", param="model")
        return served

    def budget(self, key: ApiKey, assistant: Assistant, prepared: Prepared, max_tokens: int | None,
               min_tokens: int = 0) -> Budget:
        """Check the context length and reserve `prompt + max_tokens` of the quota (fewer answer tokens when less
        is left: the response says so); an abstained answer reserves nothing."""
        if prepared.turn.done:
            return Budget(key, Reservation(None, 0, False), 0, 0)
        room = assistant.context_tokens - prepared.prompt_tokens
        if max_tokens is not None and max_tokens > room:
            raise ApiError(400, f"this model's context is {assistant.context_tokens} tokens: the prompt takes "
                                f"{prepared.prompt_tokens}, so max_tokens can be at most {max(room, 0)}",
                           param="max_tokens", code="context_length_exceeded")
        if room < 1:
            raise ApiError(400, f"the prompt takes {prepared.prompt_tokens} tokens, more than this model's "
                                f"context of {assistant.context_tokens}", param="messages",
                           code="context_length_exceeded")
        wanted = min(max_tokens or self.config.default_max_tokens, room)
        try:
            reservation = self.keys.reserve(key, prepared.prompt_tokens, wanted)
        except QuotaExceeded as exc:
            raise ApiError(429, exc.message, "insufficient_quota", "insufficient_quota") from None
        return Budget(key, reservation, reservation.max_tokens, min(min_tokens, reservation.max_tokens))

    def settle(self, budget: Budget, model: str, turn: Turn) -> dict[str, int]:
        self.keys.record(budget.key, model, turn.prompt_tokens, turn.completion_tokens, turn.cost, turn.seconds,
                         budget.reservation)
        log.info("key=%s model=%s prompt_tokens=%d completion_tokens=%d abstained=%s masked=%s seconds=%.3f",
                 budget.key.name, model, turn.prompt_tokens, turn.completion_tokens, turn.abstained, turn.masked,
                 turn.seconds)
        return {"prompt_tokens": turn.prompt_tokens, "completion_tokens": turn.completion_tokens,
                "total_tokens": turn.prompt_tokens + turn.completion_tokens}


class AppMeter:
    """A mounted app's model calls, admitted, reserved and billed like API calls of the model id `ui/<name>`."""

    def __init__(self, service: ChatService, resolver: KeyResolver, name: str) -> None:
        self.service, self.resolver, self.model = service, resolver, f"ui/{name}"

    def admit(self, request: Any) -> ApiKey:
        """The caller of a Gradio event (its `gr.Request`); ApiError when it may not call the model now."""
        from apps.door import SESSION_COOKIE, cookie

        headers = dict(getattr(request, "headers", None) or {})
        key = None
        try:
            key = self.resolver.resolve(headers.get("authorization"), cookie(headers, SESSION_COOKIE))
            self.service.admit(key, self.model)
            self.service.limiter.check(key)
        except ApiError as refusal:
            log_refusal(refusal, self.model, key)
            raise
        return key

    def budget(self, key: ApiKey, assistant: Assistant, prepared: Prepared) -> Budget:
        # the app's user cannot choose max_tokens: the settings' length, cut to what the context has room for
        room = max(1, assistant.context_tokens - prepared.prompt_tokens)
        return self.service.budget(key, assistant, prepared, min(assistant.settings.max_new_tokens, room))

    def settle(self, budget: Budget, turn: Turn) -> None:
        self.service.settle(budget, self.model, turn)


def _extras(served: Served, turn: Turn, budget: Budget) -> dict[str, Any]:
    """Fields beside OpenAI's: the `openai` client keeps unknown fields, so `response.citations` reads them."""
    extras: dict[str, Any] = {"veritune": {"masked": turn.masked, "abstained": turn.abstained,
                                           "cost": round(turn.cost, 8), "seconds": round(turn.seconds, 4)}}
    if budget.reservation.capped:
        extras["veritune"]["max_tokens_capped"] = budget.max_tokens    # all the key's quota had left
    if served.entry.rag:
        hits = [] if turn.abstained else turn.hits                   # an abstention cites nothing
        extras["citations"] = [{"n": n, "doc_id": hit.doc_id, "similarity": round(hit.similarity, 4),
                                "rank_score": round(float(hit.score), 6), "text": hit.text}
                               for n, hit in enumerate(hits, start=1)]
        extras["veritune"]["groundedness"] = turn.groundedness
        if served.assistant.verdict is not None and not turn.abstained:
            # the compliance check's findings and risk level, computed as the finance app computes them: the
            # model's own "Risk level" line is its words, this is the verdict from the rules it flagged
            extras["veritune"]["compliance"] = served.assistant.verdict(turn)
        if turn.verification is not None and any(s.attributed or s.corrected for s in turn.verification.sentences):
            # a stream sent the model's words as they came; the citations the verifier added or corrected are here
            extras["veritune"]["cited_text"] = turn.text
    return extras


def _finish_reason(turn: Turn, budget: Budget) -> str:
    return "length" if not turn.abstained and turn.completion_tokens >= budget.max_tokens else "stop"


@dataclass
class MountedApp:
    """An app to mount at /ui/<name>: `build(meter)` makes its Blocks with every model call metered."""

    build: Callable[[AppMeter], Any]


def create_api(config: ServeConfig, keys: KeyStore, served: dict[str, Served],
               apps: dict[str, MountedApp] | None = None) -> Any:
    """The ASGI app: the API's routes and the apps at /ui/<name>, all behind the door."""
    service = ChatService(config, keys, served)
    resolver = KeyResolver(keys, Sessions())
    api = FastAPI(title="veritune", version="1", docs_url="/docs", redoc_url=None)

    @api.exception_handler(ApiError)
    async def _api_error(request: Request, exc: ApiError) -> JSONResponse:
        if exc.status in (401, 403, 429):
            log_refusal(exc, request.url.path, getattr(request.state, "key", None))
        return JSONResponse(exc.body(), status_code=exc.status, headers=exc.headers)

    @api.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.error("internal error on %s: %s", request.url.path, exc.__class__.__name__)   # never the content
        return JSONResponse(ApiError(500, "internal error; the server log names its kind", "server_error",
                                     "internal_error").body(), status_code=500)

    @api.get("/health")
    async def health() -> dict[str, Any]:
        return {"status": "ok", "models": sorted(served), "apps": sorted(apps or {})}

    @api.get("/v1/models")
    async def models(request: Request) -> dict[str, Any]:
        key = request.state.key
        data = [{"id": name, "object": "model", "created": 0, "owned_by": "veritune", "domain": s.entry.domain,
                 "rag": s.entry.rag} for name, s in sorted(served.items()) if key.allows(name)]
        return {"object": "list", "data": data}

    @api.get("/v1/usage")
    async def usage(request: Request) -> dict[str, Any]:
        return await run_in_threadpool(keys.usage, request.state.key)

    @api.post("/v1/chat/completions")
    async def chat_completions(request: Request) -> Any:
        key = request.state.key
        chat = parse_request(await read_body(request, config.max_body_bytes))
        target = service.model(chat.model)
        service.admit(key, chat.model)
        try:
            prepared = await run_in_threadpool(target.assistant.prepare, [m.model_dump() for m in chat.messages],
                                               target.entry.rag)
        except InputRejected as exc:
            raise ApiError(400, exc.message, param="messages", code="invalid_input") from None
        budget = await run_in_threadpool(service.budget, key, target.assistant, prepared,
                                         chat.max_completion_tokens or chat.max_tokens, chat.min_tokens)
        completion_id = f"chatcmpl-{uuid.uuid4().hex[:24]}"
        if chat.stream:
            return StreamingResponse(_stream(service, target, chat, prepared, budget, completion_id),
                                     media_type="text/event-stream")
        try:
            turn = await run_in_threadpool(target.assistant.generate, prepared, budget.max_tokens, budget.min_tokens)
        except BaseException:
            keys.release(budget.reservation)
            raise
        body = {"id": completion_id, "object": "chat.completion", "created": int(time.time()), "model": chat.model,
                "choices": [{"index": 0, "message": {"role": "assistant", "content": turn.text},
                             "finish_reason": _finish_reason(turn, budget)}],
                "usage": service.settle(budget, chat.model, turn), **_extras(target, turn, budget)}
        return JSONResponse(body)

    for name, app in (apps or {}).items():
        import gradio as gr

        from apps.launch import launch_kwargs

        blocks = app.build(AppMeter(service, resolver, name))
        blocks.queue(max_size=32, default_concurrency_limit=2)
        api = gr.mount_gradio_app(api, blocks, path=f"/ui/{name}", max_file_size="1mb", **launch_kwargs())
        # Gradio checks that a file an event receives was uploaded in this session only once the Blocks has
        # launched; a mounted Blocks never launches, so without this a request naming any server path in a
        # FileData is served that file (its hot reload marks swapped Blocks launched the same way)
        blocks.has_launched = True
    return Door(api, resolver, service.limiter.check, config.ui_rate)


def _stream(service: ChatService, served: Served, chat: ChatRequest, prepared: Prepared, budget: Budget,
            completion_id: str) -> Any:
    """SSE chunks of a growing answer. Generation runs on its own thread and always runs to its end, settling
    the ledger there; when the client goes away the response is cancelled, which sets `stop`, so the model halts
    within one decode step and the key is billed for every token it generated."""
    created = int(time.time())
    stop = threading.Event()       # tells the model to halt (generation sets it too, when it ends)
    gone = threading.Event()       # the client went away: nothing more to send

    def chunk(delta: dict[str, Any] | None, finish: str | None = None, **extra: Any) -> str:
        choices = [] if delta is None else [{"index": 0, "delta": delta, "finish_reason": finish}]
        body = {"id": completion_id, "object": "chat.completion.chunk", "created": created, "model": chat.model,
                "choices": choices, **extra}
        return f"data: {json.dumps(body, ensure_ascii=False)}\n\n"

    def produce(put: Callable[[str | None], None]) -> None:
        turn, sent = prepared.turn, 0
        try:
            put(chunk({"role": "assistant", "content": ""}))
            for turn in served.assistant.stream(prepared, budget.max_tokens, budget.min_tokens, stop):
                if len(turn.text) > sent and not turn.done:
                    put(chunk({"content": turn.text[sent:]}))
                    sent = len(turn.text)
            if turn.abstained:
                put(chunk({"content": turn.text}))
        except Exception as exc:  # noqa: BLE001 - the client gets a closing error event, the log its kind
            log.error("generation failed for model=%s: %s", chat.model, exc.__class__.__name__)
            put(f"data: {json.dumps(ApiError(500, 'generation failed', 'server_error', 'internal_error').body())}\n\n")
        finally:
            usage = service.settle(budget, chat.model, turn)
        put(chunk({}, _finish_reason(turn, budget), **_extras(served, turn, budget)))
        if chat.stream_options and chat.stream_options.include_usage:
            put(chunk(None, usage=usage))
        put("data: [DONE]\n\n")

    async def body() -> Any:
        loop = asyncio.get_running_loop()
        queue: asyncio.Queue[str | None] = asyncio.Queue()

        def put(item: str | None) -> None:
            if not gone.is_set():
                try:
                    loop.call_soon_threadsafe(queue.put_nowait, item)
                except RuntimeError:    # the event loop closed under a late answer
                    gone.set()

        def run() -> None:
            try:
                produce(put)
            finally:
                put(None)

        threading.Thread(target=run, name="veritune-stream", daemon=True).start()
        try:
            while (item := await queue.get()) is not None:
                yield item
        finally:
            gone.set()
            stop.set()

    return body()


def build_assistants(entries: list[ModelEntry], pool: Any = None, nlp: Any = None) -> dict[str, Served]:
    """One Assistant per distinct (domain, model, adapter, index, settings): `x` and `x+rag` share theirs."""
    from apps.engine import ModelPool, SharedNlp
    from apps.launch import APPS, app_kind

    pool, nlp = pool or ModelPool(), nlp or SharedNlp()
    built: dict[str, Assistant] = {}
    served = {}
    for entry in entries:
        settings = entry.model_dump(exclude={"id", "rag"})
        signature = json.dumps(settings, sort_keys=True)
        if signature not in built:
            options = app_kind(entry.domain).assistant_options() if entry.domain in APPS else {}
            options["empty_hint"] = "every message needs text content"  # the API's wording, not an app's
            built[signature] = Assistant(entry, pool=pool, nlp=nlp, **options)
        served[entry.id] = Served(entry, built[signature])
    return served


def build_server(config: ServeConfig) -> Any:
    """The API for `config` (the demo's models when it names none), apps mounted when asked."""
    from apps.config import demo_models
    from apps.engine import ModelPool, SharedNlp
    from apps.launch import APPS, app_kind, variants_of

    pool, nlp = ModelPool(), SharedNlp()
    entries = config.models or demo_models()
    served = build_assistants(entries, pool, nlp)
    apps = {}
    if config.mount_apps:
        for entry in entries:
            if entry.domain in APPS and entry.domain not in apps and not entry.rag and entry.index:
                main = served[entry.id].assistant
                variants = variants_of(entry.domain, main, pool, nlp)
                builder = app_kind(entry.domain).build
                apps[entry.domain] = MountedApp(
                    lambda meter, b=builder, m=main, v=variants: b(m, variants=v, meter=meter))
    return create_api(config, KeyStore(config.keys), served, apps)


def run_server(config: ServeConfig, on_ready: Callable[[str], None] | None = None) -> None:
    """Serve until interrupted; `on_ready(url)` runs once the port accepts connections (not before)."""
    import uvicorn

    from apps.launch import offline_gradio_env, warn_if_exposed

    warn_if_exposed(config.host, "put TLS in front of it (README: Security model)")
    offline_gradio_env()
    api = build_server(config)

    class _Server(uvicorn.Server):
        async def startup(self, sockets: Any = None) -> None:
            await super().startup(sockets)
            if self.started and self.servers:
                host, port = self.servers[0].sockets[0].getsockname()[:2]
                url = f"http://{config.host if config.host not in ('0.0.0.0', '::') else host}:{port}"
                log.info("serving %s on %s", ", ".join(e.id for e in config.models) or "the demo models", url)
                if on_ready is not None:
                    on_ready(url)

    _Server(uvicorn.Config(api, host=config.host, port=config.port, log_level="warning", access_log=False)).run()
