"""The detector: Presidio's AnalyzerEngine over the recognizers in the registry, for English and Chinese."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from importlib.metadata import version

import desensitize.recognizers  # noqa: F401 - registers the recognizers
from desensitize.filters import (
    absorb_address_numbers,
    affiliations,
    apply_rules,
    coordinated_names,
    propagate_mentions,
    resolve_overlaps,
)
from desensitize.gazetteers import name_lists
from desensitize.lang import CJK_CHARS
from desensitize.layout import contact_card_employers, extend_address_blocks
from desensitize.ner_focus import focus_for
from desensitize.nlp import PipelineNlpEngine, build_nlp_engine
from desensitize.presidio_api import AnalyzerEngine, NlpEngine, RecognizerRegistry, RecognizerResult
from desensitize.recognizers.cn_person import common_word
from desensitize.registry import RECOGNIZERS
from veritune.errors import VerituneError

LANGUAGES = ("en", "zh")
_NO_LATIN = re.compile(r"[^A-Za-z]+")
_NO_CJK = re.compile(rf"[^{CJK_CHARS}]+")
_CJK_CHAR = re.compile(rf"[{CJK_CHARS}]")
_LATIN_PAIR = re.compile(r"[A-Za-z][^A-Za-z]*[A-Za-z]")


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
    ner: str = "focused"                   # English NER: "focused" (around possible entity words) or "full"


def _specs(settings: DetectorSettings) -> list:
    names = list(settings.recognizers or RECOGNIZERS.names()) + list(settings.extra_recognizers)
    return [RECOGNIZERS.get(name) for name in dict.fromkeys(names)]


def recognizer_versions(settings: DetectorSettings) -> dict[str, str]:
    """Name -> version of every recognizer `settings` selects (for manifests; loads no model)."""
    presidio = version("presidio-analyzer")
    return {spec.name: f"{spec.version} (presidio {presidio})" for spec in _specs(settings)}


def _term_pattern(terms: Sequence[str]) -> re.Pattern | None:
    """One case-insensitive pattern for the allowed terms a result can lie inside, longest first: multi-word (or
    hyphenated) ones between word boundaries, and Chinese ones anywhere (Chinese writes no space between words, so
    a tagger's '中耳' inside '急性中耳炎' has no boundary to check)."""
    phrases = sorted({t.strip() for t in terms if re.search(r"[\s-]", t.strip())}, key=len, reverse=True)
    chinese = sorted({t.strip() for t in terms if _CJK_CHAR.search(t)} - set(phrases), key=len, reverse=True)
    parts = ([r"(?<!\w)(?:" + "|".join(map(re.escape, phrases)) + r")(?!\w)"] if phrases else []) + (
        ["(?:" + "|".join(map(re.escape, chinese)) + ")"] if chinese else [])
    return re.compile("|".join(parts), re.IGNORECASE) if parts else None


def other_script_runs(text: str, language: str) -> list[tuple[int, int]]:
    """(start, end) of the passages of `text` to analyse as `language` besides the main pass: for Chinese, the
    stretches holding CJK characters and no Latin letter; for English, those holding at least two Latin letters
    and no CJK character. Digits and punctuation go with the passage around them."""
    pattern, wanted = (_NO_LATIN, _CJK_CHAR) if language == "zh" else (_NO_CJK, _LATIN_PAIR)
    return [(m.start(), m.end()) for m in pattern.finditer(text) if wanted.search(m.group())]


def merge_spans(text: str, main: list[Span], extra: list[Span], segment: tuple[int, int]) -> list[Span]:
    """Spans of the main pass and of the other language's pass over `segment`. An extra span that covers main
    spans lying inside the segment replaces them; in any other clash the main pass, which saw the whole text, wins
    (a credit code it found whole is not cut down to the phone number the English pass saw in its digits)."""
    start, end = segment

    def clash(a: Span, b: Span) -> bool:
        return a.start < b.end and b.start < a.end

    def size(span: Span) -> int:      # letters and digits: a full stop spaCy kept in a span does not count
        return sum(ch.isalnum() for ch in text[span.start:span.end])

    def covers(a: Span, b: Span) -> bool:
        """`a` holds all of `b` and more of the value, or as much and surer (spaCy's LOCATION over a labelled
        insurance number, with or without the full stop after it, does not displace it)."""
        inside = a.start <= b.start and b.end <= a.end
        return inside and (size(a) > size(b) or (size(a) == size(b) and a.score > b.score))

    replaced = [m for m in main if start <= m.start and m.end <= end
                and any(clash(m, e) for e in extra) and all(covers(e, m) for e in extra if clash(m, e))]
    main = [m for m in main if m not in replaced]
    kept = [e for e in extra if not any(clash(e, m) for m in main)]
    return sorted(main + kept, key=lambda s: (s.start, s.end))


def _in_term(text: str, result: RecognizerResult, start: int, end: int, chinese: bool) -> bool:
    """The result lies inside an allowed term; or, for a Chinese term, a name or place made of a common word of two
    characters or more and a piece of the term: a tagger that reads '符合良' in '符合良性…' has cut two words. '张良'
    in '张良性格' stays (one character outside the term: a surname)."""
    if start <= result.start and result.end <= end:
        return True
    if not chinese or result.entity_type not in ("PERSON", "LOCATION") or result.end <= start or end <= result.start:
        return False
    outside = text[result.start:start] if result.start < start else text[end:result.end]
    return len(outside) >= 2 and common_word(outside)


def _clinical_phrase(entity: str, value: str, allowed: frozenset[str]) -> bool:
    """A result that is the domain's vocabulary, not a name: every word an allowed term ('Pt', 'neo gtt'; an
    initial before one does not count: 'S. pt'), or, for a person or place, allowed terms and dictionary words that
    are no listed name ('abd soft', 'cath lab')."""
    words = [w.lower().rstrip(".") for w in re.findall(r"[^\W_][\w/'-]*", value)]
    words = [w for w in words if len(w) > 1 and not w.isdigit()]
    if not words or not any(w in allowed for w in words):
        return False
    if all(w in allowed for w in words):
        return True
    names = name_lists()
    return entity in ("PERSON", "LOCATION") and all(
        w in allowed or not names.could_be_name(w)
        for w in words)


class Detector:
    """Finds PII/PHI spans. Build one per process: loading spaCy takes seconds, analysing a record milliseconds."""

    def __init__(self, settings: DetectorSettings | None = None, nlp_engine: NlpEngine | None = None) -> None:
        self.settings = settings or DetectorSettings()
        self.recognizer_specs = _specs(self.settings)
        registry = RecognizerRegistry(supported_languages=list(LANGUAGES))
        # recognizers with a `prepare_batch(texts)` see a whole batch first (a tagger runs over it at once)
        self._batch_aware: dict[str, list] = {language: [] for language in LANGUAGES}
        for spec in self.recognizer_specs:
            for language in spec.languages:
                built = spec.build(language)
                registry.add_recognizer(built)
                if hasattr(built, "prepare_batch"):
                    self._batch_aware[language].append(built)
        self._entities = {lang: self._entities_for(lang) for lang in LANGUAGES}
        # where English NER runs: a property of this detector, passed with each batch (an engine may be shared)
        self.ner_focus = focus_for(self._entities["en"], self.settings.ner)
        self.engine = AnalyzerEngine(registry=registry, nlp_engine=nlp_engine or build_nlp_engine(LANGUAGES),
                                     supported_languages=list(LANGUAGES),
                                     default_score_threshold=self.settings.threshold)
        self._allowed_terms = _term_pattern(self.settings.allow_list)
        # a text without Chinese skips the Chinese terms (a medical pack's titles: 2/3 of the scan of an English note)
        self._allowed_latin = _term_pattern([t for t in self.settings.allow_list if not _CJK_CHAR.search(t)])
        # single-word terms in any case ('Pt', 'PT', 'pt'): Presidio's own allow list matches exactly
        self._allowed_words = frozenset(t.strip().lower() for t in self.settings.allow_list if t.strip()
                                        and not re.search(r"\s", t.strip()))

    def _entities_for(self, language: str) -> list[str]:
        known = {e for spec in self.recognizer_specs if language in spec.languages for e in spec.entities}
        wanted = set(self.settings.entities) if self.settings.entities else known
        return sorted(known & wanted)

    def recognizer_versions(self) -> dict[str, str]:
        return recognizer_versions(self.settings)

    def analyze(self, text: str, language: str) -> list[Span]:
        return self.analyze_batch([text], language)[0]

    def analyze_batch(self, texts: Sequence[str], language: str, batch_size: int = 64) -> list[list[Span]]:
        """Analyse texts written mainly in `language`; spaCy runs once over the batch (`nlp.pipe`). Passages in the
        other script ("Patient John Smith, SSN …" inside a Chinese record, or 患者张伟 inside an English one) are
        analysed by that language's recognizers too, and their spans join the main pass's where they do not clash."""
        if language not in LANGUAGES:
            raise VerituneError(f"unsupported language {language!r}; veritune desensitizes {', '.join(LANGUAGES)}",
                                field="lang")
        spans = self._analyze_one_language(texts, language, batch_size)
        other = "zh" if language == "en" else "en"
        if not self._entities[other]:                    # no recognizer selected for the other language
            return spans
        segments = [(i, start, end) for i, text in enumerate(texts) for start, end in other_script_runs(text, other)]
        if segments:
            found = self._analyze_one_language([texts[i][start:end] for i, start, end in segments], other, batch_size)
            for (i, start, end), extra in zip(segments, found, strict=True):
                spans[i] = merge_spans(texts[i], spans[i], [Span(s.entity_type, s.start + start, s.end + start,
                                                                 s.score) for s in extra], (start, end))
        return spans

    def _analyze_one_language(self, texts: Sequence[str], language: str, batch_size: int) -> list[list[Span]]:
        nlp_engine = self.engine.nlp_engine
        focused = {"ner_focus": self.ner_focus} if isinstance(nlp_engine, PipelineNlpEngine) else {}
        artifacts = nlp_engine.process_batch(list(texts), language, batch_size=batch_size, **focused)
        for recognizer in self._batch_aware[language]:
            if set(recognizer.supported_entities) & set(self._entities[language]):   # no tagging for nothing
                recognizer.prepare_batch(list(texts))
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
        if self._allowed_words:
            results = [r for r in results if not _clinical_phrase(r.entity_type, text[r.start:r.end],
                                                                  self._allowed_words)]
        if self._allowed_terms is None:
            return results
        pattern = self._allowed_terms if _CJK_CHAR.search(text) else self._allowed_latin
        found = pattern.finditer(text) if pattern is not None else ()
        terms = [(m.start(), m.end(), bool(_CJK_CHAR.match(m.group()))) for m in found]
        return [r for r in results
                if not any(_in_term(text, r, start, end, chinese) for start, end, chinese in terms)]

    def _to_spans(self, text: str, results: list[RecognizerResult], language: str) -> list[Span]:
        common = self._is_common_word if language == "en" else None
        results = self._inside_allowed_terms(text, results)
        kept = resolve_overlaps(apply_rules(text, results, is_common_word=common))
        kept = resolve_overlaps(absorb_address_numbers(text, propagate_mentions(text, kept)))
        if language == "en":
            kept = resolve_overlaps(affiliations(text, coordinated_names(text, kept)))
            kept = resolve_overlaps(contact_card_employers(text, extend_address_blocks(text, kept)))
        return [Span(r.entity_type, r.start, r.end, round(r.score, 3)) for r in kept]
