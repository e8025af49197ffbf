"""Eval tasks as versioned YAML, found by name: `eval/tasks/*.yaml` and each pack's `tasks/<name>.yaml` (named in
its pack.yaml `eval_tasks`). A task says where its data is, how to prompt, how to read the answer, and which metrics
score it."""

from __future__ import annotations

import random
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from veritune.config import read_yaml, validate
from veritune.errors import VerituneError, nearest_hint
from veritune.jsonl import iter_jsonl
from veritune.packs import load_all_packs

BUILTIN = Path(__file__).resolve().parent / "tasks"


class TaskSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = Field(description="the name the CLI and configs use (the file's stem)")
    version: int = Field(ge=1, description="bumped when items, prompts or scoring change (recorded in results)")
    domain: str | None = Field(default=None, description="pack whose adapter and index serve this task")
    dataset: str = Field(description="JSONL, relative to the task file")
    input_field: str = Field(default="question", description="item field holding the input")
    gold_field: str = Field(default="answer", description="item field holding the gold answer or label")
    evidence_field: str | None = Field(default="evidence_ids", description="gold evidence ids (retrieval metrics)")
    output: Literal["generate", "label", "multiple_choice"] = Field(
        default="generate", description="generate: free text; label: a label read from the text by `labels`; "
        "multiple_choice: scored by log-likelihood")
    labels: dict[str, str] = Field(default_factory=dict, description="label -> regex that finds it in the output")
    choices: dict[str, dict[str, str]] = Field(default_factory=dict, description="multiple_choice: per language, "
                                               "label -> choice text; the gold field holds the label")
    choice_template: dict[str, str] = Field(default_factory=dict, description="multiple_choice: per language, how "
                                            "an answer states a choice, with {choice}; scored by log-likelihood")
    cited_ids: str | None = Field(default=None, description="regex of ids the answer cites (set precision/recall)")
    prompt: dict[str, str] = Field(description="prompt template per language, with {input}")
    rag_prompt: dict[str, str] | None = Field(default=None, description="with {evidence} and {input}; default: "
                                                                        "the grounded QA format")
    evidence_line: str = Field(default="[{n}] ({doc_id}) {text}", description="how rag_prompt lists each passage: "
                               "{n}, {doc_id}, {text} and any metadata field of the passage, e.g. {severity}")
    retriever: str = Field(default="question", description="how lora+rag finds evidence (retrieval.RETRIEVERS): "
                           "'question' searches the input; 'per_sentence' the best passage per sentence, then the "
                           "input (a document checked against rules)")
    attribute: bool = Field(default=True, description="with retrieval, uncited sentences a passage supports get "
                            "its [n] (AnswerSettings.attribute); false where citations are verdicts, such as the "
                            "rules a compliance finding says are broken")
    answer_prefix: dict[str, str] = Field(default_factory=dict, description="with retrieval, per language, the "
                                          "start of the answer in the taught format (e.g. 'Findings:'), written "
                                          "into the assistant turn before the model continues it")
    listed_ids_only: bool = Field(default=False, description="with retrieval, an id the answer writes out must be "
                                  "one of the listed passages': decoding completes any id the model starts to one "
                                  "of them (for ids that are verdicts, such as breached rules)")
    metrics: list[str] = Field(min_length=1, description="metric names from the registry (eval.METRICS)")
    max_new_tokens: int = Field(default=64, ge=1, le=1024, description="longest answer (the settings' own "
                                                                    "limit also applies)")
    n_shot: int = Field(default=0, ge=0, le=8, description="solved examples shown first, as earlier chat turns: "
                                                          "other items of the dataset, same language, seeded")
    fewshot_target: dict[str, str] = Field(default_factory=dict, description="per language, an example's answer "
                                           "built from its fields, e.g. 'Department: {answer}.' (default: the gold)")

    @field_validator("metrics")
    @classmethod
    def _known_metrics(cls, metrics: list[str]) -> list[str]:
        from eval.metrics import METRICS

        for name in metrics:
            if name not in METRICS:
                raise ValueError(f"unknown metric '{name}'{nearest_hint(name, METRICS, list_all=False)}")
        return metrics

    @field_validator("retriever")
    @classmethod
    def _known_retriever(cls, name: str) -> str:
        from retrieval import RETRIEVERS

        if name not in RETRIEVERS:
            raise ValueError(f"unknown retriever '{name}'{nearest_hint(name, RETRIEVERS, list_all=False)}")
        return name

    @model_validator(mode="after")
    def _choices_fit_the_output(self) -> TaskSpec:
        if self.output == "multiple_choice" and not self.choices:
            raise ValueError("a multiple_choice task needs `choices` (per language, label -> text)")
        if self.output != "multiple_choice" and self.choices:
            raise ValueError("`choices` only applies to output: multiple_choice")
        return self


