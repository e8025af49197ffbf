"""Ages: '79 years old', 'aged 74', 'age: 31', '45yo', '60-year-old'. Ages over 89 are identifiers under HIPAA and
any age narrows a small cohort, so all are reported; the value is the number only."""

from __future__ import annotations

import re

from desensitize.recognizers._base import LabeledValueRecognizer
from desensitize.registry import recognizer

REGEX = (r"(?<![\d.])(?P<value>\d{1,3})(?=\s?-?\s?(?:years?|yrs?|y/?o)\b)"
         r"|\b(?:aged?|age:|age of|turn(?:ed|s|ing)?)\s*(?P<value2>\d{1,3})(?![\d.,]\d)(?!\s?(?:%|mg|kg|ml|am|pm))")


@recognizer("age", ("AGE",), ("en",))
def build(language: str) -> LabeledValueRecognizer:
    return LabeledValueRecognizer("AGE", REGEX, 0.6, language, "AgeRecognizer", flags=re.IGNORECASE)
