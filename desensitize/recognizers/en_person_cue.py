"""People named right after a cue that only a name follows: 'my name is vitoria', 'everyone calls me Borna',
'Name: Nayla Montero', 'her maiden name is Key', 'Hi Victor,', 'Mr. Elliott', 'my kid Agi'.

The cue carries the evidence, so the name need not be in any list. The words after the cue are kept while they
read as a name: capitalised (or, in a record with no capitals, not a dictionary word), up to three."""

from __future__ import annotations

import re

from spacy.lang.en.stop_words import STOP_WORDS

from desensitize.gazetteers import NameLists, name_lists
from desensitize.lang import caseless_record
from desensitize.presidio_api import RecognizerResult
from desensitize.recognizers._base import TextRecognizer
from desensitize.registry import recognizer

ENTITY = "PERSON"
SCORE = 0.9  # a cue is stronger evidence than spaCy's guess (0.85), which Presidio would keep on the same words
MAX_WORDS = 3
_WORD = r"[^\W\d_][^\W\d_'’-]*\.?"
CUES = re.compile(
    r"\b(?i:(?:my|his|her|their|your|the|first|last|full|maiden)\s+name\s+(?:is|was)|(?:first|last|full)\s+name\s*\?"
    r"|call(?:s|ed)?\s+me|name\s*:|(?:mr|mrs|ms|miss|drs?|prof)\.?|(?:np|md|rn)\b|(?-i:HO)\b"   # HO: house officer
    r"|my\s+(?:kid|son|daughter|wife|husband|partner|mother|father|brother|sister|child|grandson|granddaughter)"
    r"|(?:hi|hello|dear|hey),?)"
    rf"(?:[ \t]+|(?<=\.))(?P<value>{_WORD}(?:[ \t]+{_WORD}){{0,{MAX_WORDS - 1}}})")   # 'Dr. X', 'DR.X'

# Greetings and kinship words are followed by ordinary words too ('hi there', 'my son is'): after them only a
# capitalised word counts, so in a record without capitals they find nothing.
_CAPITALISED_ONLY = re.compile(r"(?i:hi|hello|dear|hey|my\s+\w+)\W*$")
# A title is the strongest cue: after it a name may be written in any case, even in an ordinary record ('spoke with
# Dr. ferreira'), if it is a listed name or no dictionary word; right after a title any word but those below counts.
# A credential (NP, MD, RN) stands before ordinary words in notes ('MD aware', 'RN given', 'md said'): after one a
# word must read as a name (listed, or no dictionary word): 'NP MIRABEL' is one, 'RN WARM' is not.
_TITLE = re.compile(r"(?i:mr|mrs|ms|miss|drs?|prof)\.?\s*$")
_CREDENTIAL = re.compile(r"(?i:np|md|rn)\.?\s*$|HO\s*$")
# Words that follow a title without being a name ('per MD order', 'Dr. aware', 'NP team').
NOT_AFTER_TITLE = {"order", "orders", "ordered", "aware", "notified", "note", "notes", "team", "office", "made", "on",
                   "called", "paged", "here", "in", "at", "to"}
# A relative named after the kinship word ('daughter hazel', 'wife, odile', 'significant other tobias'): only a listed
# first name counts, since other words follow these ('daughter lives close by').
KIN = re.compile(r"\b(?i:(?:daughter|son|wife|husband|sister|brother|mother|father|mom|dad|niece|nephew|aunt|uncle|"
                 r"cousin|friend|partner|fianc[eé]e?|grand(?:son|daughter|mother|father)|significant\s+other)s?)"
                 r"[ \t]*[,:]?[ \t]+(?P<value>[^\W\d_]+)(?:[ \t]+and[ \t]+(?P<value2>[^\W\d_]+))?")
# Words a cue is followed by that name nobody: 'Dear Sir', 'Hello Team', 'Hi All'.
NOT_NAMES = {"sir", "madam", "team", "all", "everyone", "everybody", "doctor", "colleague", "colleagues", "customer",
             "patient", "friend", "friends", "folks", "there"}


class EnPersonCueRecognizer(TextRecognizer):
    def __init__(self, language: str, names: NameLists | None = None) -> None:
        self._names = names
        super().__init__(ENTITY, language, "en_person_cue")

    def find(self, text: str) -> list[RecognizerResult]:
        names = self._names or name_lists()
        caseless = caseless_record(text)
        results = []
        for match in CUES.finditer(text):
            cue = text[match.start():match.start("value")]
            capitalised_only = bool(_CAPITALISED_ONLY.search(cue))
            end = _name_end(match, names, caseless and not capitalised_only, bool(_TITLE.search(cue)),
                            bool(_CREDENTIAL.search(cue)))
            if end is not None:
                results.append(self.result(match.start("value"), end, SCORE))
        for match in KIN.finditer(text):
            for group in ("value", "value2"):
                if match.group(group) and names.is_first_name(match.group(group)):
                    results.append(self.result(match.start(group), match.end(group), SCORE))
        return results


def _name_end(match: re.Match, names: NameLists, caseless: bool, title: bool = False, credential: bool = False
              ) -> int | None:
    """End of the words after the cue that read as a name; None when the first does not."""
    end = None
    for word_match in re.finditer(_WORD, match.group("value")):
        word = word_match.group().rstrip(".")
        if word.lower() in STOP_WORDS or word.lower() in NOT_NAMES:      # 'Hello I moved', 'Dear Sir'
            break
        # 'call me grace' (a listed name), 'my name is vitoria' (no dictionary word)
        listed = names.could_be_name(word)
        if title and end is None and word.lower() not in NOT_AFTER_TITLE and len(word) > 1:
            listed = True          # the word right after a title: 'dr. ostrander', 'Dr. White'
        if credential and not caseless and names.is_ambiguous(word):   # 'MD said ok': Said is a name and a word;
            listed = False                                             # in an all-capitals note 'NP HAZEL' stands
        any_case = title or credential      # after either, a name may be written in any case: 'NP MIRABEL'
        if caseless:     # a capitalised word stands out in an all-capitals record ('PER NP Whitcombe. CONSENT')
            fits = ((word.islower() or word.isupper()) and (listed or len(word) == 1)) or (
                word[0].isupper() and word[1:].islower() and listed)
        else:
            fits = (word[0].isupper() and (len(word) == 1 or not word.isupper())) or (
                any_case and (word.islower() or word.isupper()) and listed)
        if not fits:
            break
        end = match.start("value") + word_match.start() + len(word)
        if word_match.group().endswith(".") and len(word) > 1:     # 'per Dr. Price. Bea ...': the sentence ended
            break
    return end


@recognizer("en_person_cue", (ENTITY,), ("en",), case_aware=True)
def build(language: str) -> EnPersonCueRecognizer:
    return EnPersonCueRecognizer(language)
