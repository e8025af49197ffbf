"""Medical record and insurance numbers, found by their field labels (住院号, 门诊号, 病案号, 医保卡号, ...)."""

from __future__ import annotations

from desensitize.recognizers._base import LabeledValueRecognizer
from desensitize.registry import recognizer

RECORD_LABELS = "住院号|门诊号|病案号|病历号|就诊号|床号|检查号"
INSURANCE_LABELS = "医保卡号|医保号|社保卡号|医疗保险号|参保号"
VALUE = r"(?P<value>[A-Za-z]{0,3}\d[\d-]{3,19})(?![0-9])"


@recognizer("cn_medical_record_number", ("MEDICAL_RECORD_NUMBER",), ("zh",))
def build_record(language: str) -> LabeledValueRecognizer:
    return LabeledValueRecognizer("MEDICAL_RECORD_NUMBER", rf"(?:{RECORD_LABELS})\s*[:：]?\s*{VALUE}", 0.85,
                                  language, "CnMedicalRecordNumberRecognizer")


@recognizer("cn_insurance_number", ("INSURANCE_NUMBER",), ("zh",))
def build_insurance(language: str) -> LabeledValueRecognizer:
    return LabeledValueRecognizer("INSURANCE_NUMBER", rf"(?:{INSURANCE_LABELS})\s*[:：]?\s*{VALUE}", 0.85,
                                  language, "CnInsuranceNumberRecognizer")
