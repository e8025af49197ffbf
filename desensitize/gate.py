"""The gate before training and indexing: data must carry a desensitization manifest signed with this machine's
manifest key whose sha256 matches every file that will be read (a folder may hold no file its manifest does not
list), unless the user explicitly overrides it (`--allow-raw`, which the next stage records in its manifest)."""

from __future__ import annotations

from pathlib import Path

from veritune.errors import VerituneError
from veritune.hashing import sha256_file
from veritune.logs import get_logger
from veritune.manifest import Manifest, check_signature, manifest_path_for, read_manifest, verify_outputs

log = get_logger("gate")
OVERRIDE_HINT = ("run `veritune desensitize` on it first, or pass --allow-raw if you are sure it holds no "
                 "personal data")


def require_desensitized(path: str | Path, allow_raw: bool = False) -> Manifest | None:
    """Return the manifest of desensitized data at `path`, or refuse with the reason."""
    path = Path(path)
    if not path.exists():
        raise VerituneError("not found", path=path)
    try:
        manifest = _checked_manifest(path)
    except VerituneError as refusal:
        if allow_raw:
            log.warning("using data that did not pass the desensitization gate (--allow-raw): %s", refusal.message)
            return None
        raise
    return manifest


def _checked_manifest(path: Path) -> Manifest:
    manifest_file = manifest_path_for(path)
    if not manifest_file.is_file():
        raise VerituneError(f"has no desensitization manifest ({manifest_file.name}); {OVERRIDE_HINT}", path=path)
    manifest = read_manifest(manifest_file)
    try:
        check_signature(manifest, manifest_file)
    except VerituneError as exc:
        raise VerituneError(f"{exc.message}; {OVERRIDE_HINT}", path=path) from None
    if not manifest.desensitized:
        raise VerituneError(f"its manifest does not say desensitized: true; {OVERRIDE_HINT}", path=path)
    if path.is_file():
        record = next((r for r in manifest.outputs if r.path == path.name), None)
        if record is None or record.sha256 != sha256_file(path):
            raise VerituneError("changed since it was desensitized (sha256 differs from its manifest); "
                                + OVERRIDE_HINT, path=path)
    else:
        verify_outputs(manifest, path, manifest_file, only_listed=True)
    return manifest
