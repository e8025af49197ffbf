"""An offline grounding verifier (no LLM judge): each answer sentence is checked against the evidence it cites.

A sentence is supported when it cites evidence ([n]) and, for the best cited passage, (a) enough of its content
words appear there (lexical recall) or it is semantically close (embedding cosine), and (b) every number it
states, with its unit, appears in that passage. The result: per-sentence support, a groundedness score (share of
supported claim sentences) and the unsupported claims.

With `attribute=True` a claim sentence that cites nothing is checked against every passage, and when one supports
it by the same test its `[n]` is added to the sentence (post-hoc attribution, as RARR and the attributed-QA
literature do for models that do not cite reliably). Such sentences say `attributed`, so how often the model cited
by itself stays measurable; a sentence no passage supports stays uncited and counts as unsupported. A sentence whose
own [n] does not back it, but another retrieved passage does, gets that passage's number instead and says
`corrected` (a small model copies the right line and numbers it wrong): the reader sees the passage that backs
it, the claim is grounded in the evidence, and `model_citation_precision` keeps the model's miscitations counted.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from retrieval.chunking import split_sentences
from retrieval.embedders import VectorMemory
from retrieval.sparse import tokenize

_CITATION = re.compile(r"\[(\d+)\]")
_OWN_CITATION = re.compile(r"\s*\[\d+\]")
_PLACEHOLDER = re.compile(r"\[[A-Za-z]\]")      # '[n]' copied from the instruction 'cite it as [n]': no content
_NUMBER = re.compile(r"(\d+(?:[.,]\d+)?)\s*(%|percent|mg|g|kg|ml|mmol/mol|mmol|mmhg|hours?|days?|weeks?|months?|"
                     r"years?|minutes?|万元|元|美元|毫克|小时|天|周|个月|年|分钟|次)?", re.IGNORECASE)
NOT_A_CLAIM_ENDINGS = ("?", "？", ":", "：")
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
    attributed: bool = False          # its [n] was added by attribution, not written by the model
    corrected: bool = False           # the model's [n] did not back it; the [n] now is the passage that does
    passage: int | None = None        # the cited passage that backs it best (1-based)


@dataclass
class Verification:
    sentences: list[SentenceCheck]
    text: str = ""                    # the answer as checked, with any attributed citations in place

    @property
    def groundedness(self) -> float:
        claims = [s for s in self.sentences if s.reason != "no claim"]
        return sum(s.supported for s in claims) / len(claims) if claims else 1.0

    @property
    def unsupported(self) -> list[str]:
        return [s.sentence for s in self.sentences if not s.supported and s.reason != "no claim"]

    @property
    def claims(self) -> list[SentenceCheck]:
        return [s for s in self.sentences if s.reason != "no claim"]

    @property
    def unsupported_rate(self) -> float:
        """Share of claim sentences no evidence supports (0 for an answer that makes no claim)."""
        return len(self.unsupported) / len(self.claims) if self.claims else 0.0

    @property
    def model_cited(self) -> float:
        """Share of claim sentences whose citation the model wrote itself (1 for an answer without claims)."""
        claims = self.claims
        return sum(bool(s.cited) and not s.attributed for s in claims) / len(claims) if claims else 1.0

    @property
    def model_citation_precision(self) -> float | None:
        """Share of the claims the model cited itself whose own citation backs them (None when it cited none)."""
        own = [s for s in self.claims if s.cited and not s.attributed]
        return sum(s.supported and not s.corrected for s in own) / len(own) if own else None


UNIT_SPELLINGS = {"%": "percent"}   # one unit written two ways: '90%' states what '90 percent' does


def _numbers(text: str) -> list[str]:
    found = []
    for value, unit in _NUMBER.findall(text):
        unit = (unit or "").lower().rstrip("s") if unit and unit.isascii() else (unit or "")
        found.append(f"{value.replace(',', '')}{UNIT_SPELLINGS.get(unit, unit)}")
    return found


_SENTENCE_CLOSE = re.compile(r"[\s.!?;:。！？；：]*$")


def _cite(sentence: str, n: int) -> str:
    """'... heartbeat.' -> '... heartbeat [3].' (before the closing punctuation, where the SFT answers cite)."""
    end = _SENTENCE_CLOSE.search(sentence).start()
    space = "" if end and _CJK_CHAR.match(sentence[end - 1]) else " "
    return f"{sentence[:end]}{space}[{n}]{sentence[end:]}"


_CJK_CHAR = re.compile(r"[\u3400-\u9fff]")


class GroundingVerifier:
    def __init__(self, embed=None, cache_size: int = 4096) -> None:  # noqa: ANN001 - callable(list[str]) -> vectors
        """`embed`: any callable(list[str]) -> normalised vectors (None: the lexical test alone). Vectors are kept
        for the `cache_size` texts used last: an answer's sentences are each checked against every passage, and the
        eval checks each system's answers against the same evidence, so without it the encoder saw each passage
        again for every sentence (a quarter of a medical eval run went there)."""
        self.embed = embed
        self.cache_size = cache_size
        self._memory = VectorMemory(cache_size) if cache_size else None   # thread-safe: apps and the API verify

    def check(self, answer: str, evidence: Sequence[str], attribute: bool = False,
              ids: Sequence[str] = ()) -> Verification:
        """Every sentence of the answer against the evidence; `attribute`: uncited claims a passage supports get
        that passage's [n] (the returned `text` has them in place). `ids`: the passages' ids as the prompt showed
        them; an answer naming one cites that passage (a name is no claim)."""
        checks, pieces, cursor = [], [], 0
        for sentence in split_sentences(answer):
            start = answer.find(sentence, cursor)
            check = self._sentence(sentence, evidence, attribute, ids)
            if start >= 0:                      # always found: split_sentences only strips and splits
                pieces.append(answer[cursor:start] + check.sentence)
                cursor = start + len(sentence)
            checks.append(check)
        return Verification(checks, "".join(pieces) + answer[cursor:])

    def _sentence(self, sentence: str, evidence: Sequence[str], attribute: bool, ids: Sequence[str]) -> SentenceCheck:
        cited = [int(n) for n in _CITATION.findall(sentence) if 1 <= int(n) <= len(evidence)]
        claim = _PLACEHOLDER.sub("", _CITATION.sub("", sentence))
        for n, name in enumerate(ids, start=1):
            if name and name in claim:
                cited += [n] if n not in cited else []
                claim = claim.replace(name, "")
        claim = claim.strip()
        words = set(tokenize(claim))
        if (not words and not _numbers(claim)) or claim.rstrip(" .。").endswith(NOT_A_CLAIM_ENDINGS):
            # a question or a bare heading ('Key tests:') asserts nothing: restating the question, or a label
            # copied from the evidence, has said nothing to support
            return SentenceCheck(sentence, cited, True, 1.0, None, reason="no claim")
        if cited:
            check = self._against(sentence, claim, words, cited, evidence)
            if check.supported or not attribute:
                return check
            best = self._backing_passage(sentence, claim, words, evidence)
            if best is None:
                return check
            best.sentence, best.corrected = _cite(_OWN_CITATION.sub("", sentence), best.passage), True
            return best
        if attribute and evidence and not _CITATION.search(sentence):  # an out-of-range [n] is left as written
            best = self._backing_passage(sentence, claim, words, evidence)
            if best is not None:
                best.sentence, best.attributed = _cite(sentence, best.passage), True
                return best
        return SentenceCheck(sentence, cited, False, 0.0, None, reason="cites no evidence")

    def _backing_passage(self, sentence: str, claim: str, words: set[str],
                         evidence: Sequence[str]) -> SentenceCheck | None:
        """The check against the passage that backs the sentence best, citing it alone; None when none does."""
        best = self._against(sentence, claim, words, list(range(1, len(evidence) + 1)), evidence)
        if not best.supported or best.passage is None:
            return None
        best.cited = [best.passage]
        return best

    def _against(self, sentence: str, claim: str, words: set[str], cited: list[int],
                 evidence: Sequence[str]) -> SentenceCheck:
        best: SentenceCheck | None = None
        similarities = self._cosines(claim, [evidence[n - 1] for n in cited])
        for n, semantic in zip(cited, similarities, strict=True):
            passage = evidence[n - 1]
            lexical = len(words & set(tokenize(passage))) / len(words) if words else 1.0
            passage_numbers = set(_numbers(passage))
            missing = [num for num in _numbers(claim) if num not in passage_numbers]
            close = lexical >= LEXICAL_SUPPORT or (semantic is not None and semantic >= SEMANTIC_SUPPORT)
            reason = "" if close and not missing else ("numbers differ from the evidence" if missing
                                                        else "not backed by the cited evidence")
            check = SentenceCheck(sentence, cited, close and not missing, round(lexical, 3),
                                  None if semantic is None else round(semantic, 3), missing, reason, passage=n)
            if best is None or (check.supported, check.lexical) > (best.supported, best.lexical):
                best = check
        assert best is not None
        return best

    def _cosines(self, claim: str, passages: list[str]) -> list[float | None]:
        """The claim's cosine to each passage (None each without an embedder); new texts encoded in one call."""
        if self.embed is None:
            return [None] * len(passages)
        query, *vectors = self._embedded([claim, *passages])
        return [float(query @ vector) for vector in vectors]

    def _embedded(self, texts: list[str]) -> list[np.ndarray]:
        """The texts' vectors, encoding only those not kept (in one call) and keeping the last `cache_size`
        (`retrieval.embedders.VectorMemory`: under digests, since answers may quote what a user typed)."""
        if self._memory is None:
            return list(np.asarray(self.embed(texts)))
        return self._memory(texts, self.embed)
