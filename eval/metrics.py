"""Evaluation metrics, by name, in a registry. Each takes per-item predictions and golds and returns per-item
scores (so statistics can bootstrap them and compare systems item by item); corpus-level metrics such as
macro-F1 are functions of all items at once and say so.

Text metrics tokenize English by words and Chinese by character, so Chinese answers are not one giant token.
"""

from __future__ import annotations

import re
import string
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from veritune.registry import Registry

_CJK = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]")
_PUNCT = set(string.punctuation) | set("，。、；：？！“”‘’（）《》【】…—·")


def normalize(text: str) -> str:
    """Lower case, punctuation (English and Chinese) to spaces, English articles dropped, spaces collapsed."""
    text = "".join(" " if c in _PUNCT else c for c in text.lower())
    return " ".join(re.sub(r"\b(a|an|the)\b", " ", text).split())


_CITATION_MARK = re.compile(r"\s*\[\d+\]")


def without_citations(text: str) -> str:
    """The answer without its [n] marks: 'a heartbeat [3].' -> 'a heartbeat.'"""
    return _CITATION_MARK.sub("", text)


def tokens(text: str) -> list[str]:
    """Words for English, single characters for Chinese (and other CJK), after normalization."""
    out: list[str] = []
    for word in normalize(text).split():
        if _CJK.search(word):
            out.extend(ch for ch in word if not ch.isspace())
        else:
            out.append(word)
    return out


@dataclass(frozen=True)
class Metric:
    name: str
    kind: str  # "item": one score per item; "corpus": one score for the whole set
    fn: Callable


METRICS: Registry[Metric] = Registry("metric")


def metric(name: str, kind: str = "item") -> Callable[[Callable], Callable]:
    def decorate(fn: Callable) -> Callable:
        METRICS.add(name, Metric(name, kind, fn))
        return fn

    return decorate


@metric("exact_match")
def exact_match(prediction: str, gold: str) -> float:
    return float(normalize(prediction) == normalize(gold))


@metric("token_f1")
def token_f1(prediction: str, gold: str) -> float:
    predicted, expected = tokens(prediction), tokens(gold)
    if not predicted or not expected:
        return float(predicted == expected)
    common = sum((Counter(predicted) & Counter(expected)).values())
    if common == 0:
        return 0.0
    precision, recall = common / len(predicted), common / len(expected)
    return 2 * precision * recall / (precision + recall)


def _lcs(a: Sequence[str], b: Sequence[str]) -> int:
    previous = [0] * (len(b) + 1)
    for x in a:
        current = [0]
        for j, y in enumerate(b, start=1):
            current.append(previous[j - 1] + 1 if x == y else max(previous[j], current[j - 1]))
        previous = current
    return previous[-1]


@metric("rouge_l")
def rouge_l(prediction: str, gold: str) -> float:
    """ROUGE-L F1 over the same tokens as token_f1."""
    predicted, expected = tokens(prediction), tokens(gold)
    if not predicted or not expected:
        return float(predicted == expected)
    lcs = _lcs(predicted, expected)
    if lcs == 0:
        return 0.0
    precision, recall = lcs / len(predicted), lcs / len(expected)
    return 2 * precision * recall / (precision + recall)


MAX_REPEAT_PERIOD = 8


@metric("distinct_2")
def distinct_2(prediction: str, gold: str = "") -> float:
    """Share of the answer's word bigrams (character bigrams in Chinese) that are distinct (Li et al. 2016): near 1
    for normal text, low for a model that loops. An answer of fewer than two tokens scores 1."""
    words = tokens(prediction)
    pairs = list(zip(words, words[1:], strict=False))
    return len(set(pairs)) / len(pairs) if pairs else 1.0


@metric("longest_repeat")
def longest_repeat(prediction: str, gold: str = "") -> float:
    """Tokens in the longest stretch where the answer repeats itself with a period of 1-8 tokens ('be be be be':
    3; 'a b a b a b': 4): 0 for text that never loops, the degenerate run's length when it does."""
    words = tokens(prediction)
    best = 0
    for period in range(1, MAX_REPEAT_PERIOD + 1):
        run = 0
        for i in range(period, len(words)):
            run = run + 1 if words[i] == words[i - period] else 0
            best = max(best, run)
    return float(best)


REPETITION_METRICS = ("distinct_2", "longest_repeat")   # scored on every generated answer, whatever the task


@metric("accuracy")
def accuracy(prediction: str, gold: str) -> float:
    return float(prediction.strip().lower() == gold.strip().lower())


@metric("mc_accuracy")
def mc_accuracy(predicted_label: str, gold: str) -> float:
    """Multiple choice: the choice with the highest summed log-likelihood is the gold one (lm-eval's `acc`)."""
    return accuracy(predicted_label, gold)


@metric("mc_accuracy_norm")
def mc_accuracy_norm(predicted_label: str, gold: str) -> float:
    """Multiple choice, log-likelihood per character of the choice (lm-eval's `acc_norm`): long choices are not
    penalized for their length."""
    return accuracy(predicted_label, gold)


@metric("macro_f1", kind="corpus")
def macro_f1(predictions: Sequence[str], golds: Sequence[str]) -> float:
    """Mean F1 over the gold labels (a label never predicted and never gold does not count)."""
    labels = sorted({g.strip().lower() for g in golds})
    predicted = [p.strip().lower() for p in predictions]
    expected = [g.strip().lower() for g in golds]
    scores = []
    for label in labels:
        tp = sum(p == label and g == label for p, g in zip(predicted, expected, strict=True))
        fp = sum(p == label and g != label for p, g in zip(predicted, expected, strict=True))
        fn = sum(p != label and g == label for p, g in zip(predicted, expected, strict=True))
        scores.append(2 * tp / (2 * tp + fp + fn) if tp else 0.0)
    return sum(scores) / len(scores) if scores else 0.0


@metric("set_precision")
def set_precision(predicted: Sequence[str], gold: Sequence[str]) -> float:
    """Share of cited ids that are gold (no citations and no gold: 1.0; citations but no gold: 0.0)."""
    cited, expected = set(predicted), set(gold)
    if not cited:
        return float(not expected)
    return len(cited & expected) / len(cited)


@metric("set_recall")
def set_recall(predicted: Sequence[str], gold: Sequence[str]) -> float:
    cited, expected = set(predicted), set(gold)
    if not expected:
        return 1.0
    return len(cited & expected) / len(expected)


@metric("hit_at_k")
def hit_at_k(ranked: Sequence[str], gold: Sequence[str], k: int = 10) -> float:
    return float(any(doc in set(gold) for doc in ranked[:k]))


@metric("recall_at_k")
def recall_at_k(ranked: Sequence[str], gold: Sequence[str], k: int = 10) -> float:
    expected = set(gold)
    return len(expected & set(ranked[:k])) / len(expected) if expected else 1.0


@metric("mrr")
def mrr(ranked: Sequence[str], gold: Sequence[str], k: int = 10) -> float:
    expected = set(gold)
    return next((1 / rank for rank, doc in enumerate(ranked[:k], start=1) if doc in expected), 0.0)
