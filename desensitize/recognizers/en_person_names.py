"""People by their first name: 'Gaetane, Hannah and Andre', 'Elita B Desaulniers', 'patricia desrosiers' (records
written in lower case), 'Matthew: Remember me?'.

spaCy's NER misses names it has not seen in context, single first names, and every name in a lower-case record. A
first name from the name lists (`desensitize.gazetteers`) is a person when written as names are written:
capitalised in ordinary text, or anywhere in a record that has no capitals at all. A surname after it (with an
initial or a particle between: 'Willemine ten Pas') makes a full name. A name that is also an English word ('Will',
'Grace', 'victor') counts only with a surname after it, and in lower-case records a lone first name needs a cue:
a colon after it (a speaker), a title before it, or another first name beside it in a list.
"""

from __future__ import annotations

import re

from desensitize.gazetteers import NameLists, name_lists
from desensitize.lang import caseless_record, written_as_name
from desensitize.presidio_api import RecognizerResult
from desensitize.recognizers._base import TextRecognizer
from desensitize.registry import recognizer

ENTITY = "PERSON"
FULL_NAME_SCORE = 0.6
FIRST_NAME_SCORE = 0.45
PARTICLES = {"van", "von", "der", "den", "ten", "ter", "de", "da", "di", "del", "della", "dos", "du", "le", "la",
             "bin", "ibn", "al"}
TITLES = {"mr", "mrs", "ms", "miss", "dr", "prof", "sir", "madam"}
_TOKEN = re.compile(r"[^\W\d_]+(?:['’-](?![sS]\b)[^\W\d_]+)*\.?")  # O'Brien, Jean-Luc; not roberto's
_SAME_LINE_GAP = re.compile(r"[ \t]{1,3}")
_LIST_GAP = re.compile(r"\s*(?:,|\band\b|&)\s*|\s+(?:and|&)\s+")

Token = tuple[int, int, str]


class EnPersonNamesRecognizer(TextRecognizer):
    def __init__(self, language: str, names: NameLists | None = None) -> None:
        self._names = names
        super().__init__(ENTITY, language, "en_person_names")

    @property
    def names(self) -> NameLists:
        if self._names is None:
            self._names = name_lists()
        return self._names

    def find(self, text: str) -> list[RecognizerResult]:
        lower_case = caseless_record(text)
        tokens = [(m.start(), m.end(), m.group()) for m in _TOKEN.finditer(text)]
        results = []
        for index, (start, _, token) in enumerate(tokens):
            word = token.rstrip(".")
            if not self.names.is_first_name(word) or not written_as_name(word, lower_case):
                continue
            surname_end = self._surname_end(text, tokens, index, lower_case,
                                            strict=lower_case and self.names.is_ambiguous(word))
            if surname_end is not None:
                results.append(self.result(start, surname_end, FULL_NAME_SCORE))
            elif self._cued(text, tokens, index) or not (lower_case or self.names.is_ambiguous(word)):
                results.append(self.result(start, start + len(word), FIRST_NAME_SCORE))
        return results

    def _surname_end(self, text: str, tokens: list[Token], index: int, lower_case: bool, strict: bool = False
                     ) -> int | None:
        """End of the surname that follows the first name at `index` on the same line, or None. `strict` (a first
        name that is also a word, in a record without case: 'comfort', 'brown'): only a listed surname counts."""
        position = index + 1
        while position < len(tokens) and position - index <= 3 and _adjacent(text, tokens[position - 1],
                                                                               tokens[position]):
            word = tokens[position][2].rstrip(".")
            if len(word) == 1 and (word.isupper() or lower_case):        # an initial
                position += 1
                continue
            if word.lower() in PARTICLES and position - index < 3:
                position += 1
                continue
            if position - index < 3 and self.names.is_first_name(word) and written_as_name(word, lower_case):
                position += 1       # a middle name ('LEONA MAE TRUSKOWITZ'); a surname must still follow
                continue
            if self._surname_like(word, lower_case) and (not strict or self.names.is_last_name(word)):
                return tokens[position][0] + len(word)
            return None
        return None

    def _surname_like(self, word: str, lower_case: bool) -> bool:
        if len(word) < (3 if lower_case else 2) or not written_as_name(word, lower_case):   # 'brown bm', 'line dc'
            return False
        return self.names.is_last_name(word) or not self.names.is_common_word(word)

    def _cued(self, text: str, tokens: list[Token], index: int) -> bool:
        """A speaker at the start of a line ('tracy: "i'm ..."'), a possessive ('roberto's daughter'; not for words
        that are also English words: "Bell's palsy"), a title before, or another first name beside it in a list."""
        start, end, word = tokens[index]
        line_start = text.rfind("\n", 0, start) + 1
        if re.fullmatch(r"[\s>\"']*", text[line_start:start]) and text[end:end + 1] == ":":
            return not self.names.is_ambiguous(word.rstrip("."))     # 'COMFORT:' heads a section of a note
        if re.match(r"['’]s\b", text[end:end + 3]) and not self.names.is_ambiguous(word.rstrip(".")):
            return True
        if index > 0 and tokens[index - 1][2].rstrip(".").lower() in TITLES:
            return True
        # notes credit an order to someone: 'PER MARCUS WILL RECHECK' (not a first name that is also a word)
        if index > 0 and tokens[index - 1][2].lower() == "per" and not self.names.is_ambiguous(word.rstrip(".")):
            return True
        neighbours = [i for i in (index - 1, index + 1) if 0 <= i < len(tokens)]
        # a neighbour that is also a word confirms nothing ('COMFORT, WILL CONTINUE' in an all-capitals note)
        return any(_LIST_GAP.fullmatch(text[min(tokens[i][1], end):max(tokens[i][0], start)])
                   and self.names.is_first_name(tokens[i][2].rstrip("."))
                   and not self.names.is_ambiguous(tokens[i][2].rstrip(".")) for i in neighbours)


def _adjacent(text: str, left: Token, right: Token) -> bool:
    gap = text[left[1]:right[0]]
    return bool(_SAME_LINE_GAP.fullmatch(gap)) or (gap == "" and left[2].endswith("."))


@recognizer("en_person_names", (ENTITY,), ("en",), case_aware=True)
def build(language: str) -> EnPersonNamesRecognizer:
    return EnPersonNamesRecognizer(language)
