from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from retrieval import IndexSettings, build_index
from retrieval.index import RetrievalIndex
from tests.conftest import DOMAINS, run_cli
from veritune.errors import VerituneError


def test_english_query_finds_the_right_document(index: RetrievalIndex) -> None:
    hits = index.search("crushing chest pressure spreading to the left arm with sweating", k=3)
    assert hits[0].doc_id == "MED-C001-EN"
    assert hits[0].metadata["lang"] == "en" and hits[0].metadata["title"] == "Acute coronary syndrome"


def test_chinese_query_finds_the_chinese_document(index: RetrievalIndex) -> None:
    hits = index.search("突发口角歪斜、一侧肢体无力怎么办", k=3)
    assert hits[0].doc_id == "MED-C018-ZH"


@pytest.mark.parametrize("mode", ["dense", "bm25", "hybrid"])
def test_every_mode_ranks_the_gold_document_first(index: RetrievalIndex, mode: str) -> None:
    hits = index.search("cash transactions above 10,000 US dollars currency transaction report", k=3, mode=mode)
    assert hits and hits[0].doc_id == "FIN-RPT-001-EN"


def test_filters_and_domain_isolation(index: RetrievalIndex) -> None:
    hits = index.search("screen customers against sanctions lists before opening an account", k=10,
                        filters={"domain": "medical"})
    assert hits and all(h.metadata["domain"] == "medical" for h in hits)
    zh = index.search("sanctions screening", k=10, filters={"lang": "zh", "domain": "finance"})
    assert [h.doc_id for h in zh] == ["FIN-AML-001-ZH"]


def test_add_and_remove(index: RetrievalIndex, tmp_path: Path) -> None:
    extra = {"id": "NEW-1", "title": "Heat stroke", "lang": "en", "domain": "medical",
             "text": "Heat stroke. Core temperature above 40 C with confusion after exertion in hot weather."}
    before = len(index.chunks)
    assert index.add([extra]) == 1
    assert index.search("confusion and very high body temperature after exercise in the heat", k=1)[0].doc_id == "NEW-1"
    with pytest.raises(VerituneError, match="already in the index: NEW-1"):
        index.add([extra])
    assert index.remove(["NEW-1"]) == 1 and len(index.chunks) == before
    assert all(h.doc_id != "NEW-1" for h in index.search("heat stroke confusion", k=10))
    with pytest.raises(VerituneError, match="not in the index: NEW-1"):
        index.remove(["NEW-1"])


def test_saved_index_round_trips(index: RetrievalIndex, tmp_path: Path) -> None:
    index.save(tmp_path / "copy")
    again = RetrievalIndex.load(tmp_path / "copy", index.cache)
    query = "Which antiplatelet is chewed in acute coronary syndrome?"
    assert [h.chunk_id for h in again.search(query)] == [h.chunk_id for h in index.search(query)]


@pytest.mark.parametrize(
    ("damage", "message"),
    [
        (lambda d: (d / "chunks.jsonl").write_text((d / "chunks.jsonl").read_text()[:200]), "does not match"),
        (lambda d: (d / "dense_en.faiss").write_bytes((d / "dense_en.faiss").read_bytes()[:100]), "does not match"),
        (lambda d: (d / "dense_zh.faiss").unlink(), "is missing"),
        (lambda d: _set_format_version(d / "manifest.json", 99), "format version 99"),
    ],
)
def test_corruption_is_detected(index: RetrievalIndex, tmp_path: Path, damage, message: str) -> None:
    index.save(tmp_path / "idx")
    damage(tmp_path / "idx")
    with pytest.raises(VerituneError, match=message):
        RetrievalIndex.load(tmp_path / "idx")


def _set_format_version(manifest: Path, version: int) -> None:
    data = json.loads(manifest.read_text())
    data["config"]["format_version"] = version
    manifest.write_text(json.dumps(data))


def _write(path: Path, lines: list[str]) -> Path:
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