class Task:
    def __init__(self, spec: TaskSpec, path: Path) -> None:
        self.spec, self.path = spec, path
        self.dataset = (path.parent / spec.dataset).resolve()

    def items(self, limit: int | None = None) -> list[dict]:
        if not self.dataset.is_file():
            raise VerituneError("dataset not found", path=self.path, field="dataset")
        rows = []
        for number, row in iter_jsonl(self.dataset):
            for field in (self.spec.input_field, self.spec.gold_field):
                if field not in row:
                    raise VerituneError(f"item without its '{field}' field", path=self.dataset, line=number,
                                        field=field)
            rows.append(row)
        return _balanced(rows, limit) if limit else rows

    def read_label(self, output: str) -> str:
        for label, pattern in self.spec.labels.items():
            if re.search(pattern, output, re.IGNORECASE):
                return label
        return ""

    def cited(self, output: str, evidence_ids: Sequence[str] = ()) -> list[str]:
        """Ids the answer cites: written out (`cited_ids`), or as [n] for the n-th passage it was given (what the
        apps read too: the SFT answers write both). A line that restates a passage as the prompt listed it cites
        nothing: copying the rule list is not finding a breach."""
        return sorted({i for _, ids in self.citations_by_line(output, evidence_ids) for i in ids})

    def citations_by_line(self, output: str, evidence_ids: Sequence[str] = ()) -> list[tuple[str, set[str]]]:
        """Each line of the answer that is not an echo of the prompt's evidence list, with the ids it cites."""
        if not self.spec.cited_ids:
            return []
        prompt, rows = self.evidence_prompt(), []
        for line in output.splitlines():
            if prompt.echoes(line):
                continue
            numbers = [int(n) for n in re.findall(r"\[(\d+)\]", line)]
            written = {_listed_variant(i, evidence_ids) for i in re.findall(self.spec.cited_ids, line)}
            rows.append((line, written | {evidence_ids[n - 1] for n in numbers if 1 <= n <= len(evidence_ids)}))
        return rows

    def prompt(self, item: dict, lang: str) -> str:
        template = self.spec.prompt.get(lang, self.spec.prompt.get("en", "{input}"))
        return template.format(input=item[self.spec.input_field])

    def evidence_prompt(self) -> Any:
        """The task's retrieval prompt (`rag_prompt` with `evidence_line`), or the grounded QA format: a
        `retrieval.EvidencePrompt`, what the grounded-answer path fills with the evidence and the item's input. With
        every field at its default it is `GROUNDED_QA`'s equal."""
        from retrieval import GROUNDED_QA, EvidencePrompt

        return EvidencePrompt(self.spec.rag_prompt or GROUNDED_QA.templates, self.spec.evidence_line,
                              attribute=self.spec.attribute, answer_prefix=self.spec.answer_prefix,
                              listed_ids_only=self.spec.listed_ids_only)

    def retriever(self) -> Any:
        """The task's evidence search, a `retrieval.Retriever`."""
        from retrieval import RETRIEVERS

        return RETRIEVERS.get(self.spec.retriever)

    def continuations(self, lang: str) -> dict[str, str]:
        """multiple_choice: label -> the text whose log-likelihood scores that choice."""
        choices = self.spec.choices.get(lang) or next(iter(self.spec.choices.values()))
        template = self.spec.choice_template.get(lang, "{choice}")
        return {label: template.format(choice=text) for label, text in choices.items()}

    def target(self, item: dict, lang: str) -> str:
        """A solved example's answer (few-shot turns)."""
        if lang in self.spec.fewshot_target:
            return self.spec.fewshot_target[lang].format(**item)
        if self.spec.output == "multiple_choice":
            return self.continuations(lang)[item[self.spec.gold_field]]
        gold = item[self.spec.gold_field]
        return gold if isinstance(gold, str) else ", ".join(map(str, gold))

    def shots(self, item: dict, pool: Sequence[dict], seed: int) -> list[dict[str, str]]:
        """n_shot solved examples as chat turns: other items in the same language, the same for every system."""
        if not self.spec.n_shot:
            return []
        lang = item.get("lang", "en")
        others = [row for row in pool if row is not item and row.get("id") != item.get("id")
                  and row.get("lang", "en") == lang]
        rng = random.Random(f"{seed}:{item.get('id')}")
        picked = rng.sample(others, min(self.spec.n_shot, len(others)))
        turns: list[dict[str, str]] = []
        for example in picked:
            turns += [{"role": "user", "content": self.prompt(example, lang)},
                      {"role": "assistant", "content": self.target(example, lang)}]
        return turns


def _balanced(rows: list[dict], limit: int) -> list[dict]:
    """The first `limit` items, alternating languages so a limit keeps both."""
    by_lang: dict[str, list[dict]] = {}
    for row in rows:
        by_lang.setdefault(row.get("lang", "en"), []).append(row)
    picked: list[dict] = []
    while len(picked) < min(limit, len(rows)):
        for group in by_lang.values():
            if group and len(picked) < limit:
                picked.append(group.pop(0))
    return picked


def load_task(path: Path) -> Task:
    return Task(validate(TaskSpec, read_yaml(path), path), path)


def task_files(domains_root: Path | None = None) -> dict[str, Path]:
    files = {p.stem: p for p in sorted(BUILTIN.glob("*.yaml"))}
    for pack in load_all_packs(domains_root):
        for name in pack.spec.eval_tasks:
            path = pack.path(f"tasks/{name}.yaml")
            if not path.is_file():
                raise VerituneError(f"names eval task {name!r} but tasks/{name}.yaml is missing",
                                    path=pack.root / "pack.yaml", field="eval_tasks")
            files[name] = path
    return files


def get_task(name: str, domains_root: Path | None = None) -> Task:
    files = task_files(domains_root)
    if name not in files:
        raise VerituneError(f"unknown task '{name}'{nearest_hint(name, files)}", field="tasks")
    return load_task(files[name])


def _listed_variant(cited: str, evidence_ids: Sequence[str]) -> str:
    """An id written without its variant suffix ('FIN-AML-004' for the listed 'FIN-AML-004-EN') cites the one
    listed passage it names; any other id stays as written."""
    if cited in evidence_ids:
        return cited
    variants = [i for i in evidence_ids if i.startswith(cited + "-")]
    return variants[0] if len(variants) == 1 else cited
