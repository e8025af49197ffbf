"""English medical record numbers by their labels: MRN 1234567, MRN: MRN-1234567, MR# 1234567, medical record
number 1234567, (MRN-1234567)."""

from __future__ import annotations

import re

from desensitize.recognizers._base import LabeledValueRecognizer
from desensitize.registry import recognizer

LABEL = r"(?:MRN|MR#|medical record (?:number|no\.?|#))"
REGEX = rf"{LABEL}[\s:#-]*(?:MRN[\s:#-]*)?(?P<value>#?\d{{5,10}})(?!\d)"


@recognizer("en_medical_record_number", ("MEDICAL_RECORD_NUMBER",), ("en",))
def build(language: str) -> LabeledValueRecognizer:
    return LabeledValueRecognizer("MEDICAL_RECORD_NUMBER", REGEX, 0.85, language, "en_medical_record_number",
                                  flags=re.IGNORECASE)
