"""Chinese person and place names found by a statistical tagger (`desensitize.zh_ner`: a character BiLSTM-CRF
trained on MSRA news NER), for the names no cue word or surname rule reaches ('孙海涛认为…', '克里斯蒂亚诺…',
'六枝特区…').

A span is first trimmed of the punctuation the tagger takes in at its edges ('-魏小川', '罗文斌】', '托马斯·'). Kept:
spans of two or more Han characters (a foreign name may carry its middle dot '·'); a single character is an
abbreviation (美, 京), not an identifier. Places larger than any country (亚洲, 太平洋) identify no one. The tagger
saw no Latin script in training, yet on real text its person spans over Latin letters are mostly romanised names
('（edwardkeane）', 'Lindqvist在发布会上…'): such a span is widened to its whole Latin word, which is kept unless it is
an English dictionary word (Steam, Forum). Measured on the development sentences: +106 person names (2.8 points)
for 0.07 % more of the other characters. The person tags' scores are raised before decoding (PERSON_BIAS).

Measured on the real development sentences (CLUENER, 10,748): the tagger alone finds 0.81 of person names and 0.86
of addresses; with the rules of cn_person, cn_place_name and cn_address it lifts them from 0.75 and 0.61 (see
benchmarks/results/desensitize.json). Its main cost is countries and big cities the corpus leaves unlabelled.
"""

from __future__ import annotations

import re

from desensitize.gazetteers import name_lists
from desensitize.presidio_api import LocalRecognizer, NlpArtifacts, RecognizerResult
from desensitize.recognizers._base import HAN_NAME, words_in
from desensitize.recognizers.cn_person import SURNAMES, common_word
from desensitize.registry import recognizer
from desensitize.zh_ner import ZhEntity, ZhNerModel, load_zh_ner

ENTITIES = {"PER": "PERSON", "LOC": "LOCATION"}
SCORE = 0.6                   # as cn_person's tagged names: above the main pass's threshold
# Added to the tagger's person-tag scores before decoding: a news tagger is sure of famous names and shy of others.
# Measured on the development sentences (person-name recall gained / other characters replaced, on top of the rest
# of the pipeline): 1.0 -> +1.4 points / +0.18 %, 1.25 -> +1.9 / +0.26 %, 2.0 -> +3.1 / +0.62 %. A leaked name costs
# more than a masked word.
PERSON_BIAS = 1.25
_BIAS = {"PER": PERSON_BIAS}
_PERSON = re.compile(HAN_NAME)
_PLACE = re.compile(r"[\u4e00-\u9fa5]{2,}")
_LARGER_THAN_A_COUNTRY = set("洲洋")
_LATIN = re.compile(r"[A-Za-z]+")
# jieba flags of words no place name holds: verb, verbal noun, adverb, numeral, pronoun, preposition, conjunction,
# particles, modal, interjection.
_NOT_IN_A_PLACE = frozenset({"v", "vn", "d", "m", "r", "p", "c", "uj", "ul", "ud", "uz", "ug", "uv", "y", "e"})
_PROPER = frozenset({"ns", "nr", "nz", "nt", "x", "eng"})   # jieba's place, person, other proper nouns; unknown
_PHRASE_BEFORE = re.compile(r"[A-Za-z][.,]? $")
_PHRASE_AFTER = re.compile(r" [A-Za-z]")


class CnNerModelRecognizer(LocalRecognizer):
    def __init__(self, language: str = "zh", model: ZhNerModel | None = None) -> None:
        self._model = model
        self._prepared: dict[str, list[ZhEntity]] = {}
        super().__init__(supported_entities=list(ENTITIES.values()), supported_language=language,
                         name="cn_ner_model")

    def load(self) -> None:
        return None   # the model loads on the first Chinese text, not when an English-only engine is built

    def prepare_batch(self, texts: list[str]) -> None:
        """Tag a batch at once (the Detector calls this before analysing its texts one by one)."""
        self._prepared = dict(zip(texts, self._tagger().entities_batch(texts, _BIAS), strict=True))

    def _tagger(self) -> ZhNerModel:
        if self._model is None:
            self._model = load_zh_ner()
        return self._model

    def analyze(self, text: str, entities: list[str], nlp_artifacts: NlpArtifacts | None = None
                ) -> list[RecognizerResult]:
        wanted = {label for label, entity in ENTITIES.items() if not entities or entity in entities}
        if not wanted:
            return []
        prepared = self._prepared.get(text)
        results = []
        for found in prepared if prepared is not None else self._tagger().entities(text, _BIAS):
            if found.label not in wanted:
                continue
            pieces = place_pieces(text, found.start, found.end) if found.label == "LOC" else [(found.start, found.end)]
            for span in (kept_span(found.label, text, start, end) for start, end in pieces):
                if span is not None:
                    results.append(RecognizerResult(ENTITIES[found.label], *span, SCORE,
                                                    recognition_metadata={"recognizer_name": self.name}))
        return results


