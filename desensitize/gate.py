"""The gate before training and indexing: data must carry a valid desensitization manifest whose sha256 matches
the file, unless the user explicitly overrides it (`--allow-raw`)."""

from __future__ import annotations

from pathlib import Path

from veritune.errors import VeritunError
from veritune.hashing import sha256_file
from veritune.logs import get_logger
from veritune.manifest import Manifest, manifest_path_for, read_manifest

log = get_logger("gate")
OVERRIDE_HINT = ("run `veritune desensitize` on it first, or pass --allow-raw if you are sure it holds no "
                 "personal data")


def require_desensitized(path: str | Path, allow_raw: bool = False) -> Manifest | None:
    """Return the manifest of desensitized data at `path`, or refuse with the reason."""
    path = Path(path)
    if not path.exists():
        raise VeritunError("not found", path=path)
    try:
        manifest = _checked_manifest(path)
    except VeritunError as refusal:
        if allow_raw:
            log.warning("using data that did not pass the desensitization gate (--allow-raw): %s", refusal.message)
            return None
        raise
    return manifest


def _checked_manifest(path: Path) -> Manifest:
    manifest_file = manifest_path_for(path)
    if not manifest_file.is_file():
        raise VeritunError(f"has no desensitization manifest ({manifest_file.name}); {OVERRIDE_HINT}", path=path)
    manifest = read_manifest(manifest_file)
    if not manifest.desensitized:
        raise VeritunError(f"its manifest does not say desensitized: true; {OVERRIDE_HINT}", path=path)
    if path.is_file():
        record = next((r for r in manifest.outputs if r.path == path.name), None)
        if record is None or record.sha256 != sha256_file(path):
            raise VeritunError("changed since it was desensitized (sha256 differs from its manifest); "
                               + OVERRIDE_HINT, path=path)
    else:
        from veritune.manifest import verify_outputs

        verify_outputs(manifest, path, manifest_file)
    return manifest
