"""API keys and the usage ledger of `veritune serve`, in one SQLite file.

Keys are random (256 bits) and stored as their SHA-256 only: the key is printed once, when it is made. A slow
password hash is not needed for keys this long, and it would put a KDF on every request. Each request adds one
ledger row; `/v1/usage` and the quota read sums over them.

Quotas hold under concurrency: before a model runs, the request reserves its prompt and its largest possible
answer in the same SQLite transaction that checks what is left (`BEGIN IMMEDIATE` takes the write lock, so two
servers on one file agree too); when the answer ends, the reservation becomes the ledger row of what was really
used. The file and its WAL are readable by their owner only: they hold the key hashes and who used what.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import secrets
import sqlite3
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from veritune.errors import VerituneError

KEY_PREFIX = "vt-"
SCHEMA = """
CREATE TABLE IF NOT EXISTS keys (
    id INTEGER PRIMARY KEY, name TEXT UNIQUE NOT NULL, hash TEXT UNIQUE NOT NULL, shown TEXT NOT NULL,
    rate TEXT NOT NULL, quota INTEGER, models TEXT NOT NULL, revoked INTEGER NOT NULL DEFAULT 0, created REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS usage (
    id INTEGER PRIMARY KEY, key_id INTEGER NOT NULL REFERENCES keys(id), model TEXT NOT NULL,
    prompt_tokens INTEGER NOT NULL, completion_tokens INTEGER NOT NULL, cost REAL NOT NULL, seconds REAL NOT NULL,
    at REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS usage_by_key ON usage(key_id);
CREATE TABLE IF NOT EXISTS reservations (
    id INTEGER PRIMARY KEY, key_id INTEGER NOT NULL REFERENCES keys(id), tokens INTEGER NOT NULL, at REAL NOT NULL
);
"""
# A reservation left by a server that died mid-answer stops counting after this long.
RESERVATION_TTL_S = 3600.0


class QuotaExceeded(VerituneError):
    """The key's quota cannot hold this request's prompt and at least one answer token."""


@dataclass(frozen=True)
class Reservation:
    id: int | None        # None: the key has no quota, nothing was reserved
    max_tokens: int       # answer tokens granted: the request's, or fewer when only that much quota is left
    capped: bool


@dataclass(frozen=True)
class ApiKey:
    id: int
    name: str
    shown: str            # the first characters, to tell keys apart in listings
    rate: str             # a `limits` expression: "60/minute", "10/second;1000/day"
    quota: int | None     # total tokens allowed; None: unlimited
    models: tuple[str, ...]  # allowed model ids; empty: all
    revoked: bool

    def allows(self, model: str) -> bool:
        return not self.models or model in self.models


def _digest(key: str) -> str:
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


def check_rate(rate: str) -> str:
    from limits import parse_many

    try:
        parse_many(rate)
    except ValueError:
        raise VerituneError(f"rate {rate!r} is not a limit such as 60/minute or 10/second;1000/day",
                            field="rate") from None
    return rate


class KeyStore:
    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.path.touch(mode=0o600, exist_ok=True)
        self._db = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None, timeout=30)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.executescript(SCHEMA)
        self._lock = threading.Lock()
        self._owner_only()

    def _owner_only(self) -> None:
        """The store and SQLite's -wal/-shm beside it: 0600. SQLite gives new -wal/-shm files the database file's
        mode, so a store made here keeps them private; this also mends a store an older version made 0644."""
        for suffix in ("", "-wal", "-shm"):
            file = self.path.with_name(self.path.name + suffix)
            if file.exists():
                file.chmod(0o600)

    def close(self) -> None:
        self._db.close()

    def add(self, name: str, rate: str = "60/minute", quota: int | None = None,
            models: tuple[str, ...] = ()) -> tuple[str, ApiKey]:
        """A new key (returned once, never stored) and its record."""
        if not name.strip():
            raise VerituneError("a key needs a name", field="name")
        if quota is not None and quota <= 0:
            raise VerituneError("the quota must be a positive number of tokens", field="quota")
        key = KEY_PREFIX + secrets.token_urlsafe(32)
        with self._lock:
            try:
                self._db.execute("INSERT INTO keys (name, hash, shown, rate, quota, models, created) "
                                 "VALUES (?, ?, ?, ?, ?, ?, ?)", (name, _digest(key), key[:8] + "…",
                                                                  check_rate(rate), quota, json.dumps(list(models)),
                                                                  time.time()))
            except sqlite3.IntegrityError:
                raise VerituneError(f"a key named {name!r} exists already", path=self.path, field="name") from None
        record = self.find(name)
        assert record is not None
        return key, record

    def _row(self, where: str, value: object) -> ApiKey | None:
        with self._lock:
            row = self._db.execute(f"SELECT id, name, shown, rate, quota, models, revoked FROM keys WHERE {where} = ?",
                                   (value,)).fetchone()
        if row is None:
            return None
        return ApiKey(row[0], row[1], row[2], row[3], row[4], tuple(json.loads(row[5])), bool(row[6]))

    @contextlib.contextmanager
    def _write(self) -> Iterator[None]:
        """One write transaction that holds SQLite's write lock from its first read (`BEGIN IMMEDIATE`), so a
        check and the write it decides agree, across threads and across servers sharing the file."""
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                yield
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")

    def by_id(self, key_id: int) -> ApiKey | None:
        return self._row("id", key_id)

    def find(self, name: str) -> ApiKey | None:
        return self._row("name", name)

    def authenticate(self, key: str) -> ApiKey | None:
        return self._row("hash", _digest(key)) if key.startswith(KEY_PREFIX) else None

    def revoke(self, name: str) -> None:
        with self._lock:
            changed = self._db.execute("UPDATE keys SET revoked = 1 WHERE name = ?", (name,)).rowcount
        if not changed:
            raise VerituneError(f"no key named {name!r}", path=self.path, field="name")

    def list(self) -> list[ApiKey]:
        with self._lock:
            names = [row[0] for row in self._db.execute("SELECT name FROM keys ORDER BY id")]
        return [key for key in map(self.find, names) if key is not None]

    def record(self, key: ApiKey, model: str, prompt_tokens: int, completion_tokens: int, cost: float,
               seconds: float, reservation: Reservation | None = None) -> None:
        """One ledger row; the reservation it settles (if any) is released in the same transaction."""
        with self._write():
            if reservation is not None and reservation.id is not None:
                self._db.execute("DELETE FROM reservations WHERE id = ?", (reservation.id,))
            self._db.execute("INSERT INTO usage (key_id, model, prompt_tokens, completion_tokens, cost, seconds, at) "
                             "VALUES (?, ?, ?, ?, ?, ?, ?)",
                             (key.id, model, prompt_tokens, completion_tokens, cost, seconds, time.time()))

    def release(self, reservation: Reservation) -> None:
        """Give back a reservation whose answer never ran (the model failed)."""
        if reservation.id is not None:
            with self._lock:
                self._db.execute("DELETE FROM reservations WHERE id = ?", (reservation.id,))

    def tokens_used(self, key: ApiKey) -> int:
        """Tokens in the ledger plus those reserved by answers still running."""
        with self._lock:
            return self._committed(key)

    def _committed(self, key: ApiKey) -> int:
        used = self._db.execute("SELECT COALESCE(SUM(prompt_tokens + completion_tokens), 0) FROM usage "
                                "WHERE key_id = ?", (key.id,)).fetchone()[0]
        held = self._db.execute("SELECT COALESCE(SUM(tokens), 0) FROM reservations WHERE key_id = ? AND at > ?",
                                (key.id, time.time() - RESERVATION_TTL_S)).fetchone()[0]
        return int(used) + int(held)

    def reserve(self, key: ApiKey, prompt_tokens: int, max_tokens: int) -> Reservation:
        """Hold `prompt_tokens + max_tokens` of the key's quota, or as many answer tokens as are left (capped), or
        refuse with QuotaExceeded when not even one answer token fits."""
        if key.quota is None:
            return Reservation(None, max_tokens, False)
        with self._write():
            left = key.quota - self._committed(key) - prompt_tokens
            if left < 1:
                raise QuotaExceeded(f"the token quota of this key ({key.quota}) cannot hold this request: "
                                    f"{max(0, left + prompt_tokens)} tokens are left and the prompt alone "
                                    f"takes {prompt_tokens}", field="quota")
            granted = min(max_tokens, left)
            cursor = self._db.execute("INSERT INTO reservations (key_id, tokens, at) VALUES (?, ?, ?)",
                                      (key.id, prompt_tokens + granted, time.time()))
        return Reservation(cursor.lastrowid, granted, granted < max_tokens)
    def usage(self, key: ApiKey) -> dict[str, object]:
        with self._lock:
            rows = self._db.execute("SELECT model, COUNT(*), SUM(prompt_tokens), SUM(completion_tokens), SUM(cost) "
                                    "FROM usage WHERE key_id = ? GROUP BY model ORDER BY model", (key.id,)).fetchall()
        by_model = {model: {"requests": n, "prompt_tokens": p, "completion_tokens": c, "total_tokens": p + c,
                            "cost": round(cost, 8)} for model, n, p, c, cost in rows}
        totals = {field: sum(m[field] for m in by_model.values())
                  for field in ("requests", "prompt_tokens", "completion_tokens", "total_tokens")}
        cost = round(sum(m["cost"] for m in by_model.values()), 8)
        remaining = None if key.quota is None else max(0, key.quota - totals["total_tokens"])
        return {"object": "usage", "key": key.name, **totals, "cost": cost, "quota": key.quota,
                "quota_remaining": remaining, "by_model": by_model}
