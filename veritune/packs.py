"""Domain packs: `domains/<name>/pack.yaml` names a pack's data and configuration. Adding a domain is adding a
folder; nothing in the engine lists domains by name."""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from veritune.config import read_yaml, validate
from veritune.errors import VerituneError
from veritune.jsonl import iter_jsonl

PACK_FILE = "pack.yaml"
Language = Literal["en", "zh"]


class PackSpec(BaseModel):
    """The schema of `pack.yaml`. Paths are relative to the pack folder."""

    model_config = ConfigDict(extra="forbid")
    name: str = Field(description="domain name; also the `domain` metadata value of its documents")
    version: int = Field(ge=1, description="bump when the pack's data changes meaning")
    description: str = Field(description="what the pack covers, one paragraph")
    languages: list[Language] = Field(min_length=1, description="languages of its data (en, zh)")
    knowledge_base: str = Field(description="JSONL of {id, title, lang, text, ...metadata}")
    raw_templates: str = Field(description="YAML templates for the seeded synthetic raw-record generator")
    raw_records: int = Field(default=200, ge=1, description="how many raw records the demo generates")
    sft: dict[str, str] = Field(description="SFT files in `messages` format, by name")
    preferences: dict[str, str] = Field(default_factory=dict, description="preference files for DPO, by name: "
                                        "`prompt` (user messages), `chosen` and `rejected` (assistant messages)")
    eval_sets: dict[str, str] = Field(description="held-out eval files, by name")
    dev_sets: dict[str, str] = Field(default_factory=dict, description="tuning files (from SFT entries), by name")
    entities: list[str] = Field(min_length=1, description="entity types to desensitize in this domain")
    allow_list: str | None = Field(default=None, description="terms that are never PII here (one a line)")
    recognizers: list[str] = Field(default_factory=list, description="extra recognizers, by registry name")
    recipes: dict[str, str] = Field(default_factory=dict, description="fine-tune recipes, by name")
    eval_tasks: list[str] = Field(default_factory=list, description="eval task names this pack provides")


@dataclass(frozen=True)
class Pack:
    spec: PackSpec
    root: Path

    @property
    def name(self) -> str:
        return self.spec.name

    def path(self, relative: str) -> Path:
        return self.root / relative

    @property
    def knowledge_base(self) -> Path:
        return self.path(self.spec.knowledge_base)

    def sft_files(self) -> dict[str, Path]:
        return {name: self.path(rel) for name, rel in self.spec.sft.items()}

    def preference_files(self) -> dict[str, Path]:
        return {name: self.path(rel) for name, rel in self.spec.preferences.items()}

    def eval_files(self) -> dict[str, Path]:
        return {name: self.path(rel) for name, rel in self.spec.eval_sets.items()}

    def dev_files(self) -> dict[str, Path]:
        """Tuning files by name: `retrieval` (questions for the fusion weights), `findings` (labelled sentences)."""
        return {name: self.path(rel) for name, rel in self.spec.dev_sets.items()}

    def kb_records(self) -> Iterator[dict[str, Any]]:
        for _, row in iter_jsonl(self.knowledge_base):
            yield row

    def kb_texts(self) -> Iterator[str]:
        """Each knowledge-base passage as text: its title, then its body."""
        for row in self.kb_records():
            yield f"{row.get('title', '')}\n{row['text']}"

    def corpus_texts(self) -> Iterator[str]:
        """The pack's training text: knowledge base and SFT messages (never the eval sets)."""
        yield from self.kb_texts()
        for path in self.sft_files().values():
            for _, row in iter_jsonl(path):
                for message in row.get("messages", []):
                    yield message["content"]


def default_domains_root() -> Path:
    env = os.environ.get("VERITUNE_DOMAINS")
    return Path(env) if env else Path(__file__).resolve().parent.parent / "domains"


def list_packs(domains_root: Path | None = None) -> list[str]:
    root = domains_root or default_domains_root()
    if not root.is_dir():
        return []
    return sorted(p.name for p in root.iterdir() if (p / PACK_FILE).is_file())


def _check_files(spec: PackSpec, root: Path, pack_file: Path) -> None:
    named: list[tuple[str, str | None]] = [
        ("knowledge_base", spec.knowledge_base), ("raw_templates", spec.raw_templates),
        ("allow_list", spec.allow_list),
    ]
    named += [(f"sft.{k}", v) for k, v in spec.sft.items()]
    named += [(f"preferences.{k}", v) for k, v in spec.preferences.items()]
    named += [(f"eval_sets.{k}", v) for k, v in spec.eval_sets.items()]
    named += [(f"dev_sets.{k}", v) for k, v in spec.dev_sets.items()]
    named += [(f"recipes.{k}", v) for k, v in spec.recipes.items()]
    for field, relative in named:
        if relative is not None and not (root / relative).is_file():
            raise VerituneError(f"names {relative}, which does not exist", path=pack_file, field=field)


def load_pack(name_or_path: str | Path, domains_root: Path | None = None) -> Pack:
    """Load a pack by name (a folder under the domains root) or by path; every file it names must exist."""
    candidate = Path(name_or_path)
    root = candidate if (candidate / PACK_FILE).is_file() else (domains_root or default_domains_root()) / str(
        name_or_path)
    pack_file = root / PACK_FILE
    if not pack_file.is_file():
        known = ", ".join(list_packs(domains_root)) or "none"
        raise VerituneError(f"no domain pack here (known packs: {known})", path=pack_file)
    spec = validate(PackSpec, read_yaml(pack_file), pack_file)
    _check_files(spec, root, pack_file)
    return Pack(spec=spec, root=root)


def load_all_packs(domains_root: Path | None = None) -> list[Pack]:
    return [load_pack(name, domains_root) for name in list_packs(domains_root)]
