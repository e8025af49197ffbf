"""Post-filters for false positives that general-purpose recognizers make on clinical and regulatory text.

Measured on nursing notes: PERSON on "GU", "PT", "ABG", "foley", "lasix"; DATE_TIME on "today"; blood-gas values
like 7.34/50/95/28/0 read as phone numbers. Each rule removes a class of such results, not single words.
"""

from __future__ import annotations

import re
from collections.abc import Callable

from desensitize.gazetteers import name_lists, place_names
from desensitize.lang import caseless_record, written_as_name
from desensitize.presidio_api import RecognizerResult
from desensitize.recognizers.en_clinical_date import PATTERN as SHORT_DATE
from desensitize.recognizers.en_clinician import CREDENTIALS
from desensitize.registry import spec_of
from desensitize.zh_drugs import inside_drug_name

_MONTH_OR_DAY = re.compile(
    r"\b(?:jan(?:uary)?|feb(?:ruary)?|mar(?:ch)?|apr(?:il)?|may|june?|july?|aug(?:ust)?|sep(?:t(?:ember)?)?|"
    r"oct(?:ober)?|nov(?:ember)?|dec(?:ember)?|mon(?:day)?|tue(?:sday)?|wed(?:nesday)?|thu(?:rsday)?|fri(?:day)?|"
    r"sat(?:urday)?|sun(?:day)?)\b", re.IGNORECASE)
Rule = Callable[[str, str], bool]  # (entity type, matched text) -> keep?


def _abbreviation(word: str) -> bool:
    """GU, PT, ABG, KYC, IBAN, FeNO, SpO2: short tokens with two or more capitals."""
    return word.isascii() and len(word) <= 5 and sum(c.isupper() for c in word) >= 2  # ΠΑΦΟΣ is a town


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
    r"^['’]\d{2}$|\d{1,4}([/.-])\d{1,2}\1\d{1,4}|^\d{1,2}/\d{1,2}$|\b(?:19|20)\d{2}\b|\d{1,2}:\d{2}|\d{1,2}(?:st|nd|rd|th)\b|(?<!\d)(?:19|20)\d{6}(?!\d)")


_CLOCK = r"(?:[01]\d|2[0-3])[0-5]\d"
# Halves, thirds and quarters (1/2 NS, 3/4 strength) and muscle-strength grades (5/5, 4/5) are written like dates.
# Pain scores (4/10) too; and a weekday alone names no date.
_FRACTION_OR_GRADE = re.compile(r"^(?:[1-3]/[2-4]|[0-5]/5|\d{1,2}/10)$|^(?i:mon|tues|wednes|thurs|fri|satur|sun)day$"
                                rf"|^{_CLOCK}\s*(?:-|>>?|to)\s*{_CLOCK}$")      # a shift: 1900-0700


def _date_shaped(entity: str, value: str) -> bool:
    """A date needs a month or weekday name or a date/time shape: "today", "four years", "T 37.9" (a
    temperature) and a 16-digit card number identify no day; nor do common fractions and strength grades."""
    if entity != "DATE_TIME":
        return True
    if _FRACTION_OR_GRADE.match(value.strip()):
        return False
    return bool(_MONTH_OR_DAY.search(value)) or bool(_DATE_SHAPES.search(value) and not re.fullmatch(
        r"[A-Za-z]{0,2}\s?\d{1,3}\.\d", value))


_NOT_A_PHONE = re.compile(
    rf"^{_CLOCK}\s*-\s*{_CLOCK}$"                  # a shift: 1900-0700
    r"|^[\d ]{1,9}x\s*\d"                         # ventilator settings, sizes: 500x10x35x5 (an extension: 555-0132 x12)
    r"|(?<!\d)\d{1,2}\.\d"                        # decimals: blood gases 7.41-55-134, (7.22-72-90, weights 27.7- 28.1
    r"|^\d*0\s*-\s*\d*0$")                         # a range of round numbers: 500-1000, 900-1100 (mL, doses, times)


