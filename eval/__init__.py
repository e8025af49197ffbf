"""Evaluation stage: tasks from the packs (`eval.tasks`), metrics in a registry, paired bootstrap statistics, the
harness behind `veritune eval` that runs base / lora / lora+rag (and an API model) on the same items
(`eval.harness.run_eval`), and the report (`eval.report`). Public API: the names below."""

from eval.metrics import METRICS, tokens
from eval.stats import bootstrap, paired_difference

__all__ = ["METRICS", "bootstrap", "paired_difference", "tokens"]