def place_pieces(text: str, start: int, end: int) -> list[tuple[int, int]]:
    """A tagged place of four characters or more, cut where jieba finds a word no place name holds: the tagger runs
    on across a clause ('X区是Y的东大门', 'X街道和Y街道检查流动人口'). The first piece is the place the tagger started
    on; a later one stays only if it holds a proper noun (jieba's ns, nr, nz, nt) or a word jieba does not know.
    Measured on the development sentences with the whole pipeline: 62 fewer characters replaced outside labelled
    entities, address recall 0.8582 -> 0.8599 (pieces no longer lose their overlap with other recognizers' spans)."""
    if end - start < 4:
        return [(start, end)]
    words = [(max(s, start), min(e, end), flag) for s, e, _, flag in words_in(text, start, end)]   # clipped
    if len(words) < 2:
        return [(start, end)]
    pieces: list[list[tuple[int, int, str]]] = [[]]
    for word in words:
        if word[2] in _NOT_IN_A_PLACE:
            pieces.append([])
        else:
            pieces[-1].append(word)
    pieces = [piece for piece in pieces if piece]
    kept = pieces[:1] + [piece for piece in pieces[1:] if any(flag[:2] in _PROPER for _, _, flag in piece)]
    return [(piece[0][0], piece[-1][1]) for piece in kept if piece[-1][1] - piece[0][0] >= 2]


def kept_span(label: str, text: str, start: int, end: int) -> tuple[int, int] | None:
    """The offsets to report for a tagged span, trimmed and (for a romanised name) widened, or None to drop it."""
    start, end = _trimmed(text, start, end)
    if label == "PER" and _LATIN.fullmatch(text, start, end):
        start, end = _latin_word(text, start, end)
        if end - start < 2 or name_lists().is_common_word(text[start:end]) or _in_english_phrase(text, start, end):
            return None
        return start, end
    return (start, end) if end > start and _kept(label, text[start:end]) else None


def _trimmed(text: str, start: int, end: int) -> tuple[int, int]:
    """Without the punctuation, digits and symbols at the span's edges (a middle dot inside stays)."""
    while start < end and not text[start].isalpha():
        start += 1
    while end > start and not text[end - 1].isalpha():
        end -= 1
    return start, end


def _in_english_phrase(text: str, start: int, end: int) -> bool:
    """The word is one of several Latin words in a row ('Referred by Dr.'): English text, which the English pass
    of a mixed-script record reads; the tagger's guesses are for a romanised name set in Chinese text."""
    return bool(_PHRASE_BEFORE.search(text, 0, start) or _PHRASE_AFTER.match(text, end))


def _latin_word(text: str, start: int, end: int) -> tuple[int, int]:
    while start > 0 and _LATIN.fullmatch(text[start - 1]):
        start -= 1
    while end < len(text) and _LATIN.fullmatch(text[end]):
        end += 1
    return start, end


def _starts_with_a_word(surface: str) -> bool:
    """A three-character 'name' whose first two characters are a common word and whose first is no surname:
    clinical and everyday phrases the person bias pulls in ('神志清': 神志 + 清), not 'Wang' + a given name."""
    return len(surface) == 3 and surface[0] not in SURNAMES and common_word(surface[:2])


def _kept(label: str, surface: str) -> bool:
    if label == "PER":
        return _PERSON.fullmatch(surface) is not None and not _starts_with_a_word(surface)
    if label == "LOC":
        return _PLACE.fullmatch(surface) is not None and surface[-1] not in _LARGER_THAN_A_COUNTRY
    return False      # organisations: the tagger's cost us 1.1 % of the other characters for +0.25 company recall


@recognizer("cn_ner_model", tuple(ENTITIES.values()), ("zh",), case_aware=True)
def build(language: str) -> CnNerModelRecognizer:
    return CnNerModelRecognizer(language)
