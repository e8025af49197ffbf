"""The one manifest schema every stage writes: what was made, from what, how, and with which versions.

A manifest is written last and atomically, so a file or folder without a valid manifest is not finished.
For a folder artefact it is `<folder>/manifest.json`; for a file artefact `X` it is `X.manifest.json` beside it.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from veritune import __version__
from veritune.atomic import write_json
from veritune.errors import VeritunError
from veritune.hashing import sha256_file
from veritune.versions import package_versions

MANIFEST_FORMAT = 1
FOLDER_MANIFEST = "manifest.json"


class FileRecord(BaseModel):
    """One input or output file. Output paths are relative to the manifest's folder, so artefacts can move."""

    model_config = ConfigDict(extra="forbid")
    path: str
    sha256: str
    bytes: int


class Manifest(BaseModel):
    """What every stage writes beside its outputs."""

    model_config = ConfigDict(extra="forbid")
    kind: str = Field(description="artefact kind: base_model, dataset, finetune_run, index, eval, ...")
    format_version: int = MANIFEST_FORMAT
    veritune_version: str = __version__
    created: str = Field(default_factory=lambda: datetime.now(UTC).isoformat(timespec="seconds"))
    config: dict[str, Any] = Field(default_factory=dict, description="the resolved configuration of the run")
    seed: int | None = None
    packages: dict[str, str] = Field(default_factory=package_versions)
    inputs: list[FileRecord] = Field(default_factory=list)
    outputs: list[FileRecord] = Field(default_factory=list)
    stats: dict[str, Any] = Field(default_factory=dict, description="stage statistics (counts, timings)")
    desensitized: bool = Field(default=False, description="true only for data that passed the desensitization")


def file_record(path: Path, relative_to: Path | None = None) -> FileRecord:
    shown = path.relative_to(relative_to).as_posix() if relative_to is not None else str(path)
    return FileRecord(path=shown, sha256=sha256_file(path), bytes=path.stat().st_size)


def folder_records(folder: Path, skip: tuple[str, ...] = (FOLDER_MANIFEST,)) -> list[FileRecord]:
    """Records for every file under `folder` (sorted, manifest excluded)."""
    files = sorted(p for p in folder.rglob("*") if p.is_file() and p.name not in skip)
    return [file_record(p, relative_to=folder) for p in files]


def manifest_path_for(artefact: Path) -> Path:
    return artefact / FOLDER_MANIFEST if artefact.is_dir() else artefact.with_name(artefact.name + ".manifest.json")


def write_manifest(target: Path, manifest: Manifest) -> Path:
    write_json(target, manifest.model_dump(mode="json"))
    return target


def read_manifest(path: Path) -> Manifest:
    """Load a manifest, or fail with one line naming the file and the field that is wrong."""
    if not path.is_file():
        raise VeritunError("manifest not found", path=path)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise VeritunError(f"manifest is not valid JSON ({exc.__class__.__name__})", path=path) from None
    try:
        return Manifest.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        field = ".".join(str(part) for part in first["loc"])
        raise VeritunError(first["msg"], path=path, field=field) from None


def verify_outputs(manifest: Manifest, folder: Path, manifest_file: Path) -> None:
    """Fail if any output the manifest lists is missing or differs from its recorded sha256."""
    for record in manifest.outputs:
        file = folder / record.path
        if not file.is_file():
            raise VeritunError(f"listed output {record.path} is missing", path=manifest_file, field="outputs")
        if sha256_file(file) != record.sha256:
            raise VeritunError(
                f"{record.path} does not match its recorded sha256 (changed or truncated after it was written)",
                path=manifest_file, field="outputs",
            )