def _phone_without_lab_separators(entity: str, value: str) -> bool:
    """Lab values (7.34/50/95/28/0, 7.41-55-134), years (1982), shifts (1900-0700) and ventilator settings
    (500x10x35x5) are no phone numbers: slashes, decimals and 'x' out, seven digits at least."""
    return entity != "PHONE_NUMBER" or ("/" not in value and sum(c.isdigit() for c in value) >= 7
                                        and not _NOT_A_PHONE.search(value.lower().strip()))


# A number before a two-letter suffix is a stock code (600036.sh, 000001.sz) or a sentence without its space ('6.DO'),
# not a web address; a numeric host with a longer domain (163.com) is one.
_NUMBER_DOT_SUFFIX = re.compile(r"\d+\.[A-Za-z]{2}")


def _url_shaped(entity: str, value: str) -> bool:
    return entity != "URL" or _NUMBER_DOT_SUFFIX.fullmatch(value.strip()) is None


RULES: tuple[Rule, ...] = (_name_shaped, _date_shaped, _phone_without_lab_separators, _url_shaped)


# Types whose values are ASCII-shaped: Presidio's `\w`-based patterns can pull in Chinese characters next to them
# (邮箱zhang@example.com), since CJK characters are word characters.
_ASCII_TYPES = {"EMAIL_ADDRESS", "URL", "IP_ADDRESS", "IBAN_CODE", "CREDIT_CARD", "US_SSN", "PHONE_NUMBER"}
_CJK = r"\u3000-\u303f\u4e00-\u9fff\uff00-\uffef"
_CJK_EDGE = re.compile(rf"^[{_CJK}]+|[{_CJK}]+$")
_NON_CJK_RUN = re.compile(rf"[^{_CJK}]+")
_WEB_ADDRESS = re.compile(r"://|[A-Za-z0-9-]\.[A-Za-z]{2,}")


def trim_cjk_edges(text: str, results: list[RecognizerResult]) -> list[RecognizerResult]:
    """ASCII-shaped values without the Chinese characters at their edges; a URL with Chinese text inside is cut into
    its pieces that read as web addresses ('http://t.cn/abc真相http://t.cn/xyz' is two links and a title)."""
    trimmed = []
    for result in results:
        if result.entity_type not in _ASCII_TYPES:
            trimmed.append(result)
            continue
        value = text[result.start:result.end]
        if result.entity_type == "URL":
            pieces = [m.span() for m in _NON_CJK_RUN.finditer(value) if _WEB_ADDRESS.search(m.group())]
        else:
            head = _CJK_EDGE.match(value)
            start = head.end() if head else 0
            tail = _CJK_EDGE.search(value, start)
            pieces = [(start, tail.start() if tail and tail.start() > start else len(value))]
        trimmed += [RecognizerResult(result.entity_type, result.start + start, result.start + end, result.score,
                                     recognition_metadata=result.recognition_metadata)
                    for start, end in pieces if end > start]
    return trimmed


# A short date inside a longer DATE_TIME span: spaCy reads '7/14 9am' as '7/14 9', which is no date shape; Presidio
# has already dropped the clinical-date recognizer's '7/14' as contained in it.
_SHORT_DATE = re.compile(SHORT_DATE)


def narrow_dates(text: str, results: list[RecognizerResult]) -> list[RecognizerResult]:
    """A DATE_TIME result that is no date shape but holds exactly one short date becomes that date."""
    narrowed = []
    for result in results:
        value = text[result.start:result.end]
        inner = list(_SHORT_DATE.finditer(value)) if result.entity_type == "DATE_TIME" else []
        if len(inner) == 1 and not _date_shaped("DATE_TIME", value) and _date_shaped("DATE_TIME", inner[0].group()):
            result = RecognizerResult("DATE_TIME", result.start + inner[0].start(), result.start + inner[0].end(),
                                      result.score, recognition_metadata=result.recognition_metadata)
        narrowed.append(result)
    return narrowed


