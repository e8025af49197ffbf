from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.conftest import DOMAINS
from veritune.jsonl import read_jsonl

# A small bilingual corpus from both packs: enough to test ranking, filters and isolation, quick to embed.
MEDICAL_IDS = ["MED-C001-EN", "MED-C006-EN", "MED-C018-EN", "MED-C022-EN", "MED-D002-EN", "MED-C001-ZH",
               "MED-C006-ZH", "MED-C018-ZH"]
FINANCE_IDS = ["FIN-AML-001-EN", "FIN-RPT-001-EN", "FIN-MKT-002-EN", "FIN-AML-001-ZH"]


def pick(path: Path, ids: list[str]) -> list[dict]:
    rows = {r["id"]: r for r in read_jsonl(path)}
    return [rows[i] for i in ids]


@pytest.fixture(scope="session")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("corpus")
    docs = pick(DOMAINS / "medical/kb/kb.jsonl", MEDICAL_IDS) + pick(DOMAINS / "finance/kb/rules.jsonl", FINANCE_IDS)
    path = folder / "kb.jsonl"
    path.write_text("".join(json.dumps(d, ensure_ascii=False) + "\n" for d in docs), encoding="utf-8")
    return path


@pytest.fixture(scope="session")
def index(corpus: Path, tmp_path_factory: pytest.TempPathFactory):
    from retrieval import IndexSettings, build_index
    from retrieval.embedders import EmbeddingCache
    from retrieval.index import RetrievalIndex

    cache = EmbeddingCache(tmp_path_factory.mktemp("cache") / "emb.sqlite")
    out = tmp_path_factory.mktemp("index") / "idx"
    build_index(corpus, out, IndexSettings(), allow_raw=True, cache=cache)
    return RetrievalIndex.load(out, cache)
