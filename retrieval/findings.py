"""Which sentences of a checked document are findings: a logistic regression per language on the index's own query
embeddings, learned when the index is built from labelled sentences (`{text, label: finding | clean, lang}` JSONL;
the finance pack's `dev/findings.jsonl` holds its training rules' breach sentences and its training filler
sentences, never an eval sentence).

Why: the compliance check searches the best rule for each sentence of a document (`retrieve_per_sentence`), so a
compliant sentence on a rule's topic brings that rule along beside the breached one, and the 135 M model names the
right candidate about a third of the time. Telling a breach from a compliant sentence on the same topic is what it
does not learn in the demo's steps; a linear probe on sentence embeddings does, from a few dozen labelled sentences.
With a scorer, the retriever searches the sentences most likely to be findings first and leaves out the rules that
only sentences it calls clean would bring."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from veritune.errors import VerituneError
from veritune.jsonl import iter_jsonl

FINDING, CLEAN = "finding", "clean"
MIN_PER_LABEL = 8          # labelled sentences per label and language: fewer cannot be cross-validated
MIN_AUC = 0.65             # cross-validated ranking quality; below it the scorer would reorder candidates at random
FOLDS = 5
L2 = 1.0                   # ridge on the weights (not the bias): sklearn's C=1 with class-balanced weights

# lang -> texts -> one query embedding per text (the index's embedder for that language)
Embed = Callable[[str, Sequence[str]], np.ndarray]


@dataclass
class FindingScorer:
    """Per language: weights over the embedding, a bias and the threshold above which a sentence is a finding."""

    weights: dict[str, np.ndarray]
    bias: dict[str, float]
    threshold: float = 0.5
    report: dict[str, Any] = field(default_factory=dict)   # per language: sentences per label, cross-validation

    def scores(self, vectors: np.ndarray, lang: str) -> np.ndarray | None:
        """Probability that each sentence is a finding; None for a language the scorer was not trained on."""
        if lang not in self.weights:
            return None
        return _sigmoid(vectors @ self.weights[lang] + self.bias[lang])

    def to_json(self) -> dict[str, Any]:
        return {"threshold": self.threshold, "report": self.report,
                "languages": {lang: {"weights": [round(float(w), 7) for w in self.weights[lang]],
                                     "bias": float(self.bias[lang])} for lang in sorted(self.weights)}}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> FindingScorer:
        languages = data["languages"]
        return cls({lang: np.asarray(v["weights"], dtype=np.float32) for lang, v in languages.items()},
                   {lang: float(v["bias"]) for lang, v in languages.items()}, float(data["threshold"]),
                   data.get("report", {}))


def read_findings(path: str | Path) -> list[dict[str, str]]:
    """Labelled sentences; a row without text, with another label or without a language is an error naming its
    line."""
    rows = []
    for number, row in iter_jsonl(Path(path)):
        for name in ("text", "label", "lang"):
            if not isinstance(row.get(name), str) or not row[name].strip():
                raise VerituneError(f"a labelled sentence needs a non-empty '{name}'", path=path, line=number,
                                    field=name)
        if row["label"] not in (FINDING, CLEAN):
            raise VerituneError(f"label '{row['label']}' is neither '{FINDING}' nor '{CLEAN}'", path=path,
                                line=number, field="label")
        rows.append(row)
    return rows


def fit_finding_scorer(rows: Sequence[dict[str, str]], embed: Embed, source: str = "findings") -> FindingScorer:
    """One regression per language in `rows`, checked by stratified cross-validation first: a language whose
    sentences it cannot rank (a finding above a clean sentence with probability under MIN_AUC) is an error, not a
    scorer that shuffles candidates."""
    weights, bias, report = {}, {}, {}
    for lang in sorted({row["lang"] for row in rows}):
        picked = [row for row in rows if row["lang"] == lang]
        counts = Counter(row["label"] for row in picked)
        if min(counts[FINDING], counts[CLEAN]) < MIN_PER_LABEL:
            raise VerituneError(f"{lang}: {counts[FINDING]} finding and {counts[CLEAN]} clean sentences; the finding "
                                f"scorer needs at least {MIN_PER_LABEL} of each", path=source, field="label")
        vectors = np.asarray(embed(lang, [row["text"] for row in picked]), dtype=np.float64)
        labels = np.array([row["label"] == FINDING for row in picked], dtype=np.float64)
        held_out = _out_of_fold(vectors, labels)
        auc = ranking_auc(held_out, labels)
        if auc < MIN_AUC:
            raise VerituneError(f"{lang}: a finding outscores a clean sentence with probability {auc:.2f} "
                                f"(cross-validated, under {MIN_AUC}): these embeddings do not separate the "
                                "labelled sentences", path=source, field="label")
        w, b = _fit(vectors, labels)
        weights[lang], bias[lang] = w.astype(np.float32), b
        report[lang] = {"finding": counts[FINDING], "clean": counts[CLEAN], "cv_auc": round(auc, 4),
                        "cv_balanced_accuracy": round(balanced_accuracy(held_out, labels), 4), "folds": FOLDS}
    if not weights:
        raise VerituneError("no labelled sentences to learn findings from", path=source)
    return FindingScorer(weights, bias, report=report)


def _sigmoid(z: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-np.clip(z, -30, 30)))


def _fit(x: np.ndarray, y: np.ndarray, steps: int = 50) -> tuple[np.ndarray, float]:
    """Class-balanced, L2-regularised logistic regression by Newton's method (a few hundred rows of 384 numbers:
    exact in a dozen steps, no solver dependency)."""
    n, dim = x.shape
    design = np.hstack([x, np.ones((n, 1))])
    positives = y.sum()
    sample = np.where(y > 0, n / (2 * positives), n / (2 * (n - positives)))
    ridge = np.eye(dim + 1) * L2
    ridge[dim, dim] = 0.0
    theta = np.zeros(dim + 1)
    for _ in range(steps):
        p = _sigmoid(design @ theta)
        gradient = design.T @ (sample * (p - y)) + ridge @ theta
        hessian = design.T @ (design * (sample * p * (1 - p))[:, None]) + ridge
        step = np.linalg.solve(hessian + 1e-9 * np.eye(dim + 1), gradient)
        theta -= step
        if np.abs(step).max() < 1e-8:
            break
    return theta[:dim], float(theta[dim])


def _out_of_fold(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Each row's probability from the fold that did not train on it (stratified: every FOLDS-th row of each label
    held out in turn)."""
    fold = np.zeros(len(y), dtype=int)
    for label in (0.0, 1.0):
        where = np.flatnonzero(y == label)
        fold[where] = np.arange(len(where)) % FOLDS
    scores = np.zeros(len(y))
    for k in range(FOLDS):
        test = fold == k
        w, b = _fit(x[~test], y[~test])
        scores[test] = _sigmoid(x[test] @ w + b)
    return scores


def ranking_auc(scores: np.ndarray, y: np.ndarray) -> float:
    """Probability that a finding outscores a clean sentence (ties count half)."""
    findings, clean = scores[y > 0], scores[y <= 0]
    wins = (findings[:, None] > clean[None, :]).sum() + 0.5 * (findings[:, None] == clean[None, :]).sum()
    return float(wins / (len(findings) * len(clean)))


def balanced_accuracy(scores: np.ndarray, y: np.ndarray, threshold: float = 0.5) -> float:
    called = scores >= threshold
    return float(((called[y > 0]).mean() + (~called[y <= 0]).mean()) / 2)