@pytest.mark.parametrize(
    ("lines", "message"),
    [
        ([], "corpus is empty"),
        (['{"id": "a", "text": "x"}', '{"text": "no id"}'], r"docs\.jsonl:2 \[id\]: document without 'id'"),
        (['{"id": "a"}'], r"docs\.jsonl:1 \[text\]"),
        (['{"id": "a", "text": "x"}', '{"id": "a", "text": "y"}'], r"docs\.jsonl:2 \[id\]: duplicate id"),
        (['{"id": "a", "text": "x"', ], r"docs\.jsonl:1: malformed JSON"),
    ],
)
def test_bad_corpora(tmp_path: Path, lines: list[str], message: str) -> None:
    docs = _write(tmp_path / "docs.jsonl", lines)
    with pytest.raises(VerituneError, match=message):
        build_index(docs, tmp_path / "idx", allow_raw=True)
    assert not (tmp_path / "idx").exists()


def test_raw_data_is_refused_without_allow_raw(tmp_path: Path) -> None:
    with pytest.raises(VerituneError, match="has no desensitization manifest.*--allow-raw"):
        build_index("finance", tmp_path / "idx")


def test_missing_embedding_model_is_a_clear_error(tmp_path: Path, corpus: Path) -> None:
    settings = IndexSettings(embedders={"en": "st:/no/such/model", "zh": "st:/no/such/model"})
    with pytest.raises(VerituneError, match="cannot load embedding model"):
        build_index(corpus, tmp_path / "idx", settings, allow_raw=True)


def test_folder_of_text_files(tmp_path: Path) -> None:
    folder = tmp_path / "notes"
    folder.mkdir()
    (folder / "gout.md").write_text("# Gout\nSudden painful swollen big toe at night.\n\n## Tests\nUrate.")
    (folder / "cough.txt").write_text("Cough for three weeks with night sweats suggests tuberculosis.")
    build_index(folder, tmp_path / "idx", allow_raw=True)
    index = RetrievalIndex.load(tmp_path / "idx")
    assert index.search("swollen toe at night", k=1)[0].doc_id == "gout.md"
    assert {c["title"] for c in index.chunks} == {"Gout", "cough"}


@pytest.mark.slow
def test_cli_build_search_and_batch(tmp_path: Path, corpus: Path) -> None:
    built = run_cli("index", "build", str(corpus), "--out", str(tmp_path / "idx"), "--allow-raw")
    assert built.returncode == 0, built.stderr
    single = run_cli("index", "search", str(tmp_path / "idx"), "sudden facial droop and arm weakness", "-k", "2",
                     "--json")
    assert json.loads(single.stdout)["hits"][0]["doc_id"] == "MED-C018-EN"
    queries = _write(tmp_path / "q.jsonl", ['{"id": "q1", "text": "fever and cough with sputum"}',
                                           '{"id": "q2", "text": "肺炎 发热 咳嗽"}'])
    batch = run_cli("index", "search", str(tmp_path / "idx"), "--queries", str(queries), "-k", "3", "--json",
                    "--filter", "domain=medical")
    lines = [json.loads(line) for line in batch.stdout.splitlines()]
    assert [line["query_id"] for line in lines] == ["q1", "q2"]
    assert lines[0]["hits"][0]["doc_id"] == "MED-C006-EN" and lines[1]["hits"][0]["doc_id"] == "MED-C006-ZH"
    bad = _write(tmp_path / "bad.jsonl", ['{"id": "q1", "text": "ok"}', '{"id": "q2"}'])
    failed = run_cli("index", "search", str(tmp_path / "idx"), "--queries", str(bad), "--json")
    assert failed.returncode == 2 and "bad.jsonl:2" in failed.stderr and "Traceback" not in failed.stderr
    shutil.rmtree(tmp_path / "idx")
    assert DOMAINS.is_dir()


def test_reranker_registry(index: RetrievalIndex) -> None:
    from retrieval.rerank import RERANKERS

    RERANKERS.add("by_length_test", lambda: (lambda query, texts: [-len(t) for t in texts]))
    query = "chest pain"
    fused = index.search(query, k=5)
    index.settings.reranker = "by_length_test"
    try:
        reranked = index.search(query, k=5)
    finally:
        index.settings.reranker = "none"
    lengths = [len(h.text) for h in reranked]
    assert lengths == sorted(lengths) and {h.chunk_id for h in reranked} <= {h.chunk_id for h in index.search(
        query, k=20)}
    assert [h.chunk_id for h in index.search(query, k=5)] == [h.chunk_id for h in fused]  # none keeps the order
    with pytest.raises(VerituneError, match="unknown reranker 'nope'"):
        from retrieval.rerank import load_reranker

        load_reranker("nope")


