"""Where spaCy's NER runs in English text: around the words that could be part of a selected entity.

On the real nursing notes spaCy's NER took three quarters of the detector's time (9 of 12 s for 911 notes, 1
thread), and most of a note is clinical shorthand no name, place or date is made of. A token is a *cue* when it
could belong to an entity spaCy labels:
- a listed first name, surname or GeoNames place that is no dictionary word, in any case ('odile', 'Thornbury');
  a listed one that is also a word when it is capitalised in ordinary case ('Hazel', 'Ivy'; not 'CARE' in capitals);
- a capitalised word neither the dictionary nor the model's vectors know ('Quillfeather'), unless written in capitals
  (clinical shorthand: 'IABP', 'PRBC'); an initial before a capitalised word ('J WINSLOW', 'N. Harlan'); an O'/D'
  surname; a month, weekday or year (1800-2099);
- with ORGANIZATION or NRP selected, also an organisation word (Inc, Bank, Hospital) and any capitalised word
  inside a sentence: company and group names are dictionary words ('American', 'Global Trading').
NER runs over each cue with `margin` tokens either side (the model's CNN sees four tokens each way), overlapping
windows merged, and its entities are put back on the whole document. Measured on the real notes (medical pack, 911
notes, 1 thread, one run): about 12 % of the tokens reach NER, the detector takes 4.5 s instead of 12.3 s, recall
0.955 instead of 0.956 (one span of 616) at 1.35 replacements per gold span instead of 1.50 (NER's guesses on
shorthand, 'lasix 40' as a PERSON, are gone). On presidio-research's synthetic set (every entity, 27 % of the tokens)
any-PII recall 0.937 -> 0.935: NRP written in lower case (a nationality after 'I am').
`DesensitizeConfig.ner = "full"` runs NER on every token; `verify` always does.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from spacy.pipeline import EntityRecognizer
from spacy.tokens import Doc, Span, Token
from spacy.util import minibatch

from desensitize.gazetteers import CALENDAR_WORDS, name_lists, place_names
from desensitize.lang import windows_around
from veritune.errors import VerituneError

NER_SCOPES = ("focused", "full")
SPACY_ENTITIES = frozenset({"PERSON", "LOCATION", "DATE_TIME", "NRP", "ORGANIZATION"})
GROUP_ENTITIES = frozenset({"ORGANIZATION", "NRP"})
MARGIN = 4
_YEAR = re.compile(r"'?(?:1[89]|20)\d\ds?")
_MONTH_ABBREVIATIONS = frozenset({"jan", "feb", "mar", "apr", "jun", "jul", "aug", "sep", "sept", "oct", "nov", "dec"})
_ORGANISATION_WORDS = frozenset({"inc", "corp", "llc", "ltd", "co", "company", "group", "bank", "hospital",
                                 "university", "center", "centre", "clinic", "institute", "college", "school",
                                 "associates", "partners", "foundation", "trust", "holdings", "plc"})
_SENTENCE_END = frozenset({".", "!", "?", ":", ";"})


@dataclass(frozen=True)
class NerFocus:
    """Which cues open a window for NER (see the module docstring). `labels` False: no spaCy entity is selected,
    so NER never runs."""

    labels: bool = True
    groups: bool = False      # ORGANIZATION or NRP selected: capitalised dictionary words are cues too
    margin: int = MARGIN

    def windows(self, doc: Doc) -> list[tuple[int, int]]:
        """(start, end) token ranges to run NER on, merged where they touch; a text shorter than one window is
        read whole (a lone Latin word inside a Chinese record, 'Quillfeather', has no sentence to be inside)."""
        if not self.labels:
            return []
        if len(doc) < 2 * self.margin + 1:     # shorter than one window: a field, a Latin word in Chinese text
            return [(0, len(doc))] if len(doc) else []
        cues = ((token.i, token.i + 1) for token in doc if self.is_cue(token))
        return windows_around(cues, self.margin, len(doc))

    def is_cue(self, token: Token) -> bool:
        word = token.text
        if not word[0].isalpha():
            return bool(_YEAR.fullmatch(word))
        if len(word) == 1 or (len(word) == 2 and word[1] == "."):
            return word[0].isupper() and _initial_before_name(token)
        if len(word) > 2 and word[1] in "'’" and word[0] in "oOdD" and word[2:].isalpha():
            return True
        kind = _word_kind(word, token.vocab.has_vector(word.lower()))
        if kind == "cue":
            return True
        return self.groups and (kind == "organisation" or _capitalised_inside_sentence(token))

    def annotate(self, ner: EntityRecognizer, docs: Iterable[Doc], batch_size: int) -> Iterator[Doc]:
        """`docs` (tokenized, NER not run) with `doc.ents` from NER run on their windows."""
        for batch in minibatch(docs, batch_size):
            pieces = [(d, start, doc[start:end].as_doc()) for d, doc in enumerate(batch)
                      for start, end in self.windows(doc)]
            found: list[list[Span]] = [[] for _ in batch]
            for (d, start, _), piece in zip(pieces, ner.pipe([p for _, _, p in pieces], batch_size=batch_size),
                                            strict=True):
                found[d] += [Span(batch[d], start + e.start, start + e.end, label=e.label) for e in piece.ents]
            for doc, ents in zip(batch, found, strict=True):
                doc.ents = ents
                yield doc


def focus_for(entities: Iterable[str], scope: str = "focused") -> NerFocus | None:
    """The focus for detecting `entities` (English), or None for NER on every token (`scope` 'full')."""
    if scope not in NER_SCOPES:
        raise VerituneError(f"ner must be one of {', '.join(NER_SCOPES)}, not {scope!r}", field="ner")
    if scope == "full":
        return None
    wanted = set(entities) & SPACY_ENTITIES
    return NerFocus(labels=bool(wanted), groups=bool(wanted & GROUP_ENTITIES))


@functools.lru_cache(maxsize=65536)   # per distinct word: notes repeat their vocabulary
def _word_kind(word: str, has_vector: bool) -> str:
    """'cue', 'organisation' or '' for a word of two letters or more."""
    names, lower = name_lists(), word.lower()
    listed = names.is_first_name(word) or names.is_last_name(word) or lower in place_names()
    if lower in CALENDAR_WORDS or lower in _MONTH_ABBREVIATIONS:
        return "cue"
    common = names.is_common_word(word)
    if listed and (not common or (word[0].isupper() and not word.isupper())):
        return "cue"
    if lower.rstrip(".") in _ORGANISATION_WORDS:
        return "organisation"
    if word.replace("'", "").isalpha() and word[0].isupper() and not word.isupper() and not common and not has_vector:
        return "cue"
    return ""


def _initial_before_name(token: Token) -> bool:
    """'J WINSLOW', 'N. Harlan': a capital letter (its full stop a token or not) before a capitalised word."""
    doc, i = token.doc, token.i + 1
    if i < len(doc) and doc[i].text == ".":
        i += 1
    return i < len(doc) and len(doc[i].text) > 1 and doc[i].text.isalpha() and doc[i].text[0].isupper()


def _capitalised_inside_sentence(token: Token) -> bool:
    """'the Northgate Trust account': a capitalised word (not in capitals) that does not open a sentence or line."""
    word = token.text
    if not word[0].isupper() or word.isupper() or token.i == 0:
        return False
    before = token.doc[token.i - 1].text
    return before not in _SENTENCE_END and "\n" not in before
