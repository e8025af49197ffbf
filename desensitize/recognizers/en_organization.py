"""Company names by their legal form (Miller LLC, Acme Holdings Inc., Webster & Sons Ltd) and the 'Name, Name and
Name' form of partnerships; spaCy's ORG misses many of them."""

from __future__ import annotations

import re

from desensitize.presidio_api import Pattern, PatternRecognizer
from desensitize.registry import recognizer

# Capitals carry the meaning here; Presidio matches case-insensitively unless told otherwise.
CASE_SENSITIVE = re.DOTALL | re.MULTILINE
ENTITY = "ORGANIZATION"
_NAME = r"[A-Z][A-Za-z&'-]+"
LEGAL_FORM = (rf"\b{_NAME}(?:,?\s(?:{_NAME}|and|&))*,?\s(?:LLC|L\.L\.C\.|Inc\.?|Ltd\.?|Limited|PLC|plc|LLP|Corp\.?|"
              r"Corporation|GmbH|AG|S\.A\.|N\.V\.|Co\.|Group|Holdings|(?:and|&)\sSons)(?![A-Za-z])")
PARTNERSHIP = rf"\b{_NAME},\s{_NAME},?\sand\s{_NAME}\b"


@recognizer("en_organization", (ENTITY,), ("en",))
def build(language: str) -> PatternRecognizer:
    # a legal form is stronger evidence than spaCy's guess that "Davis LLC" is a person
    patterns = [Pattern("legal_form", LEGAL_FORM, 0.9), Pattern("partnership", PARTNERSHIP, 0.5)]
    return PatternRecognizer(supported_entity=ENTITY, patterns=patterns, supported_language=language,
                             global_regex_flags=CASE_SENSITIVE,
                             name="en_organization")
