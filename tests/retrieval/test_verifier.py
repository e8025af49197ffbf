import dataclasses

import pytest

from retrieval.verifier import GroundingVerifier

EVIDENCE = [
    "Acute coronary syndrome. Key tests: 12-lead ECG within 10 minutes, serial high-sensitivity troponin.",
    "Metformin. Contraindications: eGFR below 30, diabetic ketoacidosis.",
    "糖尿病：糖化血红蛋白48mmol/mol以上可诊断，二甲双胍为一线用药。",
]


@pytest.fixture(scope="module")
def verifier() -> GroundingVerifier:
    from retrieval.embedders import load_embedder

    return GroundingVerifier(embed=load_embedder("minilm").passages)


def test_supported_sentences(verifier: GroundingVerifier) -> None:
    result = verifier.check("Order a 12-lead ECG within 10 minutes and serial troponin [1]. "
                            "Metformin is contraindicated when eGFR is below 30 [2].", EVIDENCE)
    assert [s.supported for s in result.sentences] == [True, True] and result.groundedness == 1.0


def test_wrong_number_is_caught(verifier: GroundingVerifier) -> None:
    result = verifier.check("Order a 12-lead ECG within 30 minutes [1].", EVIDENCE)
    check = result.sentences[0]
    assert not check.supported and check.missing_numbers == ["30minute"] and check.reason.startswith("numbers")


def test_unsupported_claim_is_caught(verifier: GroundingVerifier) -> None:
    result = verifier.check("Metformin is contraindicated in eGFR below 30 [2]. It cures lung cancer [2].", EVIDENCE)
    assert [s.supported for s in result.sentences] == [True, False]
    assert result.unsupported == ["It cures lung cancer [2]."] and result.groundedness == 0.5


def test_uncited_claims_and_out_of_range_citations(verifier: GroundingVerifier) -> None:
    result = verifier.check("Give aspirin. Also see [7].", EVIDENCE)  # [7] is not among the 3 passages
    assert [s.reason for s in result.sentences] == ["cites no evidence", "cites no evidence"]
    assert result.groundedness == 0.0 and len(result.unsupported) == 2


def test_chinese_sentences_and_numbers(verifier: GroundingVerifier) -> None:
    good = verifier.check("糖化血红蛋白48mmol/mol以上可诊断糖尿病[3]。", EVIDENCE)
    bad = verifier.check("糖化血红蛋白40mmol/mol以上可诊断糖尿病[3]。", EVIDENCE)
    assert good.sentences[0].supported and not bad.sentences[0].supported


@pytest.mark.parametrize(("answer", "cited_text", "passage"), [
    # an uncited sentence a passage backs gets that passage's number, before its closing punctuation
    ("Metformin is contraindicated when eGFR is below 30.", "Metformin is contraindicated when eGFR is below 30 [2].",
     2),
    ("Order an ECG within 10 minutes and serial troponin", "Order an ECG within 10 minutes and serial troponin [1]",
     1),
    ("糖化血红蛋白48mmol/mol以上可诊断糖尿病。", "糖化血红蛋白48mmol/mol以上可诊断糖尿病[3]。", 3),
])
def test_attribution_cites_the_passage_that_backs_a_sentence(verifier: GroundingVerifier, answer: str,
                                                            cited_text: str, passage: int) -> None:
    result = verifier.check(answer, EVIDENCE, attribute=True)
    check = result.sentences[0]
    assert result.text == cited_text and check.supported and check.attributed and check.cited == [passage]
    assert result.groundedness == 1.0 and result.model_cited == 0.0
    assert verifier.check(answer, EVIDENCE).groundedness == 0.0          # without attribution: uncited


def test_attribution_leaves_unbacked_and_model_cited_sentences_alone(verifier: GroundingVerifier) -> None:
    answer = "Order a 12-lead ECG within 10 minutes [1]. It cures lung cancer. Give it within 30 minutes. See [7]."
    result = verifier.check(answer, EVIDENCE, attribute=True)
    assert result.text == answer                                          # nothing to add: text unchanged
    assert [s.attributed for s in result.sentences] == [False] * 4
    assert [s.supported for s in result.sentences] == [True, False, False, False]
    assert result.model_cited == 0.25 and result.unsupported_rate == 0.75  # [7] is out of range: no citation


@pytest.mark.parametrize(("answer", "corrected_text", "passage"), [
    # the model copied the right line and numbered it wrong: the passage that backs it is cited instead
    ("Metformin is contraindicated when eGFR is below 30 [1].",
     "Metformin is contraindicated when eGFR is below 30 [2].", 2),
    ("糖化血红蛋白48mmol/mol以上可诊断糖尿病[1]。", "糖化血红蛋白48mmol/mol以上可诊断糖尿病[3]。", 3),
    ("Order a 12-lead ECG within 10 minutes [2][3].", "Order a 12-lead ECG within 10 minutes [1].", 1),
])
def test_a_wrong_citation_is_corrected_to_the_passage_that_backs_the_sentence(
        verifier: GroundingVerifier, answer: str, corrected_text: str, passage: int) -> None:
    result = verifier.check(answer, EVIDENCE, attribute=True)
    check = result.sentences[0]
    assert result.text == corrected_text and check.supported and check.corrected and not check.attributed
    assert check.cited == [passage] and result.unsupported_rate == 0.0
    assert result.model_cited == 1.0 and result.model_citation_precision == 0.0      # the model's own [n] was wrong
    plain = verifier.check(answer, EVIDENCE)                                          # without attribution
    assert plain.text == answer and plain.unsupported_rate == 1.0 and not plain.sentences[0].corrected


