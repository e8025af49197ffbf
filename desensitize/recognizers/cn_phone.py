"""Mainland mobile numbers (optionally +86, spaces or dashes) and landlines with an area code."""

from __future__ import annotations

from desensitize.presidio_api import Pattern, PatternRecognizer
from desensitize.recognizers._base import NO_DIGIT_AFTER, NO_DIGIT_BEFORE
from desensitize.registry import recognizer

ENTITY = "CN_PHONE"
CONTEXT = ["电话", "手机", "联系", "致电", "热线", "座机", "号码", "回访", "tel", "phone"]
MOBILE = NO_DIGIT_BEFORE + r"(?:(?:\+|00)?86[\s-]?)?1[3-9]\d[\s-]?\d{4}[\s-]?\d{4}" + NO_DIGIT_AFTER
LANDLINE = NO_DIGIT_BEFORE + r"(?:\(0\d{2,3}\)\s?|0\d{2,3}-)[2-9]\d{6,7}" + NO_DIGIT_AFTER


@recognizer("cn_phone", (ENTITY,), ("zh", "en"))
def build(language: str) -> PatternRecognizer:
    patterns = [Pattern("cn_mobile", MOBILE, 0.6), Pattern("cn_landline", LANDLINE, 0.45)]
    return PatternRecognizer(supported_entity=ENTITY, patterns=patterns, context=CONTEXT,
                             supported_language=language, name="cn_phone")
