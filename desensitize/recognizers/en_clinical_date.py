"""Dates in clinical notes that Presidio misses: short ones (7/22, 7/22/24, 5-19-16, 11/87), without reading blood
pressures (150/95) or blood gases (7.34/50/95/28/0) as dates (month 1-12, day 1-31, no digit, slash or dot on either
side); written-out ones (August 14, 1982; 14 Aug 1982), ISO dates (1998-02-18) and years after an event of the history
('s/p CABG 2004'; two-digit ones, 'MI 92', are en_event_year's)."""

from __future__ import annotations

from desensitize.presidio_api import Pattern, PatternRecognizer
from desensitize.registry import recognizer

ENTITY = "DATE_TIME"
MONTH = r"(?:0?[1-9]|1[0-2])"
DAY = r"(?:0?[1-9]|[12]\d|3[01])"
# a sentence may end right after the date ('extubated 4/17.'), a decimal may not ('7.34/50')
PATTERN = rf"(?<![\d/.]){MONTH}/{DAY}(?:/(?:19|20)?\d{{2}})?(?![\d/]|\.\d)"
# a month and a two-digit year that no day can be ('stent to LAD 11/87'); not ventilator settings ('peep 5/40%')
MONTH_YEAR = rf"(?<![\d/.]){MONTH}/(?:3[2-9]|[4-9]\d)(?![\d/%]|\.\d)"
DASHED = rf"(?<![\d.-]){MONTH}-{DAY}-(?:19|20)?\d{{2}}(?![\d-]|\.\d)"   # note headers: 5-19-16
_MONTH_NAME = (r"(?:Jan(?:uary)?|Feb(?:ruary)?|Mar(?:ch)?|Apr(?:il)?|May|June?|July?|Aug(?:ust)?|Sep(?:t(?:ember)?)?|"
               r"Oct(?:ober)?|Nov(?:ember)?|Dec(?:ember)?)\.?")
WRITTEN = (rf"\b{_MONTH_NAME}\s{DAY}(?:st|nd|rd|th)?,?\s(?:19|20)\d{{2}}\b"
           rf"|\b{DAY}(?:st|nd|rd|th)?\s{_MONTH_NAME}\s(?:19|20)\d{{2}}\b")
ISO = rf"(?<!\d)(?:19|20)\d{{2}}-{MONTH}-{DAY}(?!\d)"
_FULL_MONTH = r"(?i:january|february|march|april|may|june|july|august|september|october|november|december)"
# a month and a day without a year ('last used in may 15', 'Apr 21'), not a dose ('May 5 mg')
MONTH_DAY = (rf"\b(?:{_FULL_MONTH}|{_MONTH_NAME})\s{DAY}(?:st|nd|rd|th)?\b(?!\s*(?:mg|ml|mcg|%|units?)\b)"
             rf"|\b{DAY}\s(?:{_FULL_MONTH}|{_MONTH_NAME})\b")
YEAR_APOSTROPHE = r"(?<![\w'’])['’]\d{2}(?![\w'’%])"                       # CABGx4 '79, in '95
# a year right after an event of a history: 's/p CABG 2004', 'stent in 1998' (lookbehind: the regex module)
EVENT_YEAR = (r"(?<=\b(?i:MI|AMI|NSTEMI|STEMI|CABG(?:x\d)?|PTCA|PCI|CVA|TIA|stent(?:ed)?|ablation|replacement|"
              r"repair|surgery|dx|diagnosed|s/p)\s(?:in\s)?)(?:19|20)\d{2}(?![\w/%-]|\.\d)")
CONTEXT = ["admitted", "discharged", "seen", "on", "dob", "date", "since", "visit", "born", "surgery"]


@recognizer("en_clinical_date", (ENTITY,), ("en",))
def build(language: str) -> PatternRecognizer:
    patterns = [Pattern("clinical_date", PATTERN, 0.6), Pattern("written_date", WRITTEN, 0.7),
                Pattern("iso_date", ISO, 0.7), Pattern("dashed_date", DASHED, 0.6),
                Pattern("month_year", MONTH_YEAR, 0.6),
                Pattern("month_day", MONTH_DAY, 0.6), Pattern("year_apostrophe", YEAR_APOSTROPHE, 0.6),
                Pattern("event_year", EVENT_YEAR, 0.6)]
    return PatternRecognizer(supported_entity=ENTITY, patterns=patterns,
                             context=CONTEXT, supported_language=language, name="en_clinical_date")
