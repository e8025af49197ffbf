"""Hospitals, wards and home towns named in clinical notes, found by the words around them: a transfer or a
residence ('transferred from X', 'transfer to X 2', 'admitted to X', 'lives alone in X', 'returned to X') or a
facility word after the name ('X hospital', 'X hosp', 'X medical center', 'X campus', 'X nursing home'), or a
hospital's abbreviation after a preposition ('to MGH'), or a university named by its place ('U Vermont').

After a transfer or residence cue the words are kept while they read as a name: no stop word, no allowed clinical
term (the detector drops those: 'transfer to micu'), and at least one word that is no dictionary word ('to floor'
names no place). Before a facility word, the one to three words in front of it are kept."""

from __future__ import annotations

import re

from spacy.lang.en.stop_words import STOP_WORDS

from desensitize.gazetteers import NameLists, name_lists, place_names
from desensitize.lang import caseless_record
from desensitize.presidio_api import RecognizerResult
from desensitize.recognizers._base import TextRecognizer
from desensitize.registry import recognizer

ENTITY = "LOCATION"
SCORE = 0.9  # the cue is stronger evidence than spaCy's guess (0.85), which Presidio would keep on the same words
MAX_WORDS = 3
_WORD = r"[A-Za-z][A-Za-z'’-]*"
CUE = re.compile(r"\b(?i:(?:transfer(?:r?ed|ring)?|tx(?:'?d)?|sent|admitted|readmitted|returned|return(?:ing)?|"
                 r"discharged|moved|came|arrived|going|brought|d/?c'?d)\s+(?:back\s+)?(?:to|from|in|at)"
                 r"|lives?(?:\s+alone)?\s+(?:in|at|near)|(?:grew\s+up|was\s+born|resides?)\s+in)"
                 r"(?:\s+the)?\s+")
# A ward: a name that is no dictionary word and its number, after a preposition or a plan ('to tarrowfield 3',
# 'PLAN: TARROWFIELD 2'); allowed shorthand such as 'to levo 2' is dropped by the detector's allow list.
WARD = re.compile(rf"(?:\b(?i:to|from|at|in|transfer)|(?i:plan|p|a/p)\s*:)\s+"
                  rf"(?P<value>{_WORD}[ \t]+\d{{1,2}})(?![\d/:%]|\.\d)")      # 'from tarrowfield 5.' ends a sentence
# A hospital by its abbreviation after a preposition ('medflight to MGH', 'cultures sent from UCH'): two to four
# capitals ending in H that spell no word (WITH, HIGH). Clinical abbreviations of that shape (a bleed, a hormone,
# 'OSH' for any outside hospital, 'NH' for any nursing home) name no place.
HOSPITAL_ABBREVIATION = re.compile(r"\b(?i:at|to|from|in|into)\s+(?:the\s+)?(?P<value>[A-Z]{1,3}H)\b(?![\w/-])")
NOT_HOSPITALS = {"OSH", "NH", "ICH", "SAH", "IVH", "SDH", "EDH", "PPH", "LVH", "RVH", "BPH", "PAH", "IIH", "TSH", "LDH",
                 "FSH", "PTH", "ADH", "ACTH", "BNH", "HH", "DH", "RH", "PH", "EH", "CH", "OH", "AH", "MH", "BH", "USOH"}
# A university (its hospital, or a protocol named after it: 'U Vermont scale'): 'U', 'Univ.' or 'University of'
# before a place GeoNames lists.
UNIVERSITY = re.compile(r"\b(?:U|Univ\.?(?:[ \t]+of)?|University[ \t]+of)[ \t]+"
                        r"(?P<place>[A-Z][A-Za-z]+(?:[ \t]+[A-Z][a-z]+)?)")
# The facility word is found first and the words before it read back from there: one pattern for both (words, then
# the facility word) tried a match at every word of a note (a third of this recognizer's time).
FACILITY = re.compile(r"(?<=\s)(?i:hospital|hosp\b|medical\s+cent(?:er|re)|med\s+ctr|campus|nursing\s+home|"
                      r"rehab(?:ilitation)?\s+(?:center|hospital|facility)|"
                      r"(?:heart|cancer|health|dialysis|surgical|eye|kidney)\s+cent(?:er|re))")
