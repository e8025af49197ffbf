"""Query vectors are remembered in memory: one question, or one sentence of a checked document, is embedded once
however many retrieval steps need it (search, the abstention check, BM25-only hits' similarity, finding scores)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from retrieval.embedders import VectorMemory, load_embedder
from veritune.errors import VerituneError

DOCUMENT = ("The branch reported the large cash deposit within the required time. "
            "The account was opened before the sanctions screening of its beneficial owner was done.")


def fresh(folder: Path, cache):
    """The index at `folder` with its own, empty query memory."""
    from retrieval.index import RetrievalIndex

    return RetrievalIndex.load(folder, cache)


@pytest.fixture(scope="module")
def saved(index, tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("memo") / "idx"
    index.save(folder)
    return folder


def test_a_question_is_embedded_once_by_search_and_abstention_check(index, saved: Path) -> None:
    from retrieval.answer import retrieve

    first = fresh(saved, index.cache)
    hits, weak = retrieve(first, "What are the red flags of acute coronary syndrome?", k=4, filters={"lang": "en"})
    assert first.queries.embedded == 1 and not weak and hits[0].doc_id == "MED-C001-EN"
    again, _ = retrieve(first, "What are the red flags of acute coronary syndrome?", k=4, filters={"lang": "en"})
    assert first.queries.embedded == 1
    assert [(h.chunk_id, h.score, h.dense_score) for h in again] == [(h.chunk_id, h.score, h.dense_score)
                                                                        for h in hits]


def test_a_checked_documents_sentences_are_embedded_once_each(index, saved: Path, tmp_path: Path) -> None:
    from retrieval import RETRIEVERS
    from retrieval.findings import read_findings
    from tests.retrieval.test_findings import FINDINGS

    scored = fresh(saved, index.cache)
    scored.learn_findings(read_findings(FINDINGS), source=str(FINDINGS))
    scored.save(tmp_path / "idx")
    checked = fresh(tmp_path / "idx", index.cache)
    hits, _ = RETRIEVERS.get("per_sentence")(checked, DOCUMENT, k=1, filters={"lang": "en"})
    assert hits and all("finding_score" in hit.metadata for hit in hits)
    assert checked.queries.embedded == 2   # two sentences: scored, then searched, from the same vectors


def test_the_memory_keeps_the_latest_and_forgets_the_oldest() -> None:
    embedder = load_embedder("minilm")
    memory = VectorMemory(size=2)
    texts = ["chest pain at rest", "wire transfer screening", "fee disclosure"]
    vectors = memory(texts, embedder.queries, embedder.name)
    assert memory.embedded == 3 and np.array_equal(vectors[1], embedder.queries([texts[1]])[0])
    memory(texts[1:], embedder.queries, embedder.name)   # the two latest: remembered
    assert memory.embedded == 3
    memory(texts[:1], embedder.queries, embedder.name)   # the oldest was forgotten
    assert memory.embedded == 4
    memory([texts[0], texts[0]], embedder.queries, embedder.name)   # a text twice in one call is embedded once
    assert memory.embedded == 4


def test_the_memory_keeps_digests_not_text() -> None:
    memory = VectorMemory()
    memory(["Patient John Smith reports chest pain"], load_embedder("minilm").queries, "minilm")
    assert memory._vectors and all(isinstance(key, bytes) and len(key) == 16 and b"John" not in key
                                   for key in memory._vectors)


def test_a_memory_without_room_is_an_error() -> None:
    with pytest.raises(VerituneError, match="at least one"):
        VectorMemory(size=0)
