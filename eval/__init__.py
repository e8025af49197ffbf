"""Evaluation stage (in progress): metrics in a registry and bootstrap statistics are built; tasks, the harness,
`veritune eval` and reports are not yet (see the README status)."""

from eval.metrics import METRICS, tokens
from eval.stats import bootstrap, paired_difference

__all__ = ["METRICS", "bootstrap", "paired_difference", "tokens"]
