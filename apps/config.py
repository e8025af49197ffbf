"""Settings of the apps and the API (no heavy imports: the CLI validates them before models load)."""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, field_validator

from retrieval import AnswerSettings
from veritune.config import validate
from veritune.errors import VerituneError

DEMO_ROOT = Path("runs/demo")


class AssistantSettings(AnswerSettings):
    """One assistant: a domain, a base model, an optional fine-tune run and an optional index, and how it answers
    (the grounded-answer settings it extends: k, abstention, decoding)."""

    model_config = ConfigDict(extra="forbid")
    domain: str = Field(description="domain pack: its desensitization settings, examples and prompts")
    model: str = Field(description="base model: a folder or a hub name")
    adapter: str | None = Field(default=None, description="a finished `veritune finetune` run folder (its adapter is "
                                                          "merged)")
    allow_unfinished: bool = Field(default=False, description="load an adapter whose run folder has no valid manifest "
                                                              "(a crashed or edited run; not recommended)")
    index: str | None = Field(default=None, description="a `veritune index build` folder; None: no retrieval")
    max_input_chars: int = Field(default=6000, ge=1, description="longer questions or documents are refused")
    gpu_hour_price: float = Field(default=2.5, ge=0, description="price of one GPU-hour, for the cost shown")
    max_batch: int = Field(default=16, ge=1, le=256, description="non-streaming API requests that arrive together "
                                                                 "share one padded generate call (1: no batching)")

    def answer_settings(self) -> AnswerSettings:
        """The grounded-answer settings alone (what `retrieval.GroundedAnswerer` takes)."""
        return AnswerSettings(**{name: getattr(self, name) for name in AnswerSettings.model_fields})


def demo_settings(domain: str, root: Path = DEMO_ROOT, **overrides: object) -> AssistantSettings:
    """What `make demo` produced for `domain`, with CLI options on top; a clear error when it is missing."""
    values: dict[str, object] = {"domain": domain, "model": str(root / "base"),
                                 "adapter": str(root / domain / "finetune"), "index": str(root / domain / "index")}
    values.update({key: value for key, value in overrides.items() if value is not None})
    for field in ("model", "adapter", "index"):
        path = values.get(field)
        if isinstance(path, str) and path.startswith(str(root)) and not Path(path).exists():
            raise VerituneError(f"{path} does not exist: run `make demo` first, or pass --{field}", field=field)
    return validate(AssistantSettings, values, "command line")


class ModelEntry(AssistantSettings):
    """One model id of the API: an assistant, with or without retrieval."""

    id: str = Field(description="the model id clients send, e.g. veritune-medical+rag")
    rag: bool = Field(default=False, description="answer the last user turn from retrieved evidence and return "
                                                 "its citations")


class ServeConfig(BaseModel):
    """`veritune serve --config serve.yaml`: each key maps 1:1 to a field here."""

    model_config = ConfigDict(extra="forbid")
    host: str = Field(default="127.0.0.1", description="interface to bind (127.0.0.1: this machine only)")
    port: int = Field(default=8000, ge=0, le=65535, description="TCP port (0: any free port)")
    keys: str = Field(default="runs/serve/keys.sqlite", description="SQLite file of API keys and the usage ledger")
    models: list[ModelEntry] = Field(default_factory=list, description="model ids served; empty: the demo's")
    mount_apps: bool = Field(default=True, description="mount the Gradio apps at /ui/medical and /ui/finance")
    max_body_bytes: int = Field(default=262_144, ge=1024, description="larger request bodies are refused (413)")
    default_max_tokens: int = Field(default=160, ge=1, description="max_tokens when a request gives none")
    ui_rate: str = Field(default="600/minute", description="requests per key to the mounted apps' pages and assets "
                                                           "(their model calls count against the key's own rate)")

    @field_validator("ui_rate")
    @classmethod
    def _rate(cls, rate: str) -> str:
        from apps.keys import check_rate

        return check_rate(rate)


def demo_models(root: Path = DEMO_ROOT, domains: tuple[str, ...] = ("medical", "finance")) -> list[ModelEntry]:
    """What `veritune serve` serves with no config: each demo pack's fine-tuned model, without and with retrieval."""
    entries = []
    for domain in domains:
        settings = demo_settings(domain, root)
        entries.append(ModelEntry(id=f"veritune-{domain}", rag=False, **settings.model_dump()))
        entries.append(ModelEntry(id=f"veritune-{domain}+rag", rag=True, **settings.model_dump()))
    return entries