def test_model_citation_precision_counts_only_the_models_own_citations(verifier: GroundingVerifier) -> None:
    answer = ("Order a 12-lead ECG within 10 minutes [1]. Metformin is contraindicated when eGFR is below 30 [1]. "
              "It cures lung cancer [2]. Diabetes is diagnosed at an HbA1c of 48 mmol/mol.")
    result = verifier.check(answer, EVIDENCE, attribute=True)
    assert [s.corrected for s in result.sentences] == [False, True, False, False]
    assert [s.supported for s in result.sentences] == [True, True, False, False]
    assert result.sentences[2].sentence == "It cures lung cancer [2]."                # backed by none: as written
    assert result.model_citation_precision == 1 / 3                                  # 1 of the 3 it cited itself
    assert GroundingVerifier().check("No citation here.", EVIDENCE).model_citation_precision is None


def test_attribution_keeps_the_text_between_sentences(verifier: GroundingVerifier) -> None:
    answer = "Red flags:\n  Metformin is contraindicated when eGFR is below 30.  Thanks!"
    result = verifier.check(answer, EVIDENCE, attribute=True)
    assert result.text == "Red flags:\n  Metformin is contraindicated when eGFR is below 30 [2].  Thanks!"


def test_percent_is_the_same_number_spelled_out() -> None:
    verifier = GroundingVerifier()          # lexical test only
    result = verifier.check("Oxygen when saturation is below 90% [1].", ["Oxygen only when saturation is below "
                                                                          "90 percent."])
    assert result.sentences[0].supported and not result.sentences[0].missing_numbers


def test_a_question_or_a_heading_is_no_claim() -> None:
    result = GroundingVerifier().check("Which tests are key for it [1]? 其关键检查是什么？ Key tests: [1]. 关键检查：",
                                       EVIDENCE, attribute=True)
    assert [s.reason for s in result.sentences] == ["no claim"] * 4 and result.claims == []


def test_a_named_source_is_a_citation_not_a_claim() -> None:
    ids = ["MED-C001-EN", "MED-D002-EN", "MED-C022-ZH"]
    result = GroundingVerifier().check("(MED-D002-EN) Metformin is contraindicated when eGFR is below 30. "
                                       "MED-C001-EN [n] [2].", EVIDENCE, ids=ids)
    named, bare = result.sentences
    assert named.cited == [2] and named.supported and not named.attributed      # cited by its id
    assert bare.reason == "no claim"                                             # ids and '[n]' say nothing
    assert result.groundedness == 1.0 and result.model_cited == 1.0


def test_each_text_is_encoded_once_and_checks_equal_the_uncached_ones() -> None:
    """Attribution checks every sentence against every passage; the vectors are kept, so each distinct text reaches
    the encoder once, across answers too, and the checks equal those of a verifier that keeps nothing."""
    from retrieval.embedders import load_embedder

    encode = load_embedder("minilm").passages
    seen: list[str] = []

    def counting(texts: list[str]):  # noqa: ANN202 - the encoder's own return type
        seen.extend(texts)
        return encode(texts)

    answers = ["Order an ECG within 10 minutes. Troponin is serial. Metformin is not for eGFR below 30.",
               "Troponin is serial. Aspirin cures everything."]
    kept, fresh = GroundingVerifier(embed=counting), GroundingVerifier(embed=encode, cache_size=0)
    for answer in answers:
        ours, theirs = kept.check(answer, EVIDENCE, attribute=True), fresh.check(answer, EVIDENCE, attribute=True)
        assert ours.text == theirs.text and len(ours.sentences) == len(theirs.sentences)
        for one, other in zip(ours.sentences, theirs.sentences, strict=True):
            # encoded in other batches: the cosines may differ in the last bits
            assert one.semantic == pytest.approx(other.semantic, abs=2e-3)
            assert dataclasses.replace(one, semantic=None) == dataclasses.replace(other, semantic=None)
    assert len(seen) == len(set(seen)) and set(EVIDENCE) <= set(seen)
    small = GroundingVerifier(embed=encode, cache_size=2)
    small.check(answers[0], EVIDENCE, attribute=True)
    assert len(small._memory._vectors) == 2


def test_the_kept_vectors_hold_no_text() -> None:
    """Answers may quote what a user typed: the cache is keyed by digests, so a long-running server keeps no text."""
    from retrieval.embedders import load_embedder

    verifier = GroundingVerifier(embed=load_embedder("minilm").passages)
    verifier.check("Patient Jane Roe reports chest pain [1].", EVIDENCE, attribute=True)
    kept = verifier._memory._vectors
    assert kept and all(isinstance(key, bytes) and len(key) == 16 for key in kept)