def apply_rules(text: str, results: list[RecognizerResult], rules: tuple[Rule, ...] = RULES,
                is_common_word: Callable[[str], bool] | None = None) -> list[RecognizerResult]:
    kept = [r for r in trim_cjk_edges(text, narrow_dates(text, results)) if _exempt_from_shape_rules(r, text) or all(
        rule(r.entity_type, text[r.start:r.end]) for rule in rules)]
    caseless = caseless_record(text)
    kept = [r for r in kept if r.entity_type not in ("PERSON", "LOCATION") or not (
        (_from_spacy(r) and (_ordinary_words_only(text[r.start:r.end])
                             or _unconfirmed_guess(r.entity_type, text[r.start:r.end], caseless)))
        or inside_drug_name(text, r.start, r.end) or _already_anonymous(r.entity_type, text[r.start:r.end]))]
    if is_common_word is None:
        return kept
    # spaCy reads capitalised sentence-initial words as an organisation ("Reliance on a third party", "Investment
    # banking staff"); coined company names (Persint, Avalara) are not dictionary words. An organisation made of
    # dictionary words only, as spaCy alone proposed it, is dropped (legal forms such as LLC are kept) unless two or
    # more capitalised words stand in mid-sentence, as names do ("at Credit Karma", "the Lending Club office").
    return [r for r in kept if not (r.entity_type == "ORGANIZATION" and _from_spacy(r) and all(
        is_common_word(word) for word in re.findall(r"[A-Za-z]+", text[r.start:r.end])) and not _mid_sentence_name(
        text, r))]


# '张某', '李某某': a surname and 某 ('a certain') is how Chinese text already writes a withheld name.
_WITHHELD_NAME = re.compile(r"[\u4e00-\u9fa5]{1,2}某+")


def _already_anonymous(entity: str, value: str) -> bool:
    return entity == "PERSON" and _WITHHELD_NAME.fullmatch(value) is not None


def _ordinary_words_only(value: str) -> bool:
    """Philter's test for a statistical guess: made only of dictionary words that are no listed first name, surname
    or place ('chair', 'wean', 'sputum', 'abd soft' with the domain's abbreviations allowed), or of no word at all
    ('x3', '20cc'). spaCy tags such words PERSON or LOCATION in clinical shorthand; a name that is also a word
    ('White', 'Price') is a listed surname and stays, and cue recognizers find names whatever the words."""
    words = re.findall(r"(?<![\w])[A-Za-z][A-Za-z'-]+", value)     # '20cc', '.5mcg/kg' hold no word
    names = name_lists()
    if value.lower() in place_names():
        return False
    return not any(names.could_be_name(w) for w in words)


def _unconfirmed_guess(entity: str, value: str, caseless: bool) -> bool:
    """spaCy's person or place that is not written as names are in this record and that no list confirms: in a
    record with capitals, a word in lower case or all capitals ('mg IV', 'Abd soft NT', 'THICK SECRETIONS'); in a record
    in one case, any guess. A listed first name or surname, or a GeoNames place, keeps it. Measured on the real
    nursing notes: replacements per gold span 1.96 -> 1.63 for one gold span of 616."""
    words = re.findall(r"[^\W\d_]+(?:['’-][^\W\d_]+)*", value)   # any script: 'Jindřich', "O'Brien" are one word
    if not caseless and words and all(written_as_name(w, caseless) for w in words):
        return False
    if entity == "LOCATION":
        return value.lower() not in place_names()
    names = name_lists()
    return not any(names.is_first_name(w) or names.is_last_name(w) for w in words)


def _mid_sentence_name(text: str, result: RecognizerResult) -> bool:
    words = text[result.start:result.end].split()
    before = text[:result.start].rstrip(" \t\"'(")
    sentence_start = not before or before[-1] in ".!?:\n"
    return not sentence_start and len(words) >= 2 and all(w[0].isupper() for w in words)


def _exempt_from_shape_rules(result: RecognizerResult, text: str) -> bool:
    """Results the capitalisation and shape rules must not undo: a list confirmed them ('SUND' after 'grew up in'
    is a town in GeoNames, not an abbreviation), or, in an all-lower-case record, a recognizer that reads such
    records on purpose found them (a name list checks a whole record has no capitals before it takes 'eva
    kleist' for a name). Presidio keeps one result per span, so spaCy's result on the same words stands for
    theirs: a person that starts with a known first name."""
    spec = spec_of(result.recognition_metadata)
    if (spec is not None and (spec.list_confirmed or spec.case_aware or spec.labelled)) or (
            result.entity_type == "LOCATION" and text[result.start:result.end].lower() in place_names()):
        return True
    if not caseless_record(text):
        return False
    words = text[result.start:result.end].split()
    names = name_lists()
    return result.entity_type == "PERSON" and bool(words) and names.is_first_name(words[0]) and (
        len(words) > 1 or not names.is_ambiguous(words[0]))


