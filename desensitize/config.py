"""Settings of `veritune desensitize` (no heavy imports, so the CLI validates them before spaCy loads)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field


class DesensitizeConfig(BaseModel):
    """Each field is a CLI option or a `key=value` override."""

    model_config = ConfigDict(extra="forbid")
    field: str = Field(default="text", description="the field to desensitize: a string, or a list of chat messages "
                                                   "whose `content` is desensitized; several fields comma-separated "
                                                   "(prompt,chosen,rejected), replaced as one document")
    lang: Literal["auto", "en", "zh"] = Field(default="auto", description="language, or detect per record")
    domain: str | None = Field(default=None, description="a pack: its entity types, allow list and recognizers")
    operator: Literal["tag", "mask", "hash", "encrypt", "pseudonym"] = Field(
        default="tag", description="tag: <PERSON_1>; mask: ***; hash: keyed SHA-256; encrypt: reversible with the "
        "key; pseudonym: a consistent fake value")
    workers: int = Field(default=1, ge=1, le=64, description="worker processes (each loads spaCy once)")
    batch_size: int = Field(default=64, ge=1, description="records per spaCy `nlp.pipe` batch")
    threshold: float = Field(default=0.4, gt=0, le=1, description="Presidio score threshold")
    ner: Literal["focused", "full"] = Field(
        default="focused", description="where spaCy's English NER runs: focused, around the words that could belong "
        "to a selected entity (names, places, dates; organisations when selected); full, every token")
    skip_bad: bool = Field(default=False, description="send bad lines to OUT.rejects.jsonl instead of failing")
    key_file: str | None = Field(default=None, description="secret for hash / encrypt / pseudonym")
    vault: str | None = Field(default=None, description="pseudonym vault (default: beside OUT)")

    @property
    def fields(self) -> list[str]:
        """The fields named by `field`, in order."""
        return split_fields(self.field)


def split_fields(value: str) -> list[str]:
    """'prompt, chosen,rejected' -> ['prompt', 'chosen', 'rejected']: how every stage reads a `field` setting."""
    return [name.strip() for name in value.split(",") if name.strip()]
