"""Two-digit years after a diagnosis or procedure of the history: 'MI 92', 'CVA in 94 and 01', 'CABG 03'. The event word
confirms the number (the date shape rule, which wants a date shape, spares it: `labelled`); counts, doses and
durations after the same words are not years ('TIA 30 min', 'stent 20 mm', 'CABG x 3')."""

from __future__ import annotations

from desensitize.presidio_api import Pattern, PatternRecognizer
from desensitize.registry import recognizer

ENTITY = "DATE_TIME"
EVENTS = r"MI|AMI|NSTEMI|STEMI|CABG(?:x\d)?|PTCA|PCI|CVA|TIA|stent(?:ed)?"
_NOT_A_YEAR_AFTER = (r"x\b|mg|mcg|ml|mm|cm|cc|%|min|mins|minutes?|h|hrs?|hours?|d|days?|wks?|weeks?|mos?|months?|"
                     r"yrs?|years?|y/?o")
# the lookbehind has a variable width: Presidio compiles patterns with the regex module, which allows it
_YEAR = rf"\d{{2}}(?![\w/%.:-]|\s*(?i:{_NOT_A_YEAR_AFTER})\b)"
# a second year joined to the first: 'CVA in 94 and 01'
PATTERN = rf"(?<=\b(?i:{EVENTS})\s(?:in\s)?(?:\d{{2}}\s(?i:and|&)\s)?){_YEAR}"


@recognizer("en_event_year", (ENTITY,), ("en",), labelled=True)
def build(language: str) -> PatternRecognizer:
    return PatternRecognizer(supported_entity=ENTITY, patterns=[Pattern("event_short_year", PATTERN, 0.6)],
                             supported_language=language, name="en_event_year")
