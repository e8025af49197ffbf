"""Focused NER: spaCy's NER runs around the words that could belong to an entity, and finds there what it finds over
the whole text."""

from __future__ import annotations

import pytest

from desensitize import DesensitizeConfig, Detector, DetectorSettings, detector_settings
from desensitize.lang import windows_around
from desensitize.ner_focus import NerFocus, focus_for
from desensitize.nlp import build_nlp_engine, english_pipeline
from desensitize.verify import strict_detector
from veritune.errors import VerituneError

# (text, word, cue): is `word` (its first occurrence) a cue in `text`?
CUES = [
    ("daughter odile visited this evening", "odile", True),                    # a listed name, no dictionary word
    ("Met with Harlan about discharge", "Harlan", True),
    ("Seen by Quillfeather this am", "Quillfeather", True),                    # capitalised, unknown to all lists
    ("lives in Thornbury with his wife", "Thornbury", True),                   # a listed place
    ("Ivy called at noon", "Ivy", True),                                       # a listed name that is also a word
    ("ivy rash on both forearms", "ivy", False),                               # ... in lower case: the word
    ("ON IABP 1:1, PRBC X2 GIVEN", "IABP", False),                             # shorthand in capitals
    ("ON IABP 1:1, PRBC X2 GIVEN", "PRBC", False),
    ("lasix 40 iv given with good response", "lasix", False),
    ("J WINSLOW ORDERED EPI", "J", True),                                      # an initial before a name
    ("seen by d'amato on rounds", "d'amato", True),
    ("admitted in March after a fall", "March", True),                         # months and years
    ("CABG in 2004, stents 2011", "2004", True),
    ("BP 112/64 HR 88 sats 97% on RA", "BP", False),
]


QUIET = "bp 112/64 hr 88 sats 97% on ra, lasix 40 iv given, good response"


def _token(text: str, word: str):  # noqa: ANN202 - a spaCy Token
    doc = english_pipeline().make_doc(text)
    return next(t for t in doc if t.text == word)


@pytest.mark.parametrize(("text", "word", "cue"), CUES, ids=[f"{c[1]}-{i}" for i, c in enumerate(CUES)])
def test_cue_table(text: str, word: str, cue: bool) -> None:
    token = _token(text, word)
    assert NerFocus().is_cue(token) is cue


@pytest.mark.parametrize(("spans", "margin", "length", "windows"), [
    ([(5, 6)], 4, 20, [(1, 10)]),
    ([(1, 2), (8, 9)], 3, 20, [(0, 12)]),                 # touching windows merge
    ([(2, 3), (15, 16)], 2, 17, [(0, 5), (13, 17)]),       # clamped to the text
    ([], 4, 20, []),
])
def test_windows_around(spans: list, margin: int, length: int, windows: list) -> None:
    assert windows_around(spans, margin, length) == windows


def test_group_names_are_cues_only_when_organisations_are_selected() -> None:
    token = _token("The account moved to Northgate Trust last year", "Trust")
    assert not NerFocus().is_cue(token)
    assert NerFocus(groups=True).is_cue(token)


def test_windows_are_merged_and_bounded_by_the_margin() -> None:
    doc = english_pipeline().make_doc("odile and Harlan came in; " + "bp stable hr regular sats fine " * 4 + "Harlan")
    windows = NerFocus(margin=4).windows(doc)
    assert windows[0][0] == 0 and len(windows) == 2                 # the two close names share one window
    assert windows[-1][1] == len(doc) and windows[-1][0] == len(doc) - 5
    assert NerFocus().windows(english_pipeline().make_doc(QUIET)) == []
    assert NerFocus().windows(english_pipeline().make_doc("Quillfeather")) == [(0, 1)]    # shorter than a window
    assert NerFocus(labels=False).windows(doc) == []


NOTES = [
    "Pt seen by Odile Fairbank RN this am. Daughter Tamsin Quillfeather visited, lives in Thornbury. BP 112/64.",
    "ON IABP 1:1. J WINSLOW ORDERED EPI. WIFE HAZEL AT BEDSIDE, SON CALLED FROM DORSET.",
    "lasix 40 iv given; family meeting with dr harlan and daughter odile on march 3rd 2019.",
    "Acme Holdings Ltd. and the Toronto office of Zyx Bank signed on Friday, 12/5/2023.",
]


@pytest.mark.parametrize("text", NOTES)
def test_focused_ner_finds_what_ner_over_the_whole_text_finds_around_its_cues(text: str) -> None:
    focus = NerFocus(groups=True)
    engine = build_nlp_engine(("en",))
    (_, ours), = engine.process_batch([text], "en", ner_focus=focus)
    (_, theirs), = engine.process_batch([text], "en")
    assert _entities(ours) and set(_entities(ours)) <= set(_entities(theirs))
    # what the focus leaves out holds no cue ('lasix 40' tagged PERSON over the whole text)
    missed = [e for e in theirs.entities if _entities_of(e) not in _entities(ours)]
    assert not any(focus.is_cue(token) for entity in missed for token in entity)


def _entities_of(entity) -> tuple[int, int, str]:  # noqa: ANN001 - a spaCy Span
    return entity.start_char, entity.end_char, entity.label_


def _entities(artifacts) -> list[tuple[int, int, str]]:  # noqa: ANN001 - Presidio's NlpArtifacts
    return [_entities_of(e) for e in artifacts.entities]


@pytest.mark.parametrize(("entities", "labels", "groups"), [
    (None, True, True),                                             # every entity: organisations included
    (["PERSON", "LOCATION", "DATE_TIME"], True, False),             # the medical pack's kind of selection
    (["US_SSN", "PHONE_NUMBER"], False, False),                     # no spaCy entity: NER never runs
])
def test_the_focus_follows_the_selected_entities(entities: list[str] | None, labels: bool, groups: bool) -> None:
    focus = Detector(DetectorSettings(entities=entities)).ner_focus
    assert (focus.labels, focus.groups) == (labels, groups)


def test_full_ner_on_request_and_in_verify() -> None:
    assert focus_for(["PERSON"], "full") is None
    assert detector_settings(DesensitizeConfig(ner="full")).ner == "full"
    assert Detector(DetectorSettings(ner="full")).ner_focus is None
    assert strict_detector().ner_focus is None
    with pytest.raises(VerituneError, match="ner must be one of focused, full"):
        focus_for(["PERSON"], "everywhere")


def test_a_record_without_any_cue_gets_no_ner_entities() -> None:
    (_, artifacts), = build_nlp_engine(("en",)).process_batch([QUIET], "en", ner_focus=NerFocus())
    assert list(artifacts.entities) == []


def test_detectors_sharing_one_engine_keep_their_own_focus() -> None:
    """The apps share one engine between assistants: each detector's focus travels with its batches."""
    engine = build_nlp_engine()
    medical = Detector(DetectorSettings(entities=["PERSON", "DATE_TIME"]), nlp_engine=engine)
    everything = Detector(DetectorSettings(ner="full"), nlp_engine=engine)
    assert medical.ner_focus is not None and everything.ner_focus is None
    text = "lasix 40 iv given; family meeting with dr harlan and daughter odile on march 3rd 2019."
    assert [text[s.start:s.end] for s in medical.analyze(text, "en") if s.entity_type == "PERSON"] == [
        "harlan", "odile"]
