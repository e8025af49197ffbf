"""An offline grounding verifier (no LLM judge): each answer sentence is checked against the evidence it cites.

A sentence is supported when it cites evidence ([n]) and, for the best cited passage, (a) enough of its content
words appear there (lexical recall) or it is semantically close (embedding cosine), and (b) every number it
states, with its unit, appears in that passage. The result: per-sentence support, a groundedness score (share of
supported claim sentences) and the unsupported claims.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from retrieval.chunking import split_sentences
from retrieval.sparse import tokenize

_CITATION = re.compile(r"\[(\d+)\]")
_NUMBER = re.compile(r"(\d+(?:[.,]\d+)?)\s*(%|percent|mg|g|kg|ml|mmol/mol|mmol|mmhg|hours?|days?|weeks?|months?|"
                     r"years?|minutes?|万元|元|美元|毫克|小时|天|周|个月|年|分钟|次)?", re.IGNORECASE)
LEXICAL_SUPPORT = 0.5
SEMANTIC_SUPPORT = 0.75


@dataclass
class SentenceCheck:
    sentence: str
    cited: list[int]
    supported: bool
    lexical: float
    semantic: float | None
    missing_numbers: list[str] = field(default_factory=list)
    reason: str = ""


@dataclass
class Verification:
    sentences: list[SentenceCheck]

    @property
    def groundedness(self) -> float:
        claims = [s for s in self.sentences if s.reason != "no claim"]
        return sum(s.supported for s in claims) / len(claims) if claims else 1.0

    @property
    def unsupported(self) -> list[str]:
        return [s.sentence for s in self.sentences if not s.supported and s.reason != "no claim"]


def _numbers(text: str) -> list[str]:
    found = []
    for value, unit in _NUMBER.findall(text):
        unit = (unit or "").lower().rstrip("s") if unit and unit.isascii() else (unit or "")
        found.append(f"{value.replace(',', '')}{unit}")
    return found


class GroundingVerifier:
    def __init__(self, embed=None) -> None:  # noqa: ANN001 - any callable(list[str]) -> normalised vectors
        self.embed = embed

    def check(self, answer: str, evidence: Sequence[str]) -> Verification:
        checks = []
        for sentence in split_sentences(answer):
            cited = [int(n) for n in _CITATION.findall(sentence) if 1 <= int(n) <= len(evidence)]
            claim = _CITATION.sub("", sentence).strip()
            words = set(tokenize(claim))
            if not words and not _numbers(claim):
                checks.append(SentenceCheck(sentence, cited, True, 1.0, None, reason="no claim"))
                continue
            if not cited:
                checks.append(SentenceCheck(sentence, cited, False, 0.0, None, reason="cites no evidence"))
                continue
            checks.append(self._against(sentence, claim, words, cited, evidence))
        return Verification(checks)

    def _against(self, sentence: str, claim: str, words: set[str], cited: list[int],
                 evidence: Sequence[str]) -> SentenceCheck:
        best: SentenceCheck | None = None
        for n in cited:
            passage = evidence[n - 1]
            lexical = len(words & set(tokenize(passage))) / len(words) if words else 1.0
            semantic = self._cosine(claim, passage)
            passage_numbers = set(_numbers(passage))
            missing = [num for num in _numbers(claim) if num not in passage_numbers]
            close = lexical >= LEXICAL_SUPPORT or (semantic is not None and semantic >= SEMANTIC_SUPPORT)
            reason = "" if close and not missing else ("numbers differ from the evidence" if missing
                                                        else "not backed by the cited evidence")
            check = SentenceCheck(sentence, cited, close and not missing, round(lexical, 3),
                                  None if semantic is None else round(semantic, 3), missing, reason)
            if best is None or (check.supported, check.lexical) > (best.supported, best.lexical):
                best = check
        assert best is not None
        return best

    def _cosine(self, claim: str, passage: str) -> float | None:
        if self.embed is None:
            return None
        vectors = np.asarray(self.embed([claim, passage]))
        return float(vectors[0] @ vectors[1])
