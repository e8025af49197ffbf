"""Examples longer than `train.seq_len`: TRL's packing truncates them, and a chat example whose answer falls past
the cut trains nothing (its assistant tokens are the only ones with labels). In the demo's medical data at
seq_len 256 that was 173 of the 384 retrieval-grounded examples: their answers, given evidence, were never trained.
So the lengths are checked before training: a row that would lose every trained token stops the run unless
`train.allow_truncation` is set; rows cut but still trained are counted in the summary.
"""

from __future__ import annotations

from typing import Any

from veritune.errors import VerituneError
from veritune.logs import get_logger

log = get_logger("finetune")

CHECKED_ROWS = 20_000  # a bound on the check's cost for large sets; the summary says how many were read


def _lengths(tokenizer: Any, row: dict[str, Any], seq_len: int) -> tuple[int, bool]:
    """(tokens, whether every trained token falls past seq_len)."""
    if "messages" in row:
        encoded = tokenizer.apply_chat_template(row["messages"], tokenize=True, return_dict=True,
                                                return_assistant_tokens_mask=True)
        mask = encoded.get("assistant_masks") or []
        return len(encoded["input_ids"]), any(mask) and not any(mask[:seq_len])
    return len(tokenizer(row["text"])["input_ids"]), False  # pt: every token trains; a cut only shortens it


def check_truncation(tokenizer: Any, dataset: Any, seq_len: int, allow: bool, recipe_path: str) -> dict[str, Any]:
    """Count cut rows and rows left with nothing to learn; stop on the latter unless `allow`."""
    checked = min(len(dataset), CHECKED_ROWS)
    lengths, lost = [], 0
    for index in range(checked):
        tokens, lost_all = _lengths(tokenizer, dataset[index], seq_len)
        lengths.append(tokens)
        lost += lost_all
    cut = sum(tokens > seq_len for tokens in lengths)
    report = {"rows_checked": checked, "longest": max(lengths, default=0), "rows_cut": cut,
              "rows_without_trained_tokens": lost, "seq_len": seq_len}
    if lost and not allow:
        raise VerituneError(f"{lost} of {checked} examples would lose every trained token to truncation at "
                            f"train.seq_len={seq_len} (the longest has {report['longest']} tokens): raise "
                            f"train.seq_len to at least {report['longest']}, or set train.allow_truncation=true",
                            path=recipe_path, field="train.seq_len")
    if cut:
        log.warning("%d of %d examples are longer than train.seq_len=%d and will be cut (%d lose every trained "
                    "token); the longest has %d tokens", cut, checked, seq_len, lost, report["longest"])
    return report
