"""Payment card numbers of any brand: 12-19 digits, optionally grouped, passing Luhn. Presidio's own recognizer
knows the classic brand prefixes only and misses, e.g., Mastercard's 2-series. A Luhn pass alone happens to 1 in
10 random numbers, so a context word (card, visa, ...) is needed."""

from __future__ import annotations

from desensitize.presidio_api import Pattern
from desensitize.recognizers._base import NO_DIGIT_AFTER, NO_DIGIT_BEFORE, ChecksumPatternRecognizer
from desensitize.registry import recognizer
from veritune.checksums import luhn_valid

ENTITY = "CREDIT_CARD"
CONTEXT = ["card", "credit", "debit", "visa", "mastercard", "maestro", "amex", "payment", "cc", "卡号", "信用卡"]
PATTERN = NO_DIGIT_BEFORE + r"\d{4}(?:[ -]?\d{4}){2}(?:[ -]?\d{1,7})?" + NO_DIGIT_AFTER


def is_card_number(value: str) -> bool:
    digits = value.replace(" ", "").replace("-", "")
    return 12 <= len(digits) <= 19 and luhn_valid(digits)  # Maestro numbers start at 12 digits


@recognizer("card_number", (ENTITY,), ("en", "zh"))
def build(language: str) -> ChecksumPatternRecognizer:
    return ChecksumPatternRecognizer(ENTITY, [Pattern("card_number", PATTERN, 0.3)], CONTEXT, language,
                                     is_card_number, "card_number")