def _from_spacy(result: RecognizerResult) -> bool:
    spec = spec_of(result.recognition_metadata)
    return spec is not None and spec.statistical


# On the very same span, the more specific type wins (a 62-prefixed card is a CN_BANK_CARD, not just a card).
_SPECIFIC_FIRST = ("CN_BANK_CARD", "CN_RESIDENT_ID", "CN_USCC", "CN_PASSPORT", "CN_PHONE", "MEDICAL_RECORD_NUMBER",
                   "INSURANCE_NUMBER", "US_SSN", "IBAN_CODE")


def _specificity(entity: str) -> int:
    return _SPECIFIC_FIRST.index(entity) if entity in _SPECIFIC_FIRST else len(_SPECIFIC_FIRST)


def _merge_same_type(results: list[RecognizerResult]) -> list[RecognizerResult]:
    """Overlapping results of one type are one entity seen twice: their union, so no part of it is left behind
    ('澳门特别行政区齐齐哈尔县…' found whole by one recognizer and from '行政区' on by another)."""
    merged: list[RecognizerResult] = []
    for result in sorted(results, key=lambda r: (r.entity_type, r.start, -r.end)):
        last = merged[-1] if merged else None
        if last is not None and last.entity_type == result.entity_type and result.start < last.end:
            if result.score > last.score:
                last.score, last.recognition_metadata = result.score, result.recognition_metadata
            last.end = max(last.end, result.end)
        else:
            merged.append(RecognizerResult(result.entity_type, result.start, result.end, result.score,
                                           analysis_explanation=result.analysis_explanation,
                                           recognition_metadata=result.recognition_metadata))
    return merged


def resolve_overlaps(results: list[RecognizerResult]) -> list[RecognizerResult]:
    """Keep one result per stretch of text: overlapping results of one type become their union; a span inside a
    longer one gives way to it (a name inside a full address); otherwise the higher score, then the more specific
    type, then the longer span. In text order."""
    results = _merge_same_type(results)
    outer = [r for r in results if not any(o is not r and o.start <= r.start and r.end <= o.end
                                           and (o.end - o.start) > (r.end - r.start) for o in results)]
    kept: list[RecognizerResult] = []
    for result in sorted(outer, key=lambda r: (-r.score, _specificity(r.entity_type), -(r.end - r.start), r.start)):
        if all(result.end <= k.start or result.start >= k.end for k in kept):
            kept.append(result)
    return sorted(kept, key=lambda r: r.start)


# Names found once are names everywhere in the document: "患者张伟 ... 张伟同意" has a cue only the first time.
PROPAGATED_TYPES = ("PERSON", "ORGANIZATION")


def _mentions(text: str, result: RecognizerResult) -> list[str]:
    """The value itself and, for a person's full name, the surname alone ('Dr. Jindřich Holinka ... Holinka')."""
    value = text[result.start:result.end]
    words = value.split()
    values = [value]
    if result.entity_type == "PERSON" and len(words) >= 2:
        surname = words[-1]
        if len(surname) > 2 and surname[0].isupper() and not name_lists().is_common_word(surname):
            values.append(surname)
    return [v for v in values if len(v) >= 2 and not _reads_as_no_name(v)]


def _reads_as_no_name(value: str) -> bool:
    """Every word a dictionary word that no list files as a name, or an abbreviation ('GOOD', 'said', 'TOL', 'BIL'):
    a recognizer's result on such words is weak evidence, and repeating it over the record multiplies a false
    positive (measured on the real nursing notes: 36 propagated mentions, 2 of them PHI)."""
    names = name_lists()
    words = re.findall(r"[A-Za-z][A-Za-z'’-]*", value)
    return bool(words) and all(_abbreviation(w) or not names.could_be_name(w) for w in words)