_WORDS_BEFORE = re.compile(rf"(?:{_WORD}\s+){{1,{MAX_WORDS}}}$")
# A neighbourhood named by a capitalised word that is no dictionary word before 'area' ('shelter in Halverton area').
AREA = re.compile(r"\b(?i:in|near|around|from)[ \t]+(?:the[ \t]+)?(?P<value>[A-Z][a-z]+)[ \t]+"
                  r"(?i:area|neighbou?rhood)\b")


class EnFacilityRecognizer(TextRecognizer):
    def __init__(self, language: str, names: NameLists | None = None) -> None:
        self._names = names
        super().__init__(ENTITY, language, "en_facility")

    def find(self, text: str) -> list[RecognizerResult]:
        names = self._names or name_lists()
        results = []
        for cue in CUE.finditer(text):
            end = _place_end(text, cue.end(), names)
            if end is not None:
                results.append(self.result(cue.end(), end, SCORE))
        results += [self.result(*m.span("value"), SCORE) for m in AREA.finditer(text)
                    if not names.is_common_word(m.group("value"))]
        for match in WARD.finditer(text):
            word = match.group("value").split()[0]
            if not names.is_common_word(word) and len(word) > 2:
                results.append(self.result(match.start("value"), match.end("value"), SCORE))
        results += [self.result(m.start("value"), m.end("value"), SCORE) for m in HOSPITAL_ABBREVIATION.finditer(text)
                    if m.group("value") not in NOT_HOSPITALS and not names.is_common_word(m.group("value"))]  # HIGH
        results += [self.result(m.start(), m.end("place"), SCORE) for m in UNIVERSITY.finditer(text)
                    if m.group("place").lower() in place_names()]
        caseless = caseless_record(text)
        for match in FACILITY.finditer(text):
            start = _name_before(text, match.start(), caseless)
            if start is not None:
                results.append(self.result(start, match.end(), SCORE))
        return results


def _name_before(text: str, end: int, caseless: bool) -> int | None:
    """Start of the one to three name words right before a facility word ('Seen at [Ridgeline] Medical Center'):
    read back from it, stopping at a stop word or, in ordinary case, a word in lower case."""
    window_start = max(0, end - 40 * MAX_WORDS)
    words = _WORDS_BEFORE.search(text, window_start, end)
    if words is None:
        return None
    start = None
    for word in reversed(list(re.finditer(_WORD, words.group()))):
        value = word.group()
        if value.lower() in STOP_WORDS or not (caseless or value[0].isupper()):
            break
        start = words.start() + word.start()
    return start


def _place_end(text: str, start: int, names: NameLists) -> int | None:
    """End of the one to three words at `start` that read as a place name, and a ward number after them. Words that
    are all in the dictionary name a place when GeoNames lists them, or lists the first two or three of them
    ('returned to salt lake city', 'returned to fall river tonight')."""
    ends, unknown, previous = [], False, 0
    for count, word in enumerate(re.finditer(_WORD, text[start:start + 80])):
        if count == MAX_WORDS or (count and not re.fullmatch(r"[ \t]", text[start + previous:start + word.start()])):
            break
        value = word.group()
        if value.lower() in STOP_WORDS or len(value) < 2:
            break
        unknown |= not names.is_common_word(value)
        ends.append(start + word.end())
        previous = word.end()
    if not ends:
        return None
    several = ends[1:] or ends          # the whole run, or a prefix of two words or more: one word is too loose
    end = ends[-1] if unknown else next((e for e in reversed(several) if text[start:e].lower() in place_names()), None)
    if end is None:
        return None
    ward = re.match(r"[ \t]+\d{1,2}\b(?![./:])", text[end:end + 4])   # 'tarrowfield 2'
    return end + ward.end() if ward else end


@recognizer("en_facility", (ENTITY,), ("en",), case_aware=True)
def build(language: str) -> EnFacilityRecognizer:
    return EnFacilityRecognizer(language)
