"""Dates in clinical notes that Presidio misses: short ones (7/22, 7/22/24), without reading blood pressures
(150/95) or blood gases (7.34/50/95/28/0) as dates (month 1-12, day 1-31, no digit, slash or dot on either side);
written-out ones (August 14, 1982; 14 Aug 1982) and ISO dates (1998-02-18)."""

from __future__ import annotations

from presidio_analyzer import Pattern, PatternRecognizer

from desensitize.registry import recognizer

ENTITY = "DATE_TIME"
MONTH = r"(?:0?[1-9]|1[0-2])"
DAY = r"(?:0?[1-9]|[12]\d|3[01])"
PATTERN = rf"(?<![\d/.]){MONTH}/{DAY}(?:/(?:19|20)?\d{{2}})?(?![\d/.])"
_MONTH_NAME = (r"(?:Jan(?:uary)?|Feb(?:ruary)?|Mar(?:ch)?|Apr(?:il)?|May|June?|July?|Aug(?:ust)?|Sep(?:t(?:ember)?)?|"
               r"Oct(?:ober)?|Nov(?:ember)?|Dec(?:ember)?)\.?")
WRITTEN = (rf"\b{_MONTH_NAME}\s{DAY}(?:st|nd|rd|th)?,?\s(?:19|20)\d{{2}}\b"
           rf"|\b{DAY}(?:st|nd|rd|th)?\s{_MONTH_NAME}\s(?:19|20)\d{{2}}\b")
ISO = rf"(?<!\d)(?:19|20)\d{{2}}-{MONTH}-{DAY}(?!\d)"
CONTEXT = ["admitted", "discharged", "seen", "on", "dob", "date", "since", "visit", "born", "surgery"]


@recognizer("en_clinical_date", (ENTITY,), ("en",))
def build(language: str) -> PatternRecognizer:
    patterns = [Pattern("clinical_date", PATTERN, 0.6), Pattern("written_date", WRITTEN, 0.7),
                Pattern("iso_date", ISO, 0.7)]
    return PatternRecognizer(supported_entity=ENTITY, patterns=patterns,
                             context=CONTEXT, supported_language=language, name="en_clinical_date")