def propagate_mentions(text: str, results: list[RecognizerResult]) -> list[RecognizerResult]:
    extra = []
    for result, value in ((r, v) for r in results if r.entity_type in PROPAGATED_TYPES for v in _mentions(text, r)):
        edge = r"(?<![A-Za-z0-9])" if value[0].isascii() else ""
        tail = r"(?![A-Za-z0-9])" if value[-1].isascii() else ""
        for match in re.finditer(edge + re.escape(value) + tail, text):
            if not any(match.start() < r.end and match.end() > r.start for r in results + extra):
                extra.append(RecognizerResult(result.entity_type, match.start(), match.end(), result.score,
                                              recognition_metadata={"recognizer_name": "MentionPropagation"}))
    return results + extra


# 'Marrero and Murphy', 'Gaetane, Hannah, Anthony': a name-shaped word listed with a person is a person too.
_LIST_SEPARATOR = r"(?:\s*,\s*(?:(?i:and)\s+)?|\s+(?i:and)\s+|\s*&\s*)"    # AND in an all-capitals note
_NAME_WORD = r"[^\W\d_][^\W\d_'’-]+"
_RIGHT_NEIGHBOUR = re.compile(rf"^{_LIST_SEPARATOR}({_NAME_WORD})(?![^\W\d_])")
_LEFT_NEIGHBOUR = re.compile(rf"(?<![^\W\d_])({_NAME_WORD}){_LIST_SEPARATOR}$")
MAX_LIST_ROUNDS = 8


def coordinated_names(text: str, results: list[RecognizerResult]) -> list[RecognizerResult]:
    caseless = caseless_record(text)
    names = name_lists()

    def name_like(word: str) -> bool:
        shaped = written_as_name(word, caseless)
        return shaped and names.could_be_name(word) and word.upper() not in CREDENTIALS   # 'FAIRBANK, RRT'

    added: list[RecognizerResult] = []
    frontier = [r for r in results if r.entity_type == "PERSON"]
    for _ in range(MAX_LIST_ROUNDS):
        found = []
        for person in frontier:
            right = _RIGHT_NEIGHBOUR.match(text[person.end:person.end + 60])
            left = _LEFT_NEIGHBOUR.search(text[max(0, person.start - 60):person.start])
            spans = []
            if right:
                spans.append((person.end + right.start(1), person.end + right.end(1)))
            if left:
                offset = max(0, person.start - 60)
                spans.append((offset + left.start(1), offset + left.end(1)))
            for start, end in spans:
                if name_like(text[start:end]) and not any(start < r.end and r.start < end for r in
                                                          results + added + found):
                    found.append(RecognizerResult("PERSON", start, end, 0.45,
                                                  recognition_metadata={"recognizer_name": "NameList"}))
        if not found:
            break
        added += found
        frontier = found
    return results + added


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


# 'Abby Holloway of Opencounter', 'Luiza is from Xignite', "Pave's Irena Bílá": the capitalised words tied to a
# person by 'of', 'from' or a possessive name where they work (or live: a listed place is a LOCATION).
_AFFILIATION_AFTER = re.compile(
    r"^[ \t]+(?:is[ \t]+)?(?:of|from|at)[ \t]+((?:[A-Z][\w&'-]*|[A-Z]{2,})(?:[ \t]+[A-Z][\w&'-]*){0,3})")
_AFFILIATION_BEFORE = re.compile(r"(?<![\w])((?:[A-Z][\w&-]*)(?:[ \t]+[A-Z][\w&-]*){0,3})['’]s[ \t]+$")


def affiliations(text: str, results: list[RecognizerResult]) -> list[RecognizerResult]:
    added = []
    for person in (r for r in results if r.entity_type == "PERSON"):
        after = _AFFILIATION_AFTER.match(text[person.end:person.end + 80])
        before = _AFFILIATION_BEFORE.search(text[max(0, person.start - 60):person.start])
        spans = [(person.end + after.start(1), person.end + after.end(1))] if after else []
        if before:
            offset = max(0, person.start - 60)
            spans.append((offset + before.start(1), offset + before.end(1)))
        for start, end in spans:
            value = text[start:end]
            if any(start < r.end and r.start < end for r in results + added) or name_lists().is_common_word(value):
                continue
            entity = "LOCATION" if value.lower() in place_names() else "ORGANIZATION"
            added.append(RecognizerResult(entity, start, end, 0.45, recognition_metadata={
                "recognizer_name": "Affiliation"}))
    return results + added
