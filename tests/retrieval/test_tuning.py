from retrieval.tuning import GRID, mrr_at_k, tune_dense_weight


def test_tuning_picks_a_weight_per_language_from_the_grid(index) -> None:
    questions = [
        {"question": "chest pressure spreading to the left arm, sweating", "evidence_ids": ["MED-C001-EN"],
         "lang": "en"},
        {"question": "fever, cough with sputum, pleuritic chest pain", "evidence_ids": ["MED-C006-EN"], "lang": "en"},
        {"question": "突发口角歪斜、一侧肢体无力", "evidence_ids": ["MED-C018-ZH"], "lang": "zh"},
    ]
    report = tune_dense_weight(index, questions, k=5)
    assert set(report) == {"en", "zh"} and report["en"]["questions"] == 2
    for lang in ("en", "zh"):
        assert report[lang]["weight"] in GRID and index.settings.dense_weight[lang] == report[lang]["weight"]
    assert mrr_at_k(index, questions, k=5) == 1.0
