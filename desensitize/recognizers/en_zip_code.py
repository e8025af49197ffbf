"""Postcodes after their label (ZIP: 3520, postal code SW1A 1AA), which spaCy misses."""

from __future__ import annotations

import re

from desensitize.recognizers._base import LabeledValueRecognizer
from desensitize.registry import recognizer

ZIP = (r"\b(?:zip(?:\s?code)?|postal\s?code|postcode|post\s?code)\s*(?:is|:|#)?\s*"
       r"(?P<value>\d{3,5}(?:[ -]\d{2,4})?|[A-Z]{1,2}\d[A-Z\d]?\s?\d[A-Z]{2})\b")


@recognizer("en_zip_code", ("LOCATION",), ("en",))
def build(language: str) -> LabeledValueRecognizer:
    return LabeledValueRecognizer("LOCATION", ZIP, 0.7, language, "en_zip_code", flags=re.IGNORECASE)
