from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from retrieval.findings import MIN_AUC, FindingScorer, fit_finding_scorer, ranking_auc, read_findings
from tests.conftest import DOMAINS
from veritune.errors import VerituneError

FINDINGS = DOMAINS / "finance/dev/findings.jsonl"


def _rows(lang: str, findings: int, clean: int) -> list[dict[str, str]]:
    return ([{"text": f"f{i}", "label": "finding", "lang": lang} for i in range(findings)]
            + [{"text": f"c{i}", "label": "clean", "lang": lang} for i in range(clean)])


def _separable(lang: str, texts: list[str]) -> np.ndarray:
    """Findings point one way, clean sentences the other, with noise: what a linear probe must find."""
    rng = np.random.default_rng(len(texts))
    return np.array([[1.0 if t.startswith("f") else -1.0, *rng.normal(size=7)] for t in texts])


def test_the_scorer_learns_a_separable_language_and_round_trips() -> None:
    scorer = fit_finding_scorer(_rows("en", 20, 12), _separable)
    probe = np.array([[1.0, *np.zeros(7)], [-1.0, *np.zeros(7)]])
    finding, clean = scorer.scores(probe, "en")
    assert finding > 0.8 > 0.2 > clean
    assert scorer.scores(probe, "zh") is None                  # not trained on Chinese: no opinion
    assert scorer.report["en"] == {"finding": 20, "clean": 12, "cv_auc": 1.0, "cv_balanced_accuracy": 1.0, "folds": 5}
    again = FindingScorer.from_json(json.loads(json.dumps(scorer.to_json())))
    assert np.allclose(again.scores(probe, "en"), scorer.scores(probe, "en"), atol=1e-6)


@pytest.mark.parametrize(("scores", "auc"), [
    ([0.9, 0.8, 0.2, 0.1], 1.0),      # every finding above every clean sentence
    ([0.1, 0.2, 0.8, 0.9], 0.0),
    ([0.5, 0.5, 0.5, 0.5], 0.5),      # ties count half
    ([0.9, 0.3, 0.5, 0.1], 0.75),
])
def test_ranking_auc(scores: list[float], auc: float) -> None:
    assert ranking_auc(np.array(scores), np.array([1.0, 1.0, 0.0, 0.0])) == auc


@pytest.mark.parametrize(("rows", "message"), [
    (_rows("en", 20, 3), "20 finding and 3 clean sentences"),
    (_rows("en", 5, 20), "5 finding and 20 clean sentences"),
    ([], "no labelled sentences"),
])
def test_too_few_sentences_are_an_error(rows: list[dict], message: str) -> None:
    with pytest.raises(VerituneError, match=message):
        fit_finding_scorer(rows, _separable)


def test_embeddings_that_do_not_separate_are_an_error_not_a_shuffle() -> None:
    def noise(lang: str, texts: list[str]) -> np.ndarray:
        return np.random.default_rng(0).normal(size=(len(texts), 8))

    with pytest.raises(VerituneError, match="do not separate"):
        fit_finding_scorer(_rows("en", 30, 30), noise)


@pytest.mark.parametrize(("line", "field"), [
    ({"text": "x", "label": "breach", "lang": "en"}, "label"),
    ({"text": " ", "label": "finding", "lang": "en"}, "text"),
    ({"text": "x", "label": "clean"}, "lang"),
])
def test_a_bad_labelled_sentence_names_its_line_and_field(tmp_path: Path, line: dict, field: str) -> None:
    path = tmp_path / "findings.jsonl"
    path.write_text(json.dumps({"text": "ok", "label": "clean", "lang": "en"}) + "\n" + json.dumps(line) + "\n",
                    encoding="utf-8")
    with pytest.raises(VerituneError) as error:
        read_findings(path)
    assert error.value.line == 2 and error.value.field == field


