"""Pager, beeper and extension numbers: short numbers a phone pattern cannot see ('beeper number 61842', 'pager
#4312', 'ext. 2210'). Four to six digits count only right after such a word, so doses and lab values never do; the
word confirms the number, so the phone shape rule (seven digits or more) spares it (`labelled`)."""

from __future__ import annotations

import re

from desensitize.recognizers._base import LabeledValueRecognizer
from desensitize.registry import recognizer

LABELS = r"(?:pager|beeper|pgr|bpr|beep|ext\.?|extension)"     # not a bare 'x': 'x1000' is a multiplier
REGEX = (rf"(?<![\w]){LABELS}(?:[ \t]*(?:number|num\.?|no\.?))?[ \t]*[:#]?[ \t]*"
         r"(?P<value>\d{4,6}|\d{3}-\d{4})(?![\d.,/-]?\d)")


@recognizer("en_pager", ("PHONE_NUMBER",), ("en",), labelled=True)
def build(language: str) -> LabeledValueRecognizer:
    # above us_phone even when context words raise its score: on the same span Presidio keeps the higher score
    return LabeledValueRecognizer("PHONE_NUMBER", REGEX, 0.95, language, "en_pager", flags=re.IGNORECASE)
