"""`veritune eval` settings (no heavy imports: task, system and metric names are checked here, before any model
loads)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from retrieval import AnswerSettings

SYSTEMS = ("base", "lora", "lora+rag", "api")
DEFAULT_SYSTEMS = ("base", "lora", "lora+rag")


class EvalConfig(BaseModel):
    """One evaluation run: which tasks, which systems, and how the local systems answer (the same
    `AnswerSettings` the apps and the API answer with; a task's own `max_new_tokens` bounds its answers)."""

    model_config = ConfigDict(extra="forbid")
    tasks: list[str] = Field(min_length=1, description="task names (`veritune eval list`)")
    model: str = Field(description="base model: a folder or a hub name")
    adapters: dict[str, str] = Field(default_factory=dict, description="domain -> fine-tune run folder")
    indexes: dict[str, str] = Field(default_factory=dict, description="domain -> index folder (system lora+rag)")
    systems: list[str] = Field(default_factory=lambda: list(DEFAULT_SYSTEMS), min_length=1,
                               description="any of base, lora, lora+rag, api; scored on the same items")
    limit: int | None = Field(default=None, ge=1, description="items per task (languages alternate); None: all")
    answer: AnswerSettings = Field(default_factory=AnswerSettings, description="retrieval depth, abstention and "
                                   "decoding of the local systems: what the apps and the API use")
    batch_size: int = Field(default=8, ge=1, le=256, description="answers generated together in one padded call "
                            "(greedy decoding gives each the tokens it gets alone)")
    gpu_hour_price: float = Field(default=2.5, ge=0, description="price of one GPU-hour, for the cost figures")
    seed: int = Field(default=0, description="few-shot picks and bootstrap resampling")
    endpoint: str | None = Field(default=None, description="system api: an OpenAI-compatible base URL")
    api_models: dict[str, str] = Field(default_factory=dict, description="system api: domain -> the endpoint's "
                                       "model id")
    api_key_env: str = Field(default="VERITUNE_API_KEY", description="system api: the variable holding the key "
                             "(the key itself is never stored)")
    allow_unfinished: bool = Field(default=False, description="load adapters of runs without a valid manifest")

    @field_validator("systems")
    @classmethod
    def _known_systems(cls, systems: list[str]) -> list[str]:
        unknown = [s for s in systems if s not in SYSTEMS]
        if unknown:
            raise ValueError(f"unknown system {unknown[0]!r} ({', '.join(SYSTEMS)})")
        return systems

    @field_validator("tasks")
    @classmethod
    def _known_tasks(cls, tasks: list[str]) -> list[str]:
        from eval.tasks import get_task

        for name in tasks:
            get_task(name)          # an unknown name says the nearest; a bad task file names its field
        return tasks

    @model_validator(mode="after")
    def _systems_have_what_they_need(self) -> EvalConfig:
        if "api" in self.systems and (not self.endpoint or not self.api_models):
            raise ValueError("system api needs an endpoint and api_models (--endpoint URL --api-model DOMAIN=ID)")
        return self
