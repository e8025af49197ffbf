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
