"""`veritune serve`: an OpenAI-compatible API over the assistants, with hashed keys, a usage ledger, quotas and
rate limits, and the Gradio apps mounted beside it.

Endpoints: GET /health, GET /v1/models, POST /v1/chat/completions (plain and SSE streaming, with
`stream_options.include_usage`), GET /v1/usage. Errors are OpenAI-shaped JSON (`{"error": {message, type, param,
code}}`) with the matching status. Logs hold key names, model ids, counts and times, never message content;
messages are desensitized before they reach the model.
"""

from __future__ import annotations

import json
import math
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, Literal

from fastapi import FastAPI, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse, StreamingResponse
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from apps.config import ModelEntry, ServeConfig
from apps.engine import Assistant, InputRejected, Turn
from apps.keys import ApiKey, KeyStore
from veritune.logs import get_logger

log = get_logger("serve")


class ApiError(Exception):
    def __init__(self, status: int, message: str, kind: str = "invalid_request_error", code: str | None = None,
                 param: str | None = None, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status, self.message, self.kind, self.code, self.param = status, message, kind, code, param
        self.headers = headers or {}

    def body(self) -> dict[str, Any]:
        return {"error": {"message": self.message, "type": self.kind, "param": self.param, "code": self.code}}


class Message(BaseModel):
    model_config = ConfigDict(extra="ignore")
    role: Literal["system", "user", "assistant"]
    content: str


class StreamOptions(BaseModel):
    model_config = ConfigDict(extra="ignore")
    include_usage: bool = False


class ChatRequest(BaseModel):
    """The fields of OpenAI's chat completion request that this server honours; others are ignored."""

    model_config = ConfigDict(extra="ignore")
    model: str
    messages: list[Message] = Field(min_length=1)
    stream: bool = False
    stream_options: StreamOptions | None = None
    max_tokens: int | None = Field(default=None, ge=1, le=4096)
    max_completion_tokens: int | None = Field(default=None, ge=1, le=4096)
    min_tokens: int = Field(default=0, ge=0, le=4096, description="vLLM's extension: generate at least this many")


class RateLimiter:
    """Moving-window limits per key, with the `limits` library (slowapi's decorators were measured to skip
    APIRouter routes on current FastAPI, so the check is explicit)."""

    def __init__(self) -> None:
        from limits.storage import MemoryStorage
        from limits.strategies import MovingWindowRateLimiter

        self._limiter = MovingWindowRateLimiter(MemoryStorage())

    def check(self, key: ApiKey) -> None:
        from limits import parse_many

        for limit in parse_many(key.rate):
            if not self._limiter.hit(limit, "key", str(key.id)):
                reset = self._limiter.get_window_stats(limit, "key", str(key.id)).reset_time
                retry = max(1, math.ceil(reset - time.time()))
                raise ApiError(429, f"rate limit {key.rate} reached for this key; retry in {retry} s",
                               "rate_limit_error", "rate_limit_exceeded", headers={"Retry-After": str(retry)})


@dataclass
class Served:
    entry: ModelEntry
    assistant: Assistant


def _parse_request(raw: bytes, limit: int) -> ChatRequest:
    if len(raw) > limit:
        raise ApiError(413, f"request body of {len(raw)} bytes exceeds the limit of {limit}", code="body_too_large")
    try:
        data = json.loads(raw)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ApiError(400, f"malformed JSON body: {exc.msg if hasattr(exc, 'msg') else 'not UTF-8'}",
                       code="invalid_json") from None
    try:
        return ChatRequest.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        param = ".".join(str(part) for part in first["loc"]) or None
        raise ApiError(400, f"{param}: {first['msg']}", param=param, code="invalid_value") from None


class ChatService:
    """Everything between an authenticated request and its tokens: access, limits, generation, the ledger."""

    def __init__(self, config: ServeConfig, keys: KeyStore, served: dict[str, Served],
                 limiter: RateLimiter | None = None) -> None:
        self.config, self.keys, self.served = config, keys, served
        self.limiter = limiter or RateLimiter()
        self._quota_lock = threading.Lock()

    def authenticate(self, header: str | None) -> ApiKey:
        if not header or not header.startswith("Bearer "):
            raise ApiError(401, "missing API key: send 'Authorization: Bearer <key>'", "authentication_error",
                           "missing_api_key")
        key = self.keys.authenticate(header.removeprefix("Bearer ").strip())
        if key is None:
            raise ApiError(401, "invalid API key", "authentication_error", "invalid_api_key")
        if key.revoked:
            raise ApiError(401, "this API key has been revoked", "authentication_error", "revoked_api_key")
        return key

    def admit(self, key: ApiKey, request: ChatRequest) -> Served:
        served = self.served.get(request.model)
        if served is None:
            raise ApiError(404, f"the model {request.model!r} does not exist; GET /v1/models lists them",
                           code="model_not_found", param="model")
        if not key.allows(request.model):
            raise ApiError(403, f"this key may not use the model {request.model!r}", "permission_error",
                           "model_not_allowed", param="model")
        if key.quota is not None and self.keys.tokens_used(key) >= key.quota:
            raise ApiError(429, f"the token quota of this key ({key.quota}) is used up", "insufficient_quota",
                           "insufficient_quota")
        self.limiter.check(key)
        return served

    def _limits(self, request: ChatRequest) -> tuple[int, int]:
        max_tokens = request.max_completion_tokens or request.max_tokens or self.config.default_max_tokens
        return max_tokens, min(request.min_tokens, max_tokens)

    def turns(self, served: Served, request: ChatRequest) -> Iterator[Turn]:
        """Streaming: the turn as it grows."""
        max_tokens, min_tokens = self._limits(request)
        try:
            yield from served.assistant.chat([m.model_dump() for m in request.messages], rag=served.entry.rag,
                                             max_new_tokens=max_tokens, min_new_tokens=min_tokens)
        except InputRejected as exc:
            raise ApiError(400, str(exc), param="messages", code="invalid_input") from None

    def complete(self, served: Served, request: ChatRequest) -> Turn:
        """Non-streaming: through the model's batcher."""
        max_tokens, min_tokens = self._limits(request)
        try:
            return served.assistant.complete([m.model_dump() for m in request.messages], rag=served.entry.rag,
                                             max_new_tokens=max_tokens, min_new_tokens=min_tokens)
        except InputRejected as exc:
            raise ApiError(400, str(exc), param="messages", code="invalid_input") from None

    def settle(self, key: ApiKey, served: Served, turn: Turn) -> dict[str, int]:
        self.keys.record(key, served.entry.id, turn.prompt_tokens, turn.completion_tokens, turn.cost, turn.seconds)
        log.info("key=%s model=%s prompt_tokens=%d completion_tokens=%d masked=%s seconds=%.3f", key.name,
                 served.entry.id, turn.prompt_tokens, turn.completion_tokens, turn.masked, turn.seconds)
        return {"prompt_tokens": turn.prompt_tokens, "completion_tokens": turn.completion_tokens,
                "total_tokens": turn.prompt_tokens + turn.completion_tokens}


def _extras(served: Served, turn: Turn) -> dict[str, Any]:
    """Fields beside OpenAI's: the `openai` client keeps unknown fields, so `response.citations` reads them."""
    extras: dict[str, Any] = {"veritune": {"masked": turn.masked, "cost": round(turn.cost, 8),
                                           "seconds": round(turn.seconds, 4)}}
    if served.entry.rag:
        extras["citations"] = [{"n": n, "doc_id": hit.doc_id, "score": round(float(hit.score), 6), "text": hit.text}
                               for n, hit in enumerate(turn.hits, start=1)]
        extras["veritune"]["groundedness"] = turn.groundedness
    return extras


def _finish_reason(turn: Turn, request: ChatRequest, default_max: int) -> str:
    limit = request.max_completion_tokens or request.max_tokens or default_max
    return "length" if turn.completion_tokens >= limit else "stop"


def create_api(config: ServeConfig, keys: KeyStore, served: dict[str, Served],
               apps: dict[str, Any] | None = None) -> FastAPI:
    """The FastAPI app. `apps` maps a name to a Gradio Blocks mounted at /ui/<name>."""
    service = ChatService(config, keys, served)
    api = FastAPI(title="veritune", version="1", docs_url="/docs", redoc_url=None)

    @api.exception_handler(ApiError)
    async def _api_error(request: Request, exc: ApiError) -> JSONResponse:
        return JSONResponse(exc.body(), status_code=exc.status, headers=exc.headers)

    @api.get("/health")
    async def health() -> dict[str, Any]:
        return {"status": "ok", "models": sorted(served), "apps": sorted(apps or {})}

    @api.get("/v1/models")
    async def models(request: Request) -> dict[str, Any]:
        key = service.authenticate(request.headers.get("authorization"))
        data = [{"id": name, "object": "model", "created": 0, "owned_by": "veritune", "domain": s.entry.domain,
                 "rag": s.entry.rag} for name, s in sorted(served.items()) if key.allows(name)]
        return {"object": "list", "data": data}

    @api.get("/v1/usage")
    async def usage(request: Request) -> dict[str, Any]:
        key = service.authenticate(request.headers.get("authorization"))
        return await run_in_threadpool(keys.usage, key)

    @api.post("/v1/chat/completions")
    async def chat_completions(request: Request) -> Any:
        key = service.authenticate(request.headers.get("authorization"))
        chat = _parse_request(await request.body(), config.max_body_bytes)
        target = service.admit(key, chat)
        completion_id = f"chatcmpl-{uuid.uuid4().hex[:24]}"
        if chat.stream:
            first = await run_in_threadpool(_first_turn, service.turns(target, chat))
            return StreamingResponse(_sse(service, key, target, chat, first, completion_id),
                                     media_type="text/event-stream")
        turn = await run_in_threadpool(service.complete, target, chat)
        body = {"id": completion_id, "object": "chat.completion", "created": int(time.time()), "model": chat.model,
                "choices": [{"index": 0, "message": {"role": "assistant", "content": turn.text},
                             "finish_reason": _finish_reason(turn, chat, config.default_max_tokens)}],
                "usage": service.settle(key, target, turn), **_extras(target, turn)}
        return JSONResponse(body)

    for name, blocks in (apps or {}).items():
        import gradio as gr

        from apps.launch import launch_kwargs

        blocks.queue(max_size=32, default_concurrency_limit=2)
        api = gr.mount_gradio_app(api, blocks, path=f"/ui/{name}", max_file_size="1mb", **launch_kwargs())
    return api


@dataclass
class _Started:
    turns: Iterator[Turn]
    turn: Turn


def _first_turn(turns: Iterator[Turn]) -> _Started:
    """Run up to the first yield (input checks, desensitization, retrieval) before the stream starts, so bad
    input still gets a JSON error with its status instead of a broken stream."""
    return _Started(turns, next(turns))


def _sse(service: ChatService, key: ApiKey, served: Served, chat: ChatRequest, started: _Started,
         completion_id: str) -> Iterator[str]:
    created = int(time.time())

    def chunk(delta: dict[str, Any], finish: str | None = None, **extra: Any) -> str:
        body = {"id": completion_id, "object": "chat.completion.chunk", "created": created, "model": chat.model,
                "choices": [{"index": 0, "delta": delta, "finish_reason": finish}], **extra}
        return f"data: {json.dumps(body, ensure_ascii=False)}\n\n"

    turn, sent = started.turn, 0
    yield chunk({"role": "assistant", "content": ""})
    try:
        for turn in started.turns:
            if len(turn.text) > sent and not turn.done:
                yield chunk({"content": turn.text[sent:]})
                sent = len(turn.text)
    finally:
        usage = service.settle(key, served, turn)  # also when the client went away: the tokens were spent
    yield chunk({}, _finish_reason(turn, chat, service.config.default_max_tokens), **_extras(served, turn))
    if chat.stream_options and chat.stream_options.include_usage:
        body = {"id": completion_id, "object": "chat.completion.chunk", "created": created, "model": chat.model,
                "choices": [], "usage": usage}
        yield f"data: {json.dumps(body)}\n\n"
    yield "data: [DONE]\n\n"


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
                apps[entry.domain] = app_kind(entry.domain).build(main, variants=variants)
    return create_api(config, KeyStore(config.keys), served, apps)


def run_server(config: ServeConfig) -> None:
    import uvicorn

    from apps.launch import offline_gradio_env

    offline_gradio_env()
    api = build_server(config)
    log.info("serving %s on http://%s:%d", ", ".join(e.id for e in config.models) or "the demo models",
             config.host, config.port)
    uvicorn.run(api, host=config.host, port=config.port, log_level="warning", access_log=False)
