"""Chinese passports: E or G (ordinary), D/S/P (diplomatic, service, public affairs) followed by 8 digits;
the newer E-series may carry a letter in third place. Short codes collide with product codes, so context is
needed."""

from __future__ import annotations

from desensitize.presidio_api import Pattern, PatternRecognizer
from desensitize.recognizers._base import NO_ALNUM_AFTER, NO_ALNUM_BEFORE
from desensitize.registry import recognizer

ENTITY = "CN_PASSPORT"
CONTEXT = ["护照", "护照号", "passport"]
PATTERN = NO_ALNUM_BEFORE + r"(?:[EG]\d{8}|E[A-HJ-NP-Z]\d{7}|[DSP]E?\d{7,8})" + NO_ALNUM_AFTER


@recognizer("cn_passport", (ENTITY,), ("zh", "en"))
def build(language: str) -> PatternRecognizer:
    return PatternRecognizer(supported_entity=ENTITY, patterns=[Pattern("cn_passport", PATTERN, 0.3)],
                             context=CONTEXT, supported_language=language, name="cn_passport")
