"""Rerankers, by name: reorder fused candidates before the top k are cut. No cross-encoder ships inside a PyPI
package for offline use, so the default is `none` (keep the fused order); `cross:<name or path>` uses a
sentence-transformers CrossEncoder where a hub or a local copy is available."""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence

from veritune.errors import VerituneError
from veritune.registry import Registry

# A reranker takes the query and candidate texts and returns one score per text (higher is better).
Reranker = Callable[[str, Sequence[str]], Sequence[float]]
RERANKERS: Registry[Callable[[], Reranker]] = Registry("reranker")


@RERANKERS.register("none")
def _none() -> Reranker:
    return lambda query, texts: [-float(i) for i in range(len(texts))]  # the fused order, unchanged


@functools.lru_cache(maxsize=4)
def load_reranker(name: str) -> Reranker:
    if name.startswith("cross:"):
        try:
            from sentence_transformers import CrossEncoder

            model = CrossEncoder(name[6:], device="cpu")
        except (OSError, ValueError) as exc:
            raise VerituneError(f"cannot load reranker {name[6:]!r} ({exc.__class__.__name__})",
                                field="reranker") from None
        return lambda query, texts: list(model.predict([(query, t) for t in texts]))
    return RERANKERS.get(name)()
