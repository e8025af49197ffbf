"""Unified social credit code (GB 32100): 18 characters with a check character.

A random 18-character string passes the check 1 time in 31, so a context word is required."""

from __future__ import annotations

from desensitize.presidio_api import Pattern
from desensitize.recognizers._base import NO_ALNUM_AFTER, NO_ALNUM_BEFORE, ChecksumPatternRecognizer
from desensitize.registry import recognizer
from veritune.checksums import uscc_valid

ENTITY = "CN_USCC"
# jieba splits 统一社会信用代码 into 统一/社会/信用/代码; Presidio matches context words inside tokens
CONTEXT = ["信用", "代码", "营业执照", "执照", "USCC", "credit"]
PATTERN = NO_ALNUM_BEFORE + r"[0-9A-HJ-NPQRTUWXY]{2}\d{6}[0-9A-HJ-NPQRTUWXY]{10}" + NO_ALNUM_AFTER


@recognizer("cn_uscc", (ENTITY,), ("zh", "en"))
def build(language: str) -> ChecksumPatternRecognizer:
    return ChecksumPatternRecognizer(ENTITY, [Pattern("cn_uscc", PATTERN, 0.3)], CONTEXT, language, uscc_valid,
                                     "cn_uscc")
