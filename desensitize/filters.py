"""Post-filters for false positives that general-purpose recognizers make on clinical and regulatory text.

Measured on nursing notes: PERSON on "GU", "PT", "ABG", "foley", "lasix"; DATE_TIME on "today"; blood-gas values
like 7.34/50/95/28/0 read as phone numbers. Each rule removes a class of such results, not single words.
"""

from __future__ import annotations

import re
from collections.abc import Callable

from presidio_analyzer import RecognizerResult

_MONTH_OR_DAY = re.compile(
    r"\b(?:jan(?:uary)?|feb(?:ruary)?|mar(?:ch)?|apr(?:il)?|may|june?|july?|aug(?:ust)?|sep(?:t(?:ember)?)?|"
    r"oct(?:ober)?|nov(?:ember)?|dec(?:ember)?|mon(?:day)?|tue(?:sday)?|wed(?:nesday)?|thu(?:rsday)?|fri(?:day)?|"
    r"sat(?:urday)?|sun(?:day)?)\b", re.IGNORECASE)
Rule = Callable[[str, str], bool]  # (entity type, matched text) -> keep?


def _abbreviation(word: str) -> bool:
    """GU, PT, ABG, KYC, IBAN, FeNO, SpO2: short tokens with two or more capitals."""
    return len(word) <= 5 and sum(c.isupper() for c in word) >= 2


def _name_shaped(entity: str, value: str) -> bool:
    """Names of people, organisations and places are capitalised words, not clinical abbreviations ("foley",
    "SpO2", "MRN MRN", "ST" are not); people and organisations carry no digits (street addresses do)."""
    if entity not in ("PERSON", "ORGANIZATION", "LOCATION") or re.search(r"[\u4e00-\u9fff]", value):
        return True
    if not any(c.isupper() for c in value) and not (entity == "LOCATION" and re.search(r"\d", value)):
        return False  # a postcode (ZIP: 3520) is the one lower-case-free location
    if entity != "LOCATION" and re.search(r"\d", value):
        return False
    words = re.findall(r"[^\W_]+", value)
    if entity == "LOCATION" and all(w.isdigit() for w in words):
        return True  # a postcode
    return not all(_abbreviation(w) or w.isdigit() for w in words)


_DATE_SHAPES = re.compile(
    r"\d{1,4}([/.-])\d{1,2}\1\d{1,4}|^\d{1,2}/\d{1,2}$|\b(?:19|20)\d{2}\b|\d{1,2}:\d{2}|\d{1,2}(?:st|nd|rd|th)\b|(?<!\d)(?:19|20)\d{6}(?!\d)")


def _date_shaped(entity: str, value: str) -> bool:
    """A date needs a month or weekday name or a date/time shape: "today", "four years", "T 37.9" (a
    temperature) and a 16-digit card number identify no day."""
    if entity != "DATE_TIME":
        return True
    return bool(_MONTH_OR_DAY.search(value)) or bool(_DATE_SHAPES.search(value) and not re.fullmatch(
        r"[A-Za-z]{0,2}\s?\d{1,3}\.\d", value))


def _phone_without_lab_separators(entity: str, value: str) -> bool:
    """Lab values (7.34/50/95/28/0) and years (1982) are no phone numbers: slashes out, seven digits at least."""
    return entity != "PHONE_NUMBER" or ("/" not in value and sum(c.isdigit() for c in value) >= 7)


RULES: tuple[Rule, ...] = (_name_shaped, _date_shaped, _phone_without_lab_separators)


# Types whose values are ASCII-shaped: Presidio's `\w`-based patterns can pull in Chinese characters next to them
# (邮箱zhang@example.com), since CJK characters are word characters.
_ASCII_TYPES = {"EMAIL_ADDRESS", "URL", "IP_ADDRESS", "IBAN_CODE", "CREDIT_CARD", "US_SSN", "PHONE_NUMBER"}
_CJK_EDGE = re.compile(r"^[\u3000-\u303f\u4e00-\u9fff\uff00-\uffef]+|[\u3000-\u303f\u4e00-\u9fff\uff00-\uffef]+$")


def trim_cjk_edges(text: str, results: list[RecognizerResult]) -> list[RecognizerResult]:
    for result in results:
        if result.entity_type not in _ASCII_TYPES:
            continue
        value = text[result.start:result.end]
        head = _CJK_EDGE.match(value)
        result.start += head.end() if head else 0
        tail = _CJK_EDGE.search(text[result.start:result.end])
        if tail and tail.start() > 0:
            result.end = result.start + tail.start()
    return [r for r in results if r.end > r.start]


