"""Medical insurance numbers in Chinese records, found by their field labels (医保卡号, 社保卡号, 参保号, ...)."""

from __future__ import annotations

from desensitize.recognizers._base import LabeledValueRecognizer
from desensitize.recognizers.cn_medical_record_number import VALUE
from desensitize.registry import recognizer

LABELS = "医保卡号|医保号|社保卡号|医疗保险号|参保号"


@recognizer("cn_insurance_number", ("INSURANCE_NUMBER",), ("zh",))
def build(language: str) -> LabeledValueRecognizer:
    return LabeledValueRecognizer("INSURANCE_NUMBER", rf"(?:{LABELS})\s*[:：]?\s*{VALUE}", 0.85, language,
                                  "cn_insurance_number")
