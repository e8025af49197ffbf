"""A pseudonym vault: the same real value always maps to the same fake one, across a whole corpus and across runs.

SQLite, protected by a key: lookups go through an HMAC of the value, and the real value is stored only encrypted
(Fernet), so the vault file alone reveals nothing. Pseudonyms are unique per entity type: Faker's zh_CN names
collide about 30 % of the time at 5,000 people, and two people must never share a pseudonym.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import random
import sqlite3
from collections.abc import Callable
from pathlib import Path

from cryptography.fernet import Fernet, InvalidToken

from veritune.errors import VerituneError

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (name TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS mapping (
    entity_type TEXT NOT NULL,
    value_mac TEXT NOT NULL,
    pseudonym TEXT NOT NULL,
    original BLOB NOT NULL,
    PRIMARY KEY (entity_type, value_mac),
    UNIQUE (entity_type, pseudonym)
);
"""
MAX_DRAWS = 20
Generator = Callable[[random.Random], str]


class PseudonymVault:
    def __init__(self, path: Path, secret: str) -> None:
        self.path = path
        self._mac_key = hashlib.sha256(b"veritune-vault-mac:" + secret.encode()).digest()
        self._fernet = Fernet(base64.urlsafe_b64encode(hashlib.sha256(b"veritune-vault-enc:" + secret.encode())
                                                       .digest()))
        path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(path, timeout=60, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.executescript(_SCHEMA)
        self._check_key()
        self.collisions = 0

    def _check_key(self) -> None:
        check = hmac.new(self._mac_key, b"key-check", "sha256").hexdigest()
        row = self._db.execute("SELECT value FROM meta WHERE name = 'key_check'").fetchone()
        if row is None:
            self._db.execute("INSERT OR IGNORE INTO meta VALUES ('key_check', ?)", (check,))
        elif row[0] != check:
            raise VerituneError("this vault was created with a different key", path=self.path)

    def _mac(self, entity_type: str, value: str) -> str:
        return hmac.new(self._mac_key, f"{entity_type}\x00{value}".encode(), "sha256").hexdigest()

    def pseudonym(self, entity_type: str, value: str, generate: Generator) -> str:
        """The pseudonym of `value`, drawing a new, unused one the first time it is seen."""
        mac = self._mac(entity_type, value)
        found = self._lookup(entity_type, mac)
        if found is not None:
            return found
        rng = random.Random(mac)  # the first draw for a value is reproducible across vaults with the same key
        self._db.execute("BEGIN IMMEDIATE")
        try:
            found = self._lookup(entity_type, mac)  # another worker may have added it meanwhile
            if found is None:
                found = self._insert_unique(entity_type, mac, value, generate, rng)
            self._db.execute("COMMIT")
        except BaseException:
            self._db.execute("ROLLBACK")
            raise
        return found

    def _lookup(self, entity_type: str, mac: str) -> str | None:
        row = self._db.execute("SELECT pseudonym FROM mapping WHERE entity_type = ? AND value_mac = ?",
                               (entity_type, mac)).fetchone()
        return row[0] if row else None

    def _insert_unique(self, entity_type: str, mac: str, value: str, generate: Generator, rng: random.Random) -> str:
        original = self._fernet.encrypt(value.encode())
        for draw in range(MAX_DRAWS + 1):
            candidate = generate(rng) if draw < MAX_DRAWS else f"{generate(rng)}-{mac[:6]}"
            try:
                self._db.execute("INSERT INTO mapping VALUES (?, ?, ?, ?)", (entity_type, mac, candidate, original))
                return candidate
            except sqlite3.IntegrityError:
                self.collisions += 1  # the pseudonym belongs to someone else: draw again
        raise VerituneError(f"could not find an unused {entity_type} pseudonym", path=self.path)

    def reveal(self, entity_type: str, pseudonym: str) -> str | None:
        """Re-identify (for the key holder only): the real value behind a pseudonym."""
        row = self._db.execute("SELECT original FROM mapping WHERE entity_type = ? AND pseudonym = ?",
                               (entity_type, pseudonym)).fetchone()
        if row is None:
            return None
        try:
            return self._fernet.decrypt(row[0]).decode()
        except InvalidToken:
            raise VerituneError("vault entry does not decrypt with this key", path=self.path) from None

    def size(self) -> int:
        return self._db.execute("SELECT COUNT(*) FROM mapping").fetchone()[0]

    def close(self) -> None:
        self._db.close()
