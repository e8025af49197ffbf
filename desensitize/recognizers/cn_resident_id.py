"""Mainland resident identity card number: 18 characters, ISO 7064 MOD 11-2 check character, valid birth date."""

from __future__ import annotations

from datetime import date

from desensitize.presidio_api import Pattern
from desensitize.recognizers._base import NO_ALNUM_AFTER, NO_ALNUM_BEFORE, ChecksumPatternRecognizer
from desensitize.registry import recognizer
from veritune.checksums import cn_id_valid

ENTITY = "CN_RESIDENT_ID"
CONTEXT = ["身份证", "身份证号", "证件号", "公民身份", "身份号码", "ID"]


def has_valid_birth_date(value: str) -> bool:
    try:
        born = date(int(value[6:10]), int(value[10:12]), int(value[12:14]))
    except ValueError:
        return False
    return date(1900, 1, 1) <= born <= date.today()


def is_resident_id(value: str) -> bool:
    return cn_id_valid(value) and has_valid_birth_date(value)


@recognizer("cn_resident_id", (ENTITY,), ("zh", "en"))
def build(language: str) -> ChecksumPatternRecognizer:
    pattern = Pattern("cn_resident_id", NO_ALNUM_BEFORE + r"[1-9]\d{5}(?:19|20)\d{2}\d{2}\d{2}\d{3}[0-9Xx]"
                      + NO_ALNUM_AFTER, 0.6)
    return ChecksumPatternRecognizer(ENTITY, [pattern], CONTEXT, language, is_resident_id, "cn_resident_id")
