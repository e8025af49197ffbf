"""Chunking that respects sections and sentences, in English and Chinese, with overlap.

A chunk holds whole sentences up to `max_tokens` (an estimate: a Chinese character or an English word-piece ~
one token; MiniLM truncates at 256); the last `overlap` sentences of a chunk open the next one. A single sentence
longer than the limit is cut at the limit.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_SENTENCE_END = re.compile(r"(?<=[。！？；])|(?<=[.!?;])\s+(?=[A-Z0-9\"'(\[\u4e00-\u9fff])")
_SECTION = re.compile(r"\n\s*\n|\n(?=#{1,6}\s)")
_CJK = re.compile(r"[\u4e00-\u9fff]")
_WORD = re.compile(r"[A-Za-z0-9]+|[^\sA-Za-z0-9\u4e00-\u9fff]")


@dataclass(frozen=True)
class Chunk:
    text: str
    section: int
    position: int


def estimate_tokens(text: str) -> int:
    """Roughly what a WordPiece or BPE tokenizer makes of it: CJK characters count one each, words ~1.3."""
    cjk = len(_CJK.findall(text))
    words = len(_WORD.findall(_CJK.sub(" ", text)))
    return cjk + int(words * 1.3) + 1


def split_sentences(text: str) -> list[str]:
    return [s.strip() for s in _SENTENCE_END.split(text) if s and s.strip()]


def _cut(sentence: str, max_tokens: int) -> list[str]:
    if estimate_tokens(sentence) <= max_tokens:
        return [sentence]
    pieces, current = [], ""
    for token in re.findall(r"\S+\s*|[\u4e00-\u9fff]", sentence):
        if current and estimate_tokens(current + token) > max_tokens:
            pieces.append(current.strip())
            current = ""
        current += token
    return pieces + ([current.strip()] if current.strip() else [])


def chunk_text(text: str, max_tokens: int = 256, overlap: int = 1) -> list[Chunk]:
    chunks: list[Chunk] = []
    for section_number, section in enumerate(s for s in _SECTION.split(text) if s.strip()):
        sentences = [piece for sentence in split_sentences(section) for piece in _cut(sentence, max_tokens)]
        start = 0
        while start < len(sentences):
            end = start
            while end < len(sentences) and estimate_tokens(" ".join(sentences[start:end + 1])) <= max_tokens:
                end += 1
            end = max(end, start + 1)
            joiner = "" if _CJK.search(sentences[start]) else " "
            chunks.append(Chunk(joiner.join(sentences[start:end]), section_number, len(chunks)))
            if end >= len(sentences):
                break
            start = max(end - overlap, start + 1)
    return chunks
