"""Employers named after an employment cue: 'I work for Citigroup', 'used to work for Deloitte as a midwife',
'employed by Ellis-Ingram', 'Employer: Socrata'. A workplace narrows a person down as much as a town does."""

from __future__ import annotations

from desensitize.recognizers._base import LabeledValueRecognizer
from desensitize.registry import recognizer

ENTITY = "ORGANIZATION"
_NAME_WORD = r"(?:[A-Z][\w&'.-]*|[A-Z]{2,})"
REGEX = (r"\b(?i:work(?:s|ed|ing)?\s+(?:for|at)|employed\s+(?:by|at)|employer\s*(?:is|:)|hired\s+by|job\s+at|"
         r"intern(?:ed|ing)?\s+at|joined)[ \t]+"
         rf"(?P<value>{_NAME_WORD}(?:[ \t]+(?:&[ \t]+)?{_NAME_WORD}){{0,3}})")


@recognizer("en_employer", (ENTITY,), ("en",))
def build(language: str) -> LabeledValueRecognizer:
    # 0.9: the cue is stronger evidence than spaCy's guess (0.85), which Presidio would keep on the same words and
    # which the dictionary-word filter may drop
    return LabeledValueRecognizer(ENTITY, REGEX, 0.9, language, "en_employer")
