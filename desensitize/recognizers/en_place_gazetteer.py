"""Towns and countries after a place cue, confirmed by the GeoNames list: 'flew to Loeches', 'arrived at
Dordrecht', 'grew up in SUND', 'originally from switzerland', 'University of Nicosia'.

spaCy misses foreign towns; a capitalised word after 'in' or 'to' alone is too weak (in March, to Cardiology), and
a list alone is too loose (Mobile, Reading, Hope are cities). Together they are precise. Names in capitals that
look like clinical abbreviations pass only because the list confirms them."""

from __future__ import annotations

import re

from desensitize.gazetteers import NameLists, name_lists, place_names
from desensitize.lang import lower_case_record, upper_case_record
from desensitize.presidio_api import RecognizerResult
from desensitize.recognizers._base import TextRecognizer
from desensitize.registry import recognizer

ENTITY = "LOCATION"
SCORE = 0.6
MAX_PLACE_WORDS = 4
CUE = re.compile(r"\b(?i:in|from|to|at|near|of|into|towards?|visit(?:ing|ed)?|outside|around|leaving|left)[ \t]+")
_WORD = re.compile(r"[^\W\d_][\w'’.()-]*")


class EnPlaceGazetteerRecognizer(TextRecognizer):
    def __init__(self, language: str, places: frozenset[str] | None = None, names: NameLists | None = None) -> None:
        self._places = places
        self._names = names
        super().__init__(ENTITY, language, "en_place_gazetteer")

    def find(self, text: str) -> list[RecognizerResult]:
        places = self._places if self._places is not None else place_names()
        names = self._names or name_lists()
        lower_case = lower_case_record(text)
        shouting = upper_case_record(text)     # written in capitals: a word in capitals is no deliberate name
        results = []
        for cue in CUE.finditer(text):
            words = []
            for match in _WORD.finditer(text, cue.end()):
                if len(words) == MAX_PLACE_WORDS or (words and text[words[-1].end():match.start()] not in (" ", "-")):
                    break
                words.append(match)
            if not words or not _written_as_place(words[0].group(), lower_case):
                continue
            for count in range(len(words), 0, -1):
                start, end = words[0].start(), words[count - 1].end()
                value = text[start:end].rstrip(".")
                common = count == 1 and names.is_common_word(value) and (shouting or not value.isupper())
                if value.lower() in places and not common:
                    results.append(self.result(start, start + len(value), SCORE))
                    break
        return results


def _written_as_place(word: str, lower_case: bool) -> bool:
    return word.islower() if lower_case else word[0].isupper()


@recognizer("en_place_gazetteer", (ENTITY,), ("en",), list_confirmed=True)
def build(language: str) -> EnPlaceGazetteerRecognizer:
    return EnPlaceGazetteerRecognizer(language)
