"""Ages: '79 years old', 'aged 74', 'age: 31', '45yo', '60-year-old'. Ages over 89 are identifiers under HIPAA and
any age narrows a small cohort, so all are reported; the value is the number only."""

from __future__ import annotations

import re

from desensitize.recognizers._base import LabeledValueRecognizer
from desensitize.registry import recognizer

# A person's age, not a duration ('a 5-year follow-up', 'for 3 years') nor a cohort's bounds ('aged 35 to 65',
# 'aged 80 or older'): PubMed abstracts are full of both, and neither identifies anyone.
_COHORT_BOUND = r"(?!\s*(?:-|–|to|or|and)\s*(?:\d|older|over|above|younger|under|more|less|greater))"
REGEX = (r"(?<![\d.])(?P<value>\d{1,3})(?=\s?-?\s?(?:(?:years?|yrs?)[\s-]?(?:old|of\s+age)|y/?o)\b)"
         r"|\b(?<!over )(?<!under )(?<!above )(?<!below )(?:aged?|age:|age of|turn(?:ed|s|ing)?)"
         r"\s*(?P<value2>\d{1,3})(?!\d)(?![.,]\d)(?!\s?(?:%|mg|kg|ml|am|pm))"
         + _COHORT_BOUND)


@recognizer("en_age", ("AGE",), ("en",))
def build(language: str) -> LabeledValueRecognizer:
    return LabeledValueRecognizer("AGE", REGEX, 0.6, language, "en_age", flags=re.IGNORECASE)
