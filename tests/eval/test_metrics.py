"""Each metric on cases computed by hand, English and Chinese."""

import math

import pytest

from eval.metrics import METRICS, normalize, tokens


def score(name: str, *args, **kwargs) -> float:
    return METRICS.get(name).fn(*args, **kwargs)


@pytest.mark.parametrize(
    ("text", "expected"),
    [("The ECG, and Troponin!", ["ecg", "and", "troponin"]), ("心电图和肌钙蛋白。", list("心电图和肌钙蛋白")),
     ("查 ECG 和 CT", ["查", "ecg", "和", "ct"])],
)
def test_tokens(text: str, expected: list[str]) -> None:
    assert tokens(text) == expected


def test_exact_match_ignores_case_punctuation_and_articles() -> None:
    assert score("exact_match", "The Cardiology.", "cardiology") == 1.0
    assert score("exact_match", "心内科。", "心内科") == 1.0
    assert score("exact_match", "Neurology", "Cardiology") == 0.0


def test_token_f1_by_hand() -> None:
    # prediction {ecg, troponin, xray} vs gold {ecg, troponin}: P = 2/3, R = 1, F1 = 0.8
    assert score("token_f1", "ECG troponin xray", "ECG troponin") == pytest.approx(0.8)
    # Chinese by character: 心电图 vs 心电图检查: common 3, P = 3/3, R = 3/5, F1 = 0.75
    assert score("token_f1", "心电图", "心电图检查") == pytest.approx(0.75)
    assert score("token_f1", "", "") == 1.0 and score("token_f1", "x", "") == 0.0


def test_rouge_l_by_hand() -> None:
    # LCS of [w x y z] and [w y z v] is [w y z] = 3: P = 3/4, R = 3/4, F1 = 0.75
    assert score("rouge_l", "w x y z", "w y z v") == pytest.approx(0.75)
    # Chinese: 胸痛伴出汗 vs 胸痛出汗: LCS 4, P = 4/5, R = 4/4, F1 = 8/9
    assert score("rouge_l", "胸痛伴出汗", "胸痛出汗") == pytest.approx(8 / 9)


def test_accuracy_and_macro_f1_by_hand() -> None:
    assert score("accuracy", " Yes ", "yes") == 1.0
    predictions = ["a", "a", "b", "b", "b", "c"]
    golds = ["a", "b", "b", "b", "c", "c"]
    # a: tp1 fp1 fn0 -> 2/3; b: tp2 fp1 fn1 -> 4/6; c: tp1 fp0 fn1 -> 2/3; mean 2/3
    assert score("macro_f1", predictions, golds) == pytest.approx(2 / 3)
    assert METRICS.get("macro_f1").kind == "corpus"


def test_set_precision_and_recall_for_cited_ids() -> None:
    assert score("set_precision", ["FIN-AML-001-EN", "FIN-KYC-001-EN"], ["FIN-AML-001-EN"]) == 0.5
    assert score("set_recall", ["FIN-AML-001-EN"], ["FIN-AML-001-EN", "FIN-RPT-001-EN"]) == 0.5
    assert score("set_precision", [], []) == 1.0 and score("set_precision", ["x"], []) == 0.0
    assert score("set_recall", [], []) == 1.0


def test_retrieval_metrics_by_hand() -> None:
    ranked = ["d3", "d1", "d7", "d2"]
    assert score("hit_at_k", ranked, ["d7"], k=2) == 0.0 and score("hit_at_k", ranked, ["d7"], k=3) == 1.0
    assert score("recall_at_k", ranked, ["d1", "d2", "d9"], k=4) == pytest.approx(2 / 3)
    assert score("mrr", ranked, ["d7", "d2"]) == pytest.approx(1 / 3)
    assert score("mrr", ranked, ["d9"]) == 0.0


def test_normalize() -> None:
    assert normalize("  The  Answer: YES!  ") == "answer yes"
    assert not math.isnan(score("token_f1", "a", "the"))


@pytest.mark.parametrize(("text", "distinct", "run"), [
    ("Chest pain with sweating needs an ECG within ten minutes.", 1.0, 0.0),
    ("The customer was sent must be be be be", 5 / 7, 3.0),            # 'the' dropped: 7 bigrams, 5 distinct
    ("x y x y x y", 2 / 5, 4.0),                                       # period 2: four tokens repeat the pair
    ("ok", 1.0, 0.0), ("", 1.0, 0.0),
    ("胸痛胸痛胸痛", 2 / 5, 4.0),                                          # Chinese by character
])
def test_repetition_measures_by_hand(text: str, distinct: float, run: float) -> None:
    assert score("distinct_2", text) == pytest.approx(distinct)
    assert score("longest_repeat", text) == run
