"""Presidio's own generic recognizers, registered by name. Country-specific ones (UK NHS, Australian, Indian, ...)
are left out on purpose: on clinical text they fire on lab values (a US phone was tagged UK_NHS)."""

from __future__ import annotations

import re

from desensitize.lang import windows_around
from desensitize.presidio_api import (
    CreditCardRecognizer,
    DateRecognizer,
    EmailRecognizer,
    EntityRecognizer,
    IbanRecognizer,
    IpRecognizer,
    NlpArtifacts,
    PhoneRecognizer,
    RecognizerResult,
    SpacyRecognizer,
    UrlRecognizer,
    UsSsnRecognizer,
)
from desensitize.registry import recognizer

PHONE_REGIONS = ("US", "CA", "GB")
SPACY_ENTITIES = ["PERSON", "LOCATION", "DATE_TIME", "NRP", "ORGANIZATION"]
_STRUCTURED = ("zh", "en")


@recognizer("email", ("EMAIL_ADDRESS",), _STRUCTURED)
def email(language: str) -> EntityRecognizer:
    return EmailRecognizer(supported_language=language)


@recognizer("credit_card", ("CREDIT_CARD",), _STRUCTURED)
def credit_card(language: str) -> EntityRecognizer:
    return CreditCardRecognizer(supported_language=language)


@recognizer("iban", ("IBAN_CODE",), _STRUCTURED)
def iban(language: str) -> EntityRecognizer:
    return IbanRecognizer(supported_language=language)


@recognizer("ip_address", ("IP_ADDRESS",), _STRUCTURED)
def ip_address(language: str) -> EntityRecognizer:
    return IpRecognizer(supported_language=language)


@recognizer("url", ("URL",), _STRUCTURED)
def url(language: str) -> EntityRecognizer:
    recognizer = UrlRecognizer(supported_language=language)
    if all(flag_free(pattern.regex) for pattern in recognizer.patterns):
        # Presidio compiled these patterns (a 1,500-TLD alternation) without flags when it validated them at import;
        # analysing with its default DOTALL|MULTILINE|IGNORECASE compiles them all again (0.5 s per process). The
        # patterns carry (?i) and use no bare dot, ^ or $, so without flags they match the same (test) and the
        # analysis reuses the compiled ones from the regex module's cache.
        recognizer.global_regex_flags = 0
    return recognizer


def flag_free(pattern: str) -> bool:
    """The pattern means the same with and without DOTALL|MULTILINE|IGNORECASE: it starts with (?i) and has no
    dot, ^ or $ outside a character class (escaped ones are literal)."""
    if not pattern.startswith("(?i)"):
        return False
    in_class = escaped = False
    for char in pattern[4:]:
        if escaped:
            escaped = False
        elif char == "\\":
            escaped = True
        elif in_class:
            in_class = char != "]"
        elif char == "[":
            in_class = True
        elif char in ".^$":
            return False
    return True


# Five digits or more with phone punctuation (or an extension's x) between them: what python-phonenumbers could read
# as a number the detector keeps (it drops phone results under seven digits).
_DIGIT_RUN = re.compile(r"\d(?:[\d \t().\-/+~xX]*\d){4,}")
_CONTEXT_CHARS = 30   # the matcher reads the characters around a number ('ext. 12', a letter glued to a digit)


class FocusedPhoneRecognizer(PhoneRecognizer):
    """Presidio's PhoneRecognizer, its matcher run only around runs of five digits or more. On clinical notes the
    matcher parsed every dose and lab value for each of three regions (0.5 s of the detector's 6 s on 911 notes);
    the windows give the same results (test: both ways on the same texts)."""

    def analyze(self, text: str, entities: list[str], nlp_artifacts: NlpArtifacts | None = None
                ) -> list[RecognizerResult]:
        results = []
        runs = (match.span() for match in _DIGIT_RUN.finditer(text))
        for start, end in windows_around(runs, _CONTEXT_CHARS, len(text)):
            for result in super().analyze(text[start:end], entities, None):
                result.start, result.end = result.start + start, result.end + start
                results.append(result)
        return EntityRecognizer.remove_duplicates(results)



@recognizer("us_phone", ("PHONE_NUMBER",), ("en",))
def us_phone(language: str) -> EntityRecognizer:
    # leniency 0 (POSSIBLE): a number of the right length for the region, even in a range not yet allocated
    return FocusedPhoneRecognizer(supported_language=language, supported_regions=PHONE_REGIONS, leniency=0)


@recognizer("us_ssn", ("US_SSN",), ("en",))
def us_ssn(language: str) -> EntityRecognizer:
    return UsSsnRecognizer(supported_language=language)


@recognizer("date", ("DATE_TIME",), ("en",))
def date(language: str) -> EntityRecognizer:
    return DateRecognizer(supported_language=language)


@recognizer("spacy_ner", tuple(SPACY_ENTITIES), ("en",), statistical=True)
def spacy_ner(language: str) -> EntityRecognizer:
    return SpacyRecognizer(supported_language=language, supported_entities=SPACY_ENTITIES)
