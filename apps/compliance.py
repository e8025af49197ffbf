"""Compliance-check logic of the finance app, kept out of the UI so it is tested directly.

Retrieval proposes candidate rules per document sentence; the model (prompted in the format of the pack's
`check_rag` SFT examples) flags the rules it finds breached and quotes the sentence. The findings table shows
every candidate with its triggering sentence and whether the model flagged it; the risk level is the highest
severity among flagged findings. Retrieval alone cannot tell a breach from a compliant sentence on the same topic
(measured on the pack: their dense scores overlap), so candidates are labelled as such, never as verdicts.
"""

from __future__ import annotations

import csv
import functools
import io
import json
import re
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

from retrieval import split_sentences, tokenize

SEVERITIES = ("low", "medium", "high", "critical")
QUOTED = re.compile(r"[\"“「]([^\"”」]+)[\"”」]")
TASK = "finance_compliance"  # the pack's eval task: its retrieval prompt is the format the SFT data teaches


@dataclass
class Finding:
    n: int
    rule_id: str
    severity: str
    sentence: str
    rule_text: str
    score: float
    flagged_by_model: bool
    finding_score: float | None = None   # the index's finding scorer on the sentence that found the rule, if any


class _RulesPrompt:
    """The `check_rag` format the finance SFT data teaches (`[n] (RULE-ID, severity) text`), taken from the pack's
    finance_compliance task, so the app, the evaluation and the training data cannot drift apart. Its citations
    are findings, so the answer path adds none (`attribute` is the task's: false)."""

    @property
    def attribute(self) -> bool:
        return _task().evidence_prompt().attribute

    @property
    def retriever(self) -> str:
        """The task's evidence search (`per_sentence`): the app finds rules as the evaluation does."""
        return _task().spec.retriever

    def __call__(self, document: str, hits: Sequence[Any], lang: str) -> str:
        return _task().evidence_prompt()(document, hits, lang)

    @property
    def listed_ids_only(self) -> bool:
        """Whether a rule id the model writes must be one of the candidates (the task's `listed_ids_only`)."""
        return _task().evidence_prompt().listed_ids_only

    def prefix(self, lang: str) -> str:
        """The findings header the answer starts with, written for the model (the task's `answer_prefix`)."""
        return _task().evidence_prompt().prefix(lang)


rules_prompt = _RulesPrompt()


@functools.cache
def _task() -> Any:
    from eval import get_task

    return get_task(TASK)


def _overlap(sentence: str, rule_text: str) -> float:
    words = set(tokenize(sentence))
    return len(words & set(tokenize(rule_text))) / len(words) if words else 0.0


def triggering_sentence(document: str, rule_text: str, quoted: Sequence[str] = (), matched: str | None = None,
                        matched_is_finding: bool = False) -> str:
    """The sentence the model quoted when it is really in the document, else the sentence whose retrieval found
    the rule, else the sentence sharing most words with the rule. A matched sentence the finding scorer called a
    finding comes first: the model's line may pin another rule's sentence on this one."""
    sentences = split_sentences(document)
    if matched_is_finding and matched in sentences:
        return matched
    for quote in quoted:
        for sentence in sentences:
            if quote.strip() and quote.strip() in sentence:
                return sentence
    if matched and matched in sentences:
        return matched
    return max(sentences, key=lambda s: _overlap(s, rule_text), default="")


def model_flags(explanation: str, hits: Sequence[Any]) -> dict[str, list[str]]:
    """Rule ids the model flagged (by id, or by [n] citation), each with the sentences it quoted on that line; a line
    that restates a rule as the prompt listed it flags nothing (the model copying its prompt)."""
    flagged: dict[str, list[str]] = {}
    for line, ids in _task().citations_by_line(explanation, [hit.doc_id for hit in hits]):
        for rule_id in ids:
            flagged.setdefault(rule_id, []).extend(QUOTED.findall(line))
    return flagged


def findings(document: str, hits: Sequence[Any], explanation: str) -> list[Finding]:
    flags = model_flags(explanation, hits)
    rows = []
    for n, hit in enumerate(hits, start=1):
        quotes = flags.get(hit.doc_id, [])
        sentence = triggering_sentence(document, hit.text, quotes, hit.metadata.get("matched_sentence"),
                                       matched_is_finding="finding_score" in hit.metadata)
        similarity = hit.similarity
        rows.append(Finding(n, hit.doc_id, str(hit.metadata.get("severity", "unknown")), sentence, hit.text,
                            round(float(similarity), 4), hit.doc_id in flags, hit.metadata.get("finding_score")))
    return sorted(rows, key=lambda f: (not f.flagged_by_model, -f.score, f.n))


def _rank(severity: str) -> int:
    return SEVERITIES.index(severity) if severity in SEVERITIES else -1


def risk_level(rows: Sequence[Finding]) -> str:
    """Highest severity among findings the model flagged; 'none flagged' when it flagged none."""
    flagged = [row.severity for row in rows if row.flagged_by_model]
    return max(flagged, key=_rank) if flagged else "none flagged"


def verdict(document: str, hits: Sequence[Any], explanation: str) -> tuple[list[Finding], str]:
    """The check's conclusion from the model's answer: every candidate as a finding row, and the risk level."""
    rows = findings(document, hits, explanation)
    return rows, risk_level(rows)


def report(rows: Sequence[Finding], risk: str) -> dict[str, Any]:
    """The verdict as data: what the app exports as JSON and the API returns beside the model's words."""
    return {"risk_level": risk, "findings": [asdict(row) for row in rows]}


def turn_report(turn: Any) -> dict[str, Any]:
    """A finished compliance check's report (the finance assistants' `verdict`; `turn` is an apps.engine.Turn)."""
    return report(*verdict(turn.question, turn.hits, turn.text))


def to_json(rows: Sequence[Finding], risk: str) -> str:
    return json.dumps(report(rows, risk), ensure_ascii=False, indent=2)


FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def spreadsheet_safe(value: object) -> object:
    """A text cell a spreadsheet would run as a formula (`=HYPERLINK(...)`, `@SUM`, `+1`, `-1`) gets a leading
    apostrophe, OWASP's advice for CSV injection: shown as text, never evaluated."""
    return "'" + value if isinstance(value, str) and value.startswith(FORMULA_STARTS) else value


def to_csv(rows: Sequence[Finding]) -> str:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=list(Finding.__dataclass_fields__))
    writer.writeheader()
    writer.writerows({name: spreadsheet_safe(value) for name, value in asdict(row).items()} for row in rows)
    return buffer.getvalue()