@pytest.mark.parametrize("kind", ["ivf_sq8", "hnsw"])
def test_faiss_index_types_search_filter_and_delete(kind: str) -> None:
    import numpy as np

    from retrieval.dense import DENSE_TYPES, choose_index_type

    rng = np.random.default_rng(0)
    vectors = rng.standard_normal((600, 32)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    index = DENSE_TYPES.get(kind)(32)
    index.add(np.arange(600), vectors)
    _, ids = index.search(vectors[:3], 1)
    assert list(ids[:, 0]) == [0, 1, 2]
    _, filtered = index.search(vectors[:1], 5, allowed=np.array([10, 11, 12]))
    assert set(filtered[0][filtered[0] >= 0]) <= {10, 11, 12}
    index.remove([0])
    _, after = index.search(vectors[:1], 3)
    assert 0 not in after[0]
    assert choose_index_type(200_000) == "flat" and choose_index_type(200_001) == "ivf_sq8"


ASTHMA_KB = ["MED-C007-EN", "MED-D016-EN", "MED-D017-EN", "MED-D029-EN", "MED-C001-EN", "MED-D002-EN"]


@pytest.mark.parametrize(("title_weight", "first_is_the_condition"), [(1, False), (2, True)])
def test_a_title_counts_more_in_bm25(title_weight: int, first_is_the_condition: bool) -> None:
    """The asthma passage names asthma once, as its title; three shorter drug passages name it among their
    indications. With the title counted once, BM25 ranks the drugs first for a question that names the condition."""
    from tests.retrieval.conftest import pick

    docs = pick(DOMAINS / "medical/kb/kb.jsonl", ASTHMA_KB)
    index = RetrievalIndex.build(docs, IndexSettings(title_weight=title_weight))
    hits = index.search("How is asthma treated?", k=3, mode="bm25")
    assert (hits[0].doc_id == "MED-C007-EN") is first_is_the_condition


def test_an_index_saved_before_title_weight_keeps_its_bm25(index: RetrievalIndex, tmp_path: Path) -> None:
    from veritune.manifest import read_manifest

    folder = index.save(tmp_path / "idx")
    manifest = json.loads((folder / "manifest.json").read_text(encoding="utf-8"))
    assert read_manifest(folder / "manifest.json").config["settings"]["title_weight"] == 2
    del manifest["config"]["settings"]["title_weight"]   # as an older veritune wrote it
    (folder / "manifest.json").write_text(json.dumps(manifest), encoding="utf-8")
    assert RetrievalIndex.load(folder, index.cache).settings.title_weight == 1


@pytest.mark.parametrize("index_type", ["flat", "hnsw"])
def test_every_hit_shows_the_cosine_the_dense_search_gives_it(index_type: str) -> None:
    """A hit only BM25 found gets its similarity from the passage as the index embedded it, title and text (a rule's
    title, its id and category, is not in its text): the flat index's stored vector, or for an index that keeps no
    exact vector (HNSW here, IVF) the passage embedded again the same way."""
    from tests.retrieval.conftest import pick

    ids = ["FIN-AML-001-EN", "FIN-AML-002-EN", "FIN-RPT-001-EN", "FIN-MKT-002-EN", "FIN-SUI-001-EN"]
    index = RetrievalIndex.build(pick(DOMAINS / "finance/kb/rules.jsonl", ids), IndexSettings(index_type=index_type))
    query = "customer account opened before sanctions screening"
    dense = {hit.chunk_id: hit.dense_score for hit in index.search(query, k=10, mode="dense")}
    hits = index.search(query, k=5, mode="bm25")
    assert len(hits) >= 2 and all(hit.bm25_score is not None for hit in hits)
    assert [hit.dense_score for hit in hits] == pytest.approx([dense[hit.chunk_id] for hit in hits], abs=1e-5)
