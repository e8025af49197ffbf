"""Ages over 89 in clinical text: '98 yo gentleman', 'aged 93', a summary line that opens with the age ('98 s/p left
hip fx'). HIPAA's Safe Harbor method removes every age over 89 (a very old patient is rare enough to be found) while
younger ages stay: a clinical record needs them. So this is its own entity, AGE_OVER_89, which the medical pack
selects instead of AGE (en_age reports every age, for records where any age identifies)."""

from __future__ import annotations

import re

from desensitize.presidio_api import RecognizerResult
from desensitize.recognizers._base import TextRecognizer
from desensitize.recognizers.en_age import REGEX as AGE
from desensitize.registry import recognizer

ENTITY = "AGE_OVER_89"
SCORE = 0.6
OLDEST = 125
_AGE = re.compile(AGE, re.IGNORECASE)
# A line that opens with a bare age and what the patient is: '98 s/p ...', '91 M with ...', '94 yo ...'
_LINE_START = re.compile(r"(?m)^[ \t]*(?P<value>\d{2,3})(?=[ \t]+(?:s/p|y/?o|y\.o\.|M|F|male|female|man|woman|"
                         r"gentleman|lady)\b)")


class EnAgeOver89Recognizer(TextRecognizer):
    def find(self, text: str) -> list[RecognizerResult]:
        spans = {m.span(g) for m in _AGE.finditer(text) for g in ("value", "value2") if m.group(g)}
        spans |= {m.span("value") for m in _LINE_START.finditer(text)}
        return [self.result(start, end, SCORE) for start, end in sorted(spans)
                if 89 < int(text[start:end]) <= OLDEST]


@recognizer("en_age_over_89", (ENTITY,), ("en",))
def build(language: str) -> EnAgeOver89Recognizer:
    return EnAgeOver89Recognizer(ENTITY, language, "en_age_over_89")
