"""Run folders: every command writes its outputs, resolved config, seed, versions and manifest into one folder.

    with open_run(out, kind="base_model", config=cfg, seed=seed, inputs=[...]) as run:
        model.save_pretrained(run.path)
        run.stats["params"] = n

The folder is built under a staging name and renamed into place only after the manifest is written, so a crash
never leaves a folder that looks finished.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from veritune.atomic import atomic_dir, write_text
from veritune.errors import VerituneError
from veritune.logs import get_logger
from veritune.manifest import (
    FOLDER_MANIFEST,
    Manifest,
    check_signature,
    file_record,
    folder_records,
    read_manifest,
    verify_outputs,
    write_manifest,
)
from veritune.versions import package_versions

log = get_logger("runs")

RUN_CONFIG = "run_config.yaml"


@dataclass
class Run:
    """A run folder being written. `path` is the staging folder; `final` is where it will appear."""

    path: Path
    final: Path
    kind: str
    config: dict[str, Any]
    seed: int | None
    inputs: list[Path] = field(default_factory=list)
    stats: dict[str, Any] = field(default_factory=dict)
    desensitized: bool = False

    def finish(self) -> Manifest:
        """Write the resolved config and then, last, the manifest over every file in the folder."""
        resolved = {"kind": self.kind, "seed": self.seed, "config": self.config, "packages": package_versions()}
        write_text(self.path / RUN_CONFIG, yaml.safe_dump(resolved, sort_keys=False, allow_unicode=True))
        manifest = Manifest(
            kind=self.kind,
            config=self.config,
            seed=self.seed,
            inputs=[file_record(p) for p in self.inputs if p.is_file()],
            outputs=folder_records(self.path),
            stats=self.stats,
            desensitized=self.desensitized,
        )
        write_manifest(self.path / FOLDER_MANIFEST, manifest)
        return manifest


@contextlib.contextmanager
def open_run(out: str | Path, *, kind: str, config: dict[str, Any], seed: int | None = None,
             inputs: Sequence[Path] = (), overwrite: bool = True) -> Iterator[Run]:
    final = Path(out)
    with atomic_dir(final, overwrite=overwrite) as staging:
        run = Run(path=staging, final=final, kind=kind, config=config, seed=seed, inputs=list(inputs))
        yield run
        run.finish()


def require_finished(folder: str | Path, kind: str, allow_unfinished: bool = False) -> Manifest | None:
    """The manifest of a finished `kind` folder: present, of that kind, signed with this machine's manifest key,
    every listed output intact. Otherwise a clear refusal, or, with `allow_unfinished`, a warning and whatever
    manifest could be read (None when none could)."""
    folder = Path(folder)
    manifest_file = folder / FOLDER_MANIFEST
    manifest = None
    try:
        if not manifest_file.is_file():
            raise VerituneError(f"has no {FOLDER_MANIFEST}: the {kind} did not finish (or this is not its folder); "
                                "run it again, or pass --allow-unfinished if you must", path=folder)
        manifest = read_manifest(manifest_file)
        if manifest.kind != kind:
            raise VerituneError(f"is a {manifest.kind} folder, not a {kind}", path=folder)
        check_signature(manifest, manifest_file)
        verify_outputs(manifest, folder, manifest_file)
    except VerituneError as refusal:
        if not allow_unfinished:
            raise
        log.warning("using an unfinished or unverified %s (--allow-unfinished): %s", kind, refusal)
    return manifest
