"""Clinicians as notes write them: an initial and a surname ('B. Haldane', 'd. vellacott', 'J. O'Dowd') and a name
followed by a credential ('Haldane MD', 'Odile Fairbank RN', 'Pembry PA', 'Lee, NP', 'Kell-Varga MD', 'Odile K.
Fairbank, RRT'), also in lower case on a signature line of its own ('tamsin vale rn').

An initial before a word only names someone when the word reads as a surname: a listed surname or no dictionary
word, written as names are in this record (any one case in a record written in one case). Genus abbreviations
('S. aureus', 'E. coli') are left alone."""

from __future__ import annotations

import re

from desensitize.gazetteers import NameLists, name_lists
from desensitize.lang import caseless_record, written_as_name
from desensitize.presidio_api import RecognizerResult
from desensitize.recognizers._base import TextRecognizer
from desensitize.registry import recognizer

ENTITY = "PERSON"
SCORE = 0.9  # the shape is stronger evidence than spaCy's guess (0.85), which Presidio would keep on the same words
_NAME = r"[^\W\d_][^\W\d_'’-]*"
# k. o'dowd: a one-letter prefix before the apostrophe (O', D'), not a possessive ("s. pt's")
INITIAL = re.compile(rf"(?<![\w.])(?P<value>[A-Za-z]\.[ \t]?(?P<surname>[A-Za-z]['’]{_NAME}|{_NAME}))")
_DOUBLE = rf"{_NAME}(?:-{_NAME})?"          # double-barrelled surnames: 'Kell-Varga MD'
_MIDDLE = r"(?:[ \t]+[A-Z]\.?)?"             # 'Odile K. Fairbank, RRT'
# physicians, nurses, practitioners, anaesthetists, respiratory therapists and social workers
CREDENTIALS = ("MD", "M.D.", "RN", "NP", "PA-C", "PA", "CRNA", "RRT", "MSW", "LICSW", "LCSW")
CREDENTIAL = re.compile(rf"(?<![\w-])(?P<value>{_DOUBLE}{_MIDDLE}(?:[ \t]+{_DOUBLE})?),?[ \t]+"
                        rf"(?:{'|'.join(re.escape(c) for c in CREDENTIALS)})\b(?![\w-])")
# In a record written in lower case the credential is too ('tamsin vale rn'); 'pa' and 'md' alone are words there
# ('pa line', 'md aware'), so only a name-shaped word before them counts, as above.
CREDENTIAL_LOWER = re.compile(rf"(?<![\w-])(?P<value>{_DOUBLE}(?:[ \t]+{_DOUBLE})?),?[ \t]+(?:md|rn|np|crna)\b"
                              r"(?![\w-])")
# A note signed on a line of its own, in lower case in a record that is not ('...see flowsheet.\n\nleona okafor
# rn'): a line that is only a name and a credential.
SIGNATURE = re.compile(rf"(?m)^[ \t]*(?P<value>{_DOUBLE}(?:[ \t]+{_DOUBLE})?),?[ \t]+(?:rn|md|np)\.?[ \t]*$")
# Notes credit and inform clinicians: 'per d hammond' (an initial without its full stop, then a listed surname), 'lena
# dubrov aware' (a listed first name and a surname-shaped word before aware, notified, paged).
CUED_INITIAL = re.compile(r"\b(?i:per|by)[ \t]+(?P<value>[A-Za-z][ \t]+(?P<surname>[A-Za-z]{3,}))\b")
INFORMED = re.compile(rf"(?<![\w.'-])(?P<value>(?P<first>{_NAME})[ \t]+(?P<surname>{_NAME}))[ \t]+"
                      r"(?i:aware|notified|paged|informed|updated)\b")
GENERA = {"aureus", "coli", "epidermidis", "pneumoniae", "difficile", "faecalis", "faecium", "pyogenes", "albicans",
          "influenzae", "aeruginosa", "cloacae", "marcescens", "mirabilis", "agalactiae", "viridans", "jejuni"}


class EnClinicianRecognizer(TextRecognizer):
    def __init__(self, language: str, names: NameLists | None = None) -> None:
        self._names = names
        super().__init__(ENTITY, language, "en_clinician")

    def find(self, text: str) -> list[RecognizerResult]:
        names = self._names or name_lists()
        caseless = caseless_record(text)
        results = []
        for match in INITIAL.finditer(text):
            surname = match.group("surname")
            # a record in one case writes its words like names ('S. POST', 'I. SMALL'): there no dictionary word
            if surname.lower() not in GENERA and _surname(surname, names, caseless) and (
                    not caseless or not names.is_common_word(surname)):
                results.append(self.result(match.start("value"), match.end("value"), SCORE))
        results += [self.result(*m.span("value"), SCORE) for m in CUED_INITIAL.finditer(text)
                    if names.is_last_name(m.group("surname"))]
        results += [self.result(*m.span("value"), SCORE) for m in INFORMED.finditer(text)
                    if names.is_first_name(m.group("first")) and len(m.group("surname")) > 2
                    and not names.is_common_word(m.group("surname"))]
        for match in SIGNATURE.finditer(text):
            words = match.group("value").split()
            if names.is_first_name(words[0]) and all(names.could_be_name(w) for w in words):
                results.append(self.result(match.start("value"), match.end("value"), SCORE))
        credentials = (CREDENTIAL, CREDENTIAL_LOWER) if caseless else (CREDENTIAL,)
        for match in (m for pattern in credentials for m in pattern.finditer(text)):
            words = list(re.finditer(_DOUBLE, match.group("value")))
            while words and not any(_surname(part, names, caseless) for part in words[0].group().split("-")):
                words.pop(0)
            if words:
                start = match.start("value") + words[0].start()
                results.append(self.result(start, match.end("value"), SCORE))
        return results


def _surname(word: str, names: NameLists, caseless: bool) -> bool:
    return len(word) > 2 and written_as_name(word, caseless) and names.could_be_name(word)


@recognizer("en_clinician", (ENTITY,), ("en",), case_aware=True)
def build(language: str) -> EnClinicianRecognizer:
    return EnClinicianRecognizer(language)
