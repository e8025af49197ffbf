"""Evaluation stage: tasks from the packs (`eval.tasks`), metrics in a registry, paired bootstrap statistics, the
harness behind `veritune eval` that runs base / lora / lora+rag (and an API model) on the same items
(`eval.harness.run_eval`), and the report (`eval.report`). Public API: the names below."""

from veritune.lazy import lazy_exports

_EXPORTS = {
    "METRICS": "eval.metrics", "tokens": "eval.metrics", "bootstrap": "eval.stats",
    "paired_difference": "eval.stats", "get_task": "eval.tasks", "load_task": "eval.tasks", "Task": "eval.tasks",
    "task_files": "eval.tasks",
    "TaskSpec": "eval.tasks", "EvalConfig": "eval.config", "run_eval": "eval.harness",
}
__all__ = sorted(_EXPORTS)


__getattr__ = lazy_exports(_EXPORTS)
