"""Bank cards (UnionPay 62 prefix, 16-19 digits, possibly in groups of four) that pass Luhn.

A random card-length number passes Luhn 1 time in 10, so the base score stays below the threshold and a context
word (卡号, 账户, ...) is needed to report it."""

from __future__ import annotations

from desensitize.presidio_api import Pattern
from desensitize.recognizers._base import NO_DIGIT_AFTER, NO_DIGIT_BEFORE, ChecksumPatternRecognizer
from desensitize.registry import recognizer
from veritune.checksums import luhn_valid

ENTITY = "CN_BANK_CARD"
CONTEXT = ["卡号", "银行卡", "账户", "账号", "收款", "付款", "转账", "借记卡", "信用卡", "card", "account"]
GROUPED = NO_DIGIT_BEFORE + r"62\d{2}(?:[\s-]\d{4}){3}(?:[\s-]\d{1,3})?" + NO_DIGIT_AFTER
PLAIN = NO_DIGIT_BEFORE + r"62\d{14,17}" + NO_DIGIT_AFTER


def is_card(value: str) -> bool:
    digits = value.replace(" ", "").replace("-", "")
    return 16 <= len(digits) <= 19 and luhn_valid(digits)


@recognizer("cn_bank_card", (ENTITY,), ("zh", "en"))
def build(language: str) -> ChecksumPatternRecognizer:
    patterns = [Pattern("cn_bank_card_grouped", GROUPED, 0.3), Pattern("cn_bank_card", PLAIN, 0.3)]
    return ChecksumPatternRecognizer(ENTITY, patterns, CONTEXT, language, is_card, "cn_bank_card")
