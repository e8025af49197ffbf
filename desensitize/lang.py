"""Per-record facts about how a text is written: its language (Chinese when CJK characters make up a tenth of the
letters), and whether it is written without capitals (then capitalisation tells nothing about names)."""

from __future__ import annotations

import re

CJK_CHARS = "\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff"  # a regex class body: the CJK ideograph blocks
_CJK = re.compile(f"[{CJK_CHARS}]")
_LETTER = re.compile(f"[A-Za-z{CJK_CHARS}]")


def detect_language(text: str) -> str:
    letters = len(_LETTER.findall(text))
    if letters == 0:
        return "en"
    return "zh" if len(_CJK.findall(text)) / letters >= 0.1 else "en"


def lower_case_record(text: str) -> bool:
    """No capital letter anywhere: chat logs and exports written in lower case, where 'eva kleist' is a name."""
    return not any(c.isupper() for c in text)