@pytest.fixture(scope="module")
def scored(index, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A copy of the shared index that learned the finance pack's findings, saved (the shared one stays as is)."""
    from retrieval.index import RetrievalIndex

    folder = tmp_path_factory.mktemp("scored")
    index.save(folder / "plain")
    copy = RetrievalIndex.load(folder / "plain", index.cache)
    copy.learn_findings(read_findings(FINDINGS), source=str(FINDINGS))
    copy.save(folder / "idx")
    return folder / "idx"


def test_the_finance_packs_sentences_are_told_apart_on_the_real_embedders(scored: Path) -> None:
    """The pack's labelled sentences on MiniLM (English) and e5-small (Chinese), cross-validated."""
    from veritune.manifest import read_manifest

    report = json.loads((scored / "findings.json").read_text(encoding="utf-8"))["report"]
    assert set(report) == {"en", "zh"}
    for lang in ("en", "zh"):
        assert report[lang]["finding"] == 50 and report[lang]["clean"] == 12
        assert MIN_AUC <= report[lang]["cv_auc"] <= 1.0 and 0.5 <= report[lang]["cv_balanced_accuracy"] <= 1.0
    assert "findings.json" in {record.path for record in read_manifest(scored / "manifest.json").outputs}


def test_per_sentence_retrieval_searches_findings_first_and_skips_clean_sentences(index, scored: Path) -> None:
    from retrieval import RETRIEVERS
    from retrieval.index import RetrievalIndex

    document = ("The branch reported the large cash deposit within the required time. "
                "The account was opened before the sanctions screening of its beneficial owner was done.")
    search = RETRIEVERS.get("per_sentence")
    before, _ = search(index, document, k=1, filters={"lang": "en"})
    assert before[0].metadata["matched_sentence"].startswith("The branch reported")   # document order
    hits, weak = search(RetrievalIndex.load(scored, index.cache), document, k=1, filters={"lang": "en"})
    matched = [hit.metadata.get("matched_sentence", "") for hit in hits]
    assert not weak and hits[0].doc_id == "FIN-AML-001-EN" and hits[0].metadata["finding_score"] >= 0.5
    assert matched[0].startswith("The account was opened")
    assert not any(m.startswith("The branch reported") for m in matched)   # called clean: it searched nothing


def test_a_tampered_scorer_file_is_refused(scored: Path, tmp_path: Path) -> None:
    import shutil

    from retrieval.index import RetrievalIndex

    shutil.copytree(scored, tmp_path / "idx")
    scorer = tmp_path / "idx" / "findings.json"
    scorer.write_text(scorer.read_text(encoding="utf-8").replace('"threshold": 0.5', '"threshold": 0.0'),
                      encoding="utf-8")
    with pytest.raises(VerituneError, match="findings.json"):
        RetrievalIndex.load(tmp_path / "idx")


def test_cli_learns_findings_and_names_a_bad_line(tmp_path: Path, corpus: Path) -> None:
    from tests.conftest import run_cli

    built = run_cli("index", "build", str(corpus), "--out", str(tmp_path / "idx"), "--allow-raw",
                    "--findings-on", str(FINDINGS))
    assert built.returncode == 0, built.stderr
    scorer = json.loads((tmp_path / "idx" / "findings.json").read_text(encoding="utf-8"))
    assert set(scorer["languages"]) == {"en", "zh"}
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"text": "ok", "label": "clean", "lang": "en"}\n{"text": "x", "label": "breach", "lang": "en"}\n',
                   encoding="utf-8")
    failed = run_cli("index", "build", str(corpus), "--out", str(tmp_path / "idx2"), "--allow-raw",
                     "--findings-on", str(bad))
    assert failed.returncode == 2 and "bad.jsonl:2" in failed.stderr and "Traceback" not in failed.stderr
    assert not (tmp_path / "idx2").exists()          # nothing half-written


def test_a_pack_by_name_gets_its_own_dev_sets(index, tmp_path: Path) -> None:
    """`veritune index build finance` builds the index the demo builds: fusion weights tuned on the pack's
    retrieval questions, findings learned from its labelled sentences."""
    from retrieval import build_index
    from veritune.manifest import read_manifest

    out = build_index("finance", tmp_path / "idx", allow_raw=True, cache=index.cache)
    manifest = read_manifest(out / "manifest.json")
    assert set(manifest.stats["findings"]) == {"en", "zh"} and set(manifest.stats["tuning"]) == {"en", "zh"}
    assert (out / "findings.json").is_file()
    assert {Path(record.path).name for record in manifest.inputs} >= {"findings.jsonl", "retrieval.jsonl"}
