"""The English pipeline as loaded (NER only, no string table) reads text exactly as the full model does."""

from __future__ import annotations

import pytest

from desensitize.nlp import NER_ONLY_EXCLUDE, english_model_path, english_pipeline

TEXTS = ["Patient John Carter, 54, seen on 3 March 2024 at Boston General for chest pain by Dr. Mary Haldane.",
         "Pt transferred from St. Elsewhere ER to MICU; wife Linda at bedside, called 617-555-0199.",
         "HALDANE, RN: pt c/o SOB overnight, sats 92% on 4L NC. Family (son KEVIN) updated by phone.",
         "Acme Holdings Ltd. and the Toronto office of Zyx Bank signed on Friday, 12/5/2023.",
         "lorazepam 1 mg iv given; BP 150/95, HR 102. Plan: CXR in AM, f/u with dr. ostrander."]


@pytest.fixture(scope="module")
def full_model():  # noqa: ANN201 - a spaCy Language
    import spacy

    return spacy.load(english_model_path(), exclude=NER_ONLY_EXCLUDE)


@pytest.mark.parametrize("text", TEXTS)
def test_pipeline_without_string_table_reads_as_the_full_model(full_model, text: str) -> None:  # noqa: ANN001
    ours, full = english_pipeline()(text), full_model(text)
    assert [(e.start_char, e.end_char, e.label_) for e in ours.ents] == [
        (e.start_char, e.end_char, e.label_) for e in full.ents]
    assert [(t.text, t.norm_, t.shape_, t.is_stop, t.is_punct, t.like_num, t.has_vector) for t in ours] == [
        (t.text, t.norm_, t.shape_, t.is_stop, t.is_punct, t.like_num, t.has_vector) for t in full]
    assert full.ents or "lorazepam" in text  # the table is not vacuous


def test_the_string_table_is_not_loaded(full_model) -> None:  # noqa: ANN001
    assert len(full_model.vocab.strings) > 500_000
    assert len(english_pipeline().vocab.strings) < 100_000
