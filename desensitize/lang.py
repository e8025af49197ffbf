"""Per-record facts about how a text is written: its language (Chinese when CJK characters make up a tenth of the
letters), and whether it is written without capitals (then capitalisation tells nothing about names)."""

from __future__ import annotations

import functools
import re

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
