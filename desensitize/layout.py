"""Rules that read a record's layout: the lines of an address block and the company line of a contact card.

Recognizers look at words; an address is identified by where its parts sit. Once a street line is found, the short
lines under it are the rest of the address (town, region, "Finland 23221", a postcode), and so are the short
comma-separated parts after it on the same line ("..., København K, Denmark"). In a contact card the line between a
person's name and the street line is the employer. Without these rules the town and postcode of a detected street
survive next to <LOCATION_1>, and together they still point at a small area.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

from spacy.lang.en.stop_words import STOP_WORDS

from desensitize.gazetteers import name_lists, place_names
from desensitize.lang import lower_case_record
from desensitize.presidio_api import RecognizerResult

# A town line may read as a name ('María Albina'); names inside a block neither end it nor are re-typed.
NAME_TYPES = ("LOCATION", "PERSON", "ORGANIZATION", "NRP")
MAX_BLOCK_LINES = 4       # town, region, country + postcode, and one more at most
MAX_LINE_WORDS = 6
MAX_LINE_CHARS = 48
# Quote and list markers e-mail clients and forms put before a line ("> ", "??? ", "| ", "- ").
_LINE_MARKER = re.compile(r"^[\s>?|*\-\u2022]*")
_NOT_AN_ADDRESS_PART = re.compile(r"[:@/=<]|https?|www\.|[.!?]\s+\S")
_WORD = re.compile(r"[^\W_]+(?:['.-][^\W_]+)*\.?")
_SAME_LINE_TAIL = re.compile(r"^((?:,\s*[^,.;:!?\n]{2,40}?){1,3})(?=\s*(?:[.;!?](?:\s|$)|\n|$))")


def _lines(text: str) -> Iterator[tuple[int, int]]:
    """(start, end) of each line's content, markers and surrounding blanks left out; empty lines included."""
    offset = 0
    for line in text.split("\n"):
        marker = _LINE_MARKER.match(line)
        start = offset + marker.end()
        end = offset + len(line.rstrip())
        yield start, max(start, end)
        offset += len(line) + 1


def _covered(start: int, end: int, results: list[RecognizerResult], entity: str | None = None) -> bool:
    return any(r.start < end and start < r.end and (entity is None or r.entity_type == entity) for r in results)


def _is_address_part(value: str) -> bool:
    """A town, region, country or postcode line: a few words, no sentence, no label, at most one stop word."""
    words = _WORD.findall(value)
    if not words or len(words) > MAX_LINE_WORDS or len(value) > MAX_LINE_CHARS or _NOT_AN_ADDRESS_PART.search(value):
        return False
    stop_words = sum(w.lower() in STOP_WORDS for w in words)
    return stop_words <= 1 and words[0].lower() not in STOP_WORDS


def _names_a_place(value: str) -> bool:
    """A number, a listed place or a word outside the dictionary: 'Alert' under an address is a note, not a town."""
    names = name_lists()
    return (any(c.isdigit() for c in value) or value.lower() in place_names()
            or not all(names.is_common_word(w.rstrip(".")) for w in _WORD.findall(value)))


def _street_line(start: int, end: int, text: str, results: list[RecognizerResult]) -> bool:
    """A line holding a LOCATION result with a number in it: a street, a PO box, a unit."""
    return any(r.entity_type == "LOCATION" and r.start < end and start < r.end and re.search(r"\d", text[r.start:r.end])
               for r in results)


def extend_address_blocks(text: str, results: list[RecognizerResult]) -> list[RecognizerResult]:
    """The lines under a street line, and the comma-separated parts after it, join the address."""
    lines = list(_lines(text))
    added: list[RecognizerResult] = []
    for index, (start, end) in enumerate(lines):
        if not _street_line(start, end, text, results):
            continue
        added += _same_line_tail(text, end, results + added)
        blank_run = 0
        for next_start, next_end in lines[index + 1:index + 1 + MAX_BLOCK_LINES + 1]:
            if next_start == next_end:
                blank_run += 1
                if blank_run > 1:
                    break
                continue
            blank_run = 0
            if _street_line(next_start, next_end, text, results):
                continue
            value = text[next_start:next_end]
            if _covered(next_start, next_end, [r for r in results if r.entity_type not in NAME_TYPES]) or not (
                    _is_address_part(value)):
                break
            # dictionary words only ('Alert', 'nan'): not tagged, but the postcode line under it still belongs
            if _names_a_place(value) and not _covered(next_start, next_end, results, "LOCATION"):
                added.append(_location(next_start, next_end, "AddressBlock"))
    # a line of the block read as a name ('France 35910' as the first name France) is the address's line
    retyped = [r for r in results if not (r.entity_type in NAME_TYPES[1:] and any(
        a.start <= r.start and r.end <= a.end for a in added))]
    return retyped + [r for r in added if not _covered(r.start, r.end, retyped)]


def _same_line_tail(text: str, line_end: int, results: list[RecognizerResult]) -> list[RecognizerResult]:
    """', København K', ', Belfast, South Africa' after the last LOCATION of the line, up to the sentence end."""
    on_line = [r for r in results if r.entity_type == "LOCATION" and r.end <= line_end
               and "\n" not in text[r.end:line_end]]
    if not on_line:
        return []
    last_end = max(r.end for r in on_line)
    tail = _SAME_LINE_TAIL.match(text[last_end:line_end])
    if not tail:
        return []
    parts = []
    offset = last_end
    lower_case = lower_case_record(text)
    for part in tail.group(1).split(","):
        value = part.strip()
        # in running text a town is capitalised ("..., thanks" is no town); lower-case records get no such cue
        if value and _is_address_part(value) and (lower_case or not value[0].islower()):
            start = text.index(value, offset)
            parts.append(_location(start, start + len(value), "AddressBlock"))
        elif value:
            break
        offset += len(part) + 1
    return parts


def _location(start: int, end: int, name: str) -> RecognizerResult:
    return RecognizerResult("LOCATION", start, end, 0.5, recognition_metadata={"recognizer_name": name})


def contact_card_employers(text: str, results: list[RecognizerResult]) -> list[RecognizerResult]:
    """In 'name / company / street' cards the line above the street line, under the name, is the employer. A card
    whose first line stands right above its street line names the addressee there: a person or a company."""
    lines = [(s, e) for s, e in _lines(text) if s < e]
    added = []
    for index, (start, end) in enumerate(lines):
        if not _street_line(start, end, text, results) or index < 1:
            continue
        above = index - 1
        while above >= 0 and _covered(*lines[above], results, "PERSON"):
            above -= 1
        if above < 0:
            continue
        line_start, line_end = lines[above]
        value = text[line_start:line_end]
        if _covered(line_start, line_end, results) or not _is_address_part(value) or not value[0].isupper() and any(
                c.isupper() for c in text):
            continue
        person_above = any(_covered(*lines[i], results, "PERSON") for i in range(max(0, above - 2), above))
        if person_above or above == 0:
            added.append(RecognizerResult("ORGANIZATION", line_start, line_end, 0.5,
                                          recognition_metadata={"recognizer_name": "ContactCard"}))
    return results + added
