"""Presidio's own generic recognizers, registered by name. Country-specific ones (UK NHS, Australian, Indian, ...)
are left out on purpose: on clinical text they fire on lab values (a US phone was tagged UK_NHS)."""

from __future__ import annotations

from desensitize.presidio_api import (
    CreditCardRecognizer,
    DateRecognizer,
    EmailRecognizer,
    EntityRecognizer,
    IbanRecognizer,
    IpRecognizer,
    PhoneRecognizer,
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
    return UrlRecognizer(supported_language=language)


@recognizer("us_phone", ("PHONE_NUMBER",), ("en",))
def us_phone(language: str) -> EntityRecognizer:
    # leniency 0 (POSSIBLE): a number of the right length for the region, even in a range not yet allocated
    return PhoneRecognizer(supported_language=language, supported_regions=PHONE_REGIONS, leniency=0)


@recognizer("us_ssn", ("US_SSN",), ("en",))
def us_ssn(language: str) -> EntityRecognizer:
    return UsSsnRecognizer(supported_language=language)


@recognizer("date", ("DATE_TIME",), ("en",))
def date(language: str) -> EntityRecognizer:
    return DateRecognizer(supported_language=language)


@recognizer("spacy_ner", tuple(SPACY_ENTITIES), ("en",), statistical=True)
def spacy_ner(language: str) -> EntityRecognizer:
    return SpacyRecognizer(supported_language=language, supported_entities=SPACY_ENTITIES)
