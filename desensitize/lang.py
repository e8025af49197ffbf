"""Per-record facts about how a text is written: its language (Chinese when CJK characters make up a tenth of the
letters), and whether it is written without capitals (then capitalisation tells nothing about names); and the
parts of a text worth a slow reader's time (`windows_around`)."""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable

CJK_CHARS = "\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff"  # a regex class body: the CJK ideograph blocks
_CJK = re.compile(f"[{CJK_CHARS}]")
_LETTER = re.compile(f"[A-Za-z{CJK_CHARS}]")


def detect_language(text: str) -> str:
    letters = len(_LETTER.findall(text))
    if letters == 0:
        return "en"
    return "zh" if len(_CJK.findall(text)) / letters >= 0.1 else "en"


@functools.lru_cache(maxsize=256)   # asked per recognizer and per result of one record
def lower_case_record(text: str) -> bool:
    """No capital letter anywhere: chat logs and exports written in lower case, where 'eva kleist' is a name."""
    return not any(c.isupper() for c in text)


UPPER_CASE_SHARE = 0.95


@functools.lru_cache(maxsize=256)   # asked per recognizer and per result of one record
def upper_case_record(text: str) -> bool:
    """Written in capitals (clinical notes typed in caps: 'DR. KNIGHT AWARE'): 95 % of its cased letters or more."""
    cased = [c for c in text if c.isalpha() and c.isascii()]
    return len(cased) >= 20 and sum(c.isupper() for c in cased) >= UPPER_CASE_SHARE * len(cased)


@functools.lru_cache(maxsize=256)   # asked per recognizer and per result of one record
def caseless_record(text: str) -> bool:
    """A record whose capitalisation tells nothing about names: all lower case or all capitals."""
    return lower_case_record(text) or upper_case_record(text)


def written_as_name(word: str, caseless: bool) -> bool:
    """How a name is written in such a record: capitalised (not all capitals) in ordinary text; any one case
    throughout a word in a caseless record."""
    if caseless:
        return word.islower() or word.isupper()
    return word[0].isupper() and (len(word) == 1 or not word[1:].isupper())


def windows_around(spans: Iterable[tuple[int, int]], margin: int, length: int) -> list[tuple[int, int]]:
    """Each (start, end) of `spans` (in order) widened by `margin` on both sides within [0, length), the windows
    merged where they touch: where a slow reader (spaCy's NER over tokens, a phone matcher over characters) needs to
    look."""
    merged: list[list[int]] = []
    for start, end in spans:
        start, end = max(0, start - margin), min(length, end + margin)
        if merged and start <= merged[-1][1]:
            merged[-1][1] = max(merged[-1][1], end)
        else:
            merged.append([start, end])
    return [(start, end) for start, end in merged]
