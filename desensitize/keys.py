"""Secrets for the keyed operators (hash salt, encryption key, vault key), kept outside the data.

Each comes from a file (`--key-file`, one secret per file) or an environment variable; it is never written into
outputs, manifests or logs (the manifest records a fingerprint so runs can be told apart)."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

from veritune.errors import VerituneError

ENV_VARS = {"hash": "VERITUNE_HASH_SALT", "encrypt": "VERITUNE_ENCRYPT_KEY", "pseudonym": "VERITUNE_VAULT_KEY"}


def load_secret(purpose: str, key_file: Path | None = None) -> str:
    if key_file is not None:
        try:
            secret = key_file.read_text(encoding="utf-8").strip()
        except OSError as exc:
            raise VerituneError(f"cannot read key file ({exc.strerror})", path=key_file) from None
        if not secret:
            raise VerituneError("key file is empty", path=key_file)
        return secret
    secret = os.environ.get(ENV_VARS[purpose], "").strip()
    if not secret:
        raise VerituneError(f"the {purpose} operator needs a secret: pass --key-file FILE or set {ENV_VARS[purpose]}",
                            field="operator")
    return secret


def fingerprint(secret: str) -> str:
    """A short, one-way label of a secret for manifests: equal secrets, equal fingerprints; nothing else."""
    return hashlib.sha256(("veritune-key-fingerprint:" + secret).encode()).hexdigest()[:12]


def aes_key(secret: str) -> str:
    """Presidio's encrypt operator takes a 16/24/32-character key; derive a 32-character one from any secret."""
    return hashlib.sha256(secret.encode()).hexdigest()[:32]