def apply_rules(text: str, results: list[RecognizerResult], rules: tuple[Rule, ...] = RULES,
                is_common_word: Callable[[str], bool] | None = None) -> list[RecognizerResult]:
    kept = [r for r in trim_cjk_edges(text, results) if all(rule(r.entity_type, text[r.start:r.end]) for rule in rules)]
    if is_common_word is None:
        return kept
    # spaCy reads capitalised sentence-initial words as an organisation ("Reliance on a third party", "Investment
    # banking staff"); coined company names (Persint, Avalara) are not dictionary words. An organisation made of
    # dictionary words only, as spaCy alone proposed it, is dropped (legal forms such as LLC are kept).
    return [r for r in kept if not (r.entity_type == "ORGANIZATION" and _from_spacy(r) and all(
        is_common_word(word) for word in re.findall(r"[A-Za-z]+", text[r.start:r.end])))]


def _from_spacy(result: RecognizerResult) -> bool:
    return (result.recognition_metadata or {}).get("recognizer_name") == "SpacyRecognizer"


# On the very same span, the more specific type wins (a 62-prefixed card is a CN_BANK_CARD, not just a card).
_SPECIFIC_FIRST = ("CN_BANK_CARD", "CN_RESIDENT_ID", "CN_USCC", "CN_PASSPORT", "CN_PHONE", "MEDICAL_RECORD_NUMBER",
                   "INSURANCE_NUMBER", "US_SSN", "IBAN_CODE")


def _specificity(entity: str) -> int:
    return _SPECIFIC_FIRST.index(entity) if entity in _SPECIFIC_FIRST else len(_SPECIFIC_FIRST)


def resolve_overlaps(results: list[RecognizerResult]) -> list[RecognizerResult]:
    """Keep one result per stretch of text: a span inside a longer one gives way to it (a name inside a full
    address); otherwise the higher score, then the more specific type, then the longer span. In text order."""
    outer = [r for r in results if not any(o is not r and o.start <= r.start and r.end <= o.end
                                           and (o.end - o.start) > (r.end - r.start) for o in results)]
    kept: list[RecognizerResult] = []
    for result in sorted(outer, key=lambda r: (-r.score, _specificity(r.entity_type), -(r.end - r.start), r.start)):
        if all(result.end <= k.start or result.start >= k.end for k in kept):
            kept.append(result)
    return sorted(kept, key=lambda r: r.start)


# Names found once are names everywhere in the document: "患者张伟 ... 张伟同意" has a cue only the first time.
PROPAGATED_TYPES = ("PERSON", "ORGANIZATION")


def propagate_mentions(text: str, results: list[RecognizerResult]) -> list[RecognizerResult]:
    extra = []
    for result in results:
        if result.entity_type not in PROPAGATED_TYPES:
            continue
        value = text[result.start:result.end]
        if len(value) < 2:
            continue
        edge = r"(?<![A-Za-z0-9])" if value[0].isascii() else ""
        tail = r"(?![A-Za-z0-9])" if value[-1].isascii() else ""
        for match in re.finditer(edge + re.escape(value) + tail, text):
            if not any(match.start() < r.end and match.end() > r.start for r in results + extra):
                extra.append(RecognizerResult(result.entity_type, match.start(), match.end(), result.score,
                                              recognition_metadata={"recognizer_name": "MentionPropagation"}))
    return results + extra


# A house number or postcode written right beside a place is part of the address ("ESPOO > Finland 23221",
# "13813 3784 Archwood Avenue", "Costamezzana 43015"): left alone, it would survive next to <LOCATION_1>.
_NUMBER_AFTER = re.compile(r"^[\s,>?]{1,5}(\d{3,6}(?:[ -]\d{2,4})?)(?![\d./:-]*\d)(?![A-Za-z0-9])")
_NUMBER_BEFORE = re.compile(r"(?<![A-Za-z0-9.:/-])(\d{1,6})[\s,>?]{1,5}$")


def absorb_address_numbers(text: str, results: list[RecognizerResult]) -> list[RecognizerResult]:
    extra = []
    for result in results:
        if result.entity_type != "LOCATION":
            continue
        after = _NUMBER_AFTER.match(text[result.end:result.end + 20])
        if after:
            start = result.end + after.start(1)
            extra.append((start, start + len(after.group(1))))
        before = _NUMBER_BEFORE.search(text[max(0, result.start - 12):result.start])
        if before:
            start = max(0, result.start - 12) + before.start(1)
            extra.append((start, start + len(before.group(1))))
    taken = [(r.start, r.end) for r in results]
    added = [RecognizerResult("LOCATION", s, e, 0.5, recognition_metadata={"recognizer_name": "AddressNumbers"})
             for s, e in sorted(set(extra)) if all(e <= a or s >= b for a, b in taken)]
    return results + added
