"""Medical record numbers in Chinese records, found by their field labels (住院号, 门诊号, 病案号, ...)."""

from __future__ import annotations

from desensitize.recognizers._base import LabeledValueRecognizer
from desensitize.registry import recognizer

LABELS = "住院号|门诊号|病案号|病历号|就诊号|床号|检查号"
VALUE = r"(?P<value>[A-Za-z]{0,3}\d[\d-]{3,19})(?![0-9])"


@recognizer("cn_medical_record_number", ("MEDICAL_RECORD_NUMBER",), ("zh",))
def build(language: str) -> LabeledValueRecognizer:
    return LabeledValueRecognizer("MEDICAL_RECORD_NUMBER", rf"(?:{LABELS})\s*[:：]?\s*{VALUE}", 0.85, language,
                                  "cn_medical_record_number")
