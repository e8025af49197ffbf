"""The detector: Presidio's AnalyzerEngine over the recognizers in the registry, for English and Chinese."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from importlib.metadata import version

from presidio_analyzer import AnalyzerEngine, RecognizerRegistry, RecognizerResult
from presidio_analyzer.nlp_engine import NlpEngine

import desensitize.recognizers  # noqa: F401 - registers the recognizers
from desensitize.filters import (
    absorb_address_numbers,
    affiliations,
    apply_rules,
    coordinated_names,
    propagate_mentions,
    resolve_overlaps,
)
from desensitize.layout import contact_card_employers, extend_address_blocks
from desensitize.nlp import build_nlp_engine
from desensitize.registry import RECOGNIZERS
from veritune.errors import VeritunError

LANGUAGES = ("en", "zh")


@dataclass(frozen=True)
class Span:
    """A detected entity: type, offsets and score. It never holds the matched value."""

    entity_type: str
    start: int
    end: int
    score: float


@dataclass
class DetectorSettings:
    """What to look for and how sure to be."""

    entities: Sequence[str] | None = None  # None: every entity the recognizers know
    threshold: float = 0.4                 # Presidio score threshold
    allow_list: Sequence[str] = ()         # terms that are never PII here (a domain's vocabulary)
    recognizers: Sequence[str] | None = None  # registry names; None: all registered
    extra_recognizers: Sequence[str] = field(default_factory=tuple)


def _specs(settings: DetectorSettings) -> list:
    names = list(settings.recognizers or RECOGNIZERS.names()) + list(settings.extra_recognizers)
    return [RECOGNIZERS.get(name) for name in dict.fromkeys(names)]


def recognizer_versions(settings: DetectorSettings) -> dict[str, str]:
    """Name -> version of every recognizer `settings` selects (for manifests; loads no model)."""
    presidio = version("presidio-analyzer")
    return {spec.name: f"{spec.version} (presidio {presidio})" for spec in _specs(settings)}


def _term_pattern(terms: Sequence[str]) -> re.Pattern | None:
    """One case-insensitive pattern for the multi-word (or hyphenated) allowed terms, longest first."""
    phrases = sorted({t for t in terms if re.search(r"[\s-]", t.strip())}, key=len, reverse=True)
    if not phrases:
        return None
    return re.compile(r"(?<!\w)(?:" + "|".join(re.escape(p.strip()) for p in phrases) + r")(?!\w)", re.IGNORECASE)


class Detector:
    """Finds PII/PHI spans. Build one per process: loading spaCy takes seconds, analysing a record milliseconds."""

    def __init__(self, settings: DetectorSettings | None = None, nlp_engine: NlpEngine | None = None) -> None:
        self.settings = settings or DetectorSettings()
        self.recognizer_specs = _specs(self.settings)
        registry = RecognizerRegistry(supported_languages=list(LANGUAGES))
        for spec in self.recognizer_specs:
            for language in spec.languages:
                registry.add_recognizer(spec.factory(language))
        self.engine = AnalyzerEngine(registry=registry, nlp_engine=nlp_engine or build_nlp_engine(LANGUAGES),
                                     supported_languages=list(LANGUAGES),
                                     default_score_threshold=self.settings.threshold)
        self._entities = {lang: self._entities_for(lang) for lang in LANGUAGES}
        self._allowed_terms = _term_pattern(self.settings.allow_list)

    def _entities_for(self, language: str) -> list[str]:
        known = {e for spec in self.recognizer_specs if language in spec.languages for e in spec.entities}
        wanted = set(self.settings.entities) if self.settings.entities else known
        return sorted(known & wanted)

    def recognizer_versions(self) -> dict[str, str]:
        return recognizer_versions(self.settings)

    def analyze(self, text: str, language: str) -> list[Span]:
        return self.analyze_batch([text], language)[0]

    def analyze_batch(self, texts: Sequence[str], language: str, batch_size: int = 64) -> list[list[Span]]:
        """Analyse texts of one language; spaCy runs once over the batch (`nlp.pipe`)."""
        if language not in LANGUAGES:
            raise VeritunError(f"unsupported language {language!r}; veritune desensitizes {', '.join(LANGUAGES)}",
                               field="lang")
        nlp_engine = self.engine.nlp_engine
        artifacts = nlp_engine.process_batch(list(texts), language, batch_size=batch_size)
        spans = []
        for text, (_, nlp_artifacts) in zip(texts, artifacts, strict=True):
            results = self.engine.analyze(text=text, language=language, entities=self._entities[language],
                                          nlp_artifacts=nlp_artifacts, allow_list=list(self.settings.allow_list))
            spans.append(self._to_spans(text, results, language))
        return spans

    def _is_common_word(self, word: str) -> bool:
        """A word of the English model's vocabulary (it has a vector in lower case)."""
        return self.engine.nlp_engine.nlp["en"].vocab.has_vector(word.lower())

    def _inside_allowed_terms(self, text: str, results: list[RecognizerResult]) -> list[RecognizerResult]:
        """Presidio drops a result equal to an allowed term; a result inside one ('Atopic' of 'Atopic eczema',
        'Pre' of 'Pre-eclampsia') is no PII either."""
        if self._allowed_terms is None:
            return results
        terms = [(m.start(), m.end()) for m in self._allowed_terms.finditer(text)]
        return [r for r in results if not any(start <= r.start and r.end <= end for start, end in terms)]

    def _to_spans(self, text: str, results: list[RecognizerResult], language: str) -> list[Span]:
        common = self._is_common_word if language == "en" else None
        results = self._inside_allowed_terms(text, results)
        kept = resolve_overlaps(apply_rules(text, results, is_common_word=common))
        kept = resolve_overlaps(absorb_address_numbers(text, propagate_mentions(text, kept)))
        if language == "en":
            kept = resolve_overlaps(affiliations(text, coordinated_names(text, kept)))
            kept = resolve_overlaps(contact_card_employers(text, extend_address_blocks(text, kept)))
        return [Span(r.entity_type, r.start, r.end, round(r.score, 3)) for r in kept]
