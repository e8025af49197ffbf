"""The one manifest schema every stage writes: what was made, from what, how, and with which versions.

A manifest is written last and atomically, so a file or folder without a valid manifest is not finished.
For a folder artefact it is `<folder>/manifest.json`; for a file artefact `X` it is `X.manifest.json` beside it.

Every manifest is signed: an HMAC-SHA256 over its content (which holds the sha256 of every output) with a local
key, `VERITUNE_MANIFEST_KEY` or the key file `VERITUNE_MANIFEST_KEY_FILE` (default
`~/.config/veritune/manifest.key`, made on first use, 0600). The gate and the run checks refuse a manifest whose
signature does not verify, so a manifest that was edited, or copied from a machine with another key, does not
vouch for data. A team that moves artefacts between machines shares the key.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import secrets
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from veritune import __version__
from veritune.atomic import write_json
from veritune.errors import VerituneError
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
    signature: str | None = Field(default=None, description="HMAC-SHA256 of the rest with this machine's manifest "
                                                            "key; written by write_manifest")


MANIFEST_KEY_ENV = "VERITUNE_MANIFEST_KEY"
MANIFEST_KEY_FILE_ENV = "VERITUNE_MANIFEST_KEY_FILE"


def manifest_key_file() -> Path:
    configured = os.environ.get(MANIFEST_KEY_FILE_ENV)
    if configured:
        return Path(configured)
    config_home = Path(os.environ.get("XDG_CONFIG_HOME") or Path.home() / ".config")
    return config_home / "veritune" / "manifest.key"


def manifest_key() -> bytes:
    """The signing key: the environment's, or the key file's (created, owner-only, on first use)."""
    from_env = os.environ.get(MANIFEST_KEY_ENV)
    if from_env:
        return from_env.encode("utf-8")
    path = manifest_key_file()
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:           # another process made it first: use theirs
            pass
        else:
            with os.fdopen(fd, "w") as handle:
                handle.write(secrets.token_hex(32) + "\n")
    key = path.read_bytes().strip()
    if not key:
        raise VerituneError("the manifest key file is empty", path=path)
    return key


def sign(manifest: Manifest) -> str:
    content = json.dumps(manifest.model_dump(mode="json", exclude={"signature"}), sort_keys=True,
                         separators=(",", ":"), ensure_ascii=False).encode("utf-8")
    return hmac.new(manifest_key(), content, hashlib.sha256).hexdigest()


def check_signature(manifest: Manifest, path: Path) -> None:
    """Refuse a manifest this machine's key did not sign (edited, or made with another key)."""
    if manifest.signature is None:
        raise VerituneError("the manifest is not signed (made by an older veritune): re-run the command that made "
                            "it", path=path, field="signature")
    if not hmac.compare_digest(manifest.signature, sign(manifest)):
        raise VerituneError(f"the manifest's signature does not verify: it was edited, or made with another "
                            f"manifest key (set {MANIFEST_KEY_ENV} to the key of the machine that made it)",
                            path=path, field="signature")


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
    signed = manifest.model_copy(update={"signature": sign(manifest)})
    write_json(target, signed.model_dump(mode="json"))
    return target


def read_manifest(path: Path) -> Manifest:
    """Load a manifest, or fail with one line naming the file and the field that is wrong."""
    if not path.is_file():
        raise VerituneError("manifest not found", path=path)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise VerituneError(f"manifest is not valid JSON ({exc.__class__.__name__})", path=path) from None
    try:
        return Manifest.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        field = ".".join(str(part) for part in first["loc"])
        raise VerituneError(first["msg"], path=path, field=field) from None


def verify_outputs(manifest: Manifest, folder: Path, manifest_file: Path, only_listed: bool = False) -> None:
    """Fail if any output the manifest lists is missing or differs from its recorded sha256; with `only_listed`,
    also if the folder holds a file the manifest does not list (a reader of the folder would read it unchecked)."""
    if only_listed:
        listed = {record.path for record in manifest.outputs}
        extra = [p.relative_to(folder).as_posix() for p in sorted(folder.rglob("*"))
                 if p.is_file() and p != manifest_file and p.relative_to(folder).as_posix() not in listed]
        if extra:
            raise VerituneError(f"{extra[0]} is in the folder but not in its manifest"
                                + (f" (and {len(extra) - 1} more)" if len(extra) > 1 else ""),
                                path=manifest_file, field="outputs")
    for record in manifest.outputs:
        file = folder / record.path
        if not file.is_file():
            raise VerituneError(f"listed output {record.path} is missing", path=manifest_file, field="outputs")
        if sha256_file(file) != record.sha256:
            raise VerituneError(
                f"{record.path} does not match its recorded sha256 (changed or truncated after it was written)",
                path=manifest_file, field="outputs",
            )
