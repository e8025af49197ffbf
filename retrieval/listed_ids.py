"""Ids the answer writes must be ids it was shown: once the model starts an id, decoding completes it to one of the
ids listed in its evidence (a logits processor, as constrained decoding in outlines or vLLM's guided decoding, for
the id spans only; everything else stays free).

A compliance finding names a rule by id. The fine-tuned SmolLM2 wrote ids that exist nowhere ('FIN-AML-03-EN',
'FIN-DIS-032-EN') or rules it was not shown; with the constraint every id it writes is a listed candidate, and the
model still chooses which one, token by token, and whether to write one at all.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch

from retrieval.generation import AnswerConstraints

TAIL_TOKENS = 16   # generated tokens decoded to find an id in progress: more than any id of the packs takes (12)


def id_heads(ids: Sequence[str]) -> set[str]:
    """What starts an id ('FIN' for 'FIN-AML-001-EN'): the text before its first '-', or the whole id."""
    return {doc_id.split("-", 1)[0] for doc_id in ids if doc_id}


class ListedIdsProcessor:
    """A transformers logits processor: for each row whose generated text ends inside an id (a head such as 'FIN'
    followed by a proper prefix of a listed id's rest), only the tokens that continue one of that row's listed ids
    keep their scores. `constraints`: per batch row, its listed ids and the answer's start already in the prompt (a
    prefilled assistant turn), read as part of the answer: a start that ends inside an id is completed too;
    `prompt_width`: where the prompts end (left-padded batches share it)."""

    def __init__(self, tokenizer: Any, constraints: Sequence[AnswerConstraints], prompt_width: int) -> None:
        self.tokenizer, self.rows = tokenizer, [list(c.listed_ids) for c in constraints]
        self.heads = [id_heads(r) for r in self.rows]
        self.starts = [prompt_width - self._length(c.prefix) for c in constraints]
        self._first_tokens: dict[str, int] = {}   # an id's remaining part -> its first token (asked every step)

    def _length(self, prefix: str) -> int:
        return len(self.tokenizer(prefix, add_special_tokens=False)["input_ids"]) if prefix else 0

    def __call__(self, input_ids: torch.Tensor, scores: torch.Tensor) -> torch.Tensor:
        for row, listed in enumerate(self.rows):
            if not listed:
                continue
            tail = input_ids[row, max(self.starts[row], input_ids.shape[1] - TAIL_TOKENS):].tolist()
            allowed = self.allowed(tail, listed, self.heads[row])
            if allowed:
                kept = scores[row, allowed].clone()
                scores[row] = float("-inf")
                scores[row, allowed] = kept
        return scores

    def allowed(self, tail: list[int], listed: Sequence[str], heads: set[str]) -> list[int]:
        """Token ids that continue a listed id after the generated `tail`; [] when no id is in progress."""
        text = self.tokenizer.decode(tail, skip_special_tokens=True)
        found = [(text.rfind(head), head) for head in heads if head in text]
        if not found:
            return []
        written = text[max(found)[0]:]
        rests = [doc_id[len(written):] for doc_id in listed
                 if doc_id.startswith(written) and len(doc_id) > len(written)]
        # the canonical first token of each remaining part: decoding it extends `written` along a listed id
        return sorted({self.first_token(rest) for rest in rests})

    def first_token(self, rest: str) -> int:
        if rest not in self._first_tokens:
            self._first_tokens[rest] = self.tokenizer(rest, add_special_tokens=False)["input_ids"][0]
        return self._first_tokens[rest]
