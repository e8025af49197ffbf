"""Short clinical dates that Presidio misses (7/22, 7/22/24), without reading blood pressures (150/95) or blood
gases (7.34/50/95/28/0) as dates: month 1-12, day 1-31, and no digit, slash or dot on either side."""

from __future__ import annotations

from presidio_analyzer import Pattern, PatternRecognizer

from desensitize.registry import recognizer

ENTITY = "DATE_TIME"
MONTH = r"(?:0?[1-9]|1[0-2])"
DAY = r"(?:0?[1-9]|[12]\d|3[01])"
PATTERN = rf"(?<![\d/.]){MONTH}/{DAY}(?:/(?:19|20)?\d{{2}})?(?![\d/.])"
CONTEXT = ["admitted", "discharged", "seen", "on", "dob", "date", "since", "visit", "born", "surgery"]


@recognizer("clinical_date", (ENTITY,), ("en",))
def build(language: str) -> PatternRecognizer:
    return PatternRecognizer(supported_entity=ENTITY, patterns=[Pattern("clinical_date", PATTERN, 0.6)],
                             context=CONTEXT, supported_language=language, name="ClinicalDateRecognizer")
