"""Building blocks shared by the recognizers in this folder."""

from __future__ import annotations

import functools
import re
from collections.abc import Callable
from types import ModuleType

from desensitize.presidio_api import LocalRecognizer, NlpArtifacts, Pattern, PatternRecognizer, RecognizerResult

# `\b` does not work next to Chinese characters (they are word characters): use explicit lookarounds.
NO_ALNUM_BEFORE = r"(?<![0-9A-Za-z])"
NO_ALNUM_AFTER = r"(?![0-9A-Za-z])"
NO_DIGIT_BEFORE = r"(?<![0-9])"
NO_DIGIT_AFTER = r"(?![0-9])"


class ChecksumPatternRecognizer(PatternRecognizer):
    """A pattern whose matches are dropped when `is_valid` fails; a valid match keeps its base score, so a
    checksum alone (1 in 10 random numbers pass Luhn) needs context words to cross the threshold."""

    def __init__(self, entity: str, patterns: list[Pattern], context: list[str], language: str,
                 is_valid: Callable[[str], bool], name: str) -> None:
        super().__init__(supported_entity=entity, patterns=patterns, context=context, supported_language=language,
                         name=name)
        self._is_valid = is_valid

    def invalidate_result(self, pattern_text: str) -> bool:
        return not self._is_valid(pattern_text)


class LabeledValueRecognizer(LocalRecognizer):
    """Finds `label ... value` and reports only the value, e.g. 住院号：123456. The value is the first named group
    whose name starts with `value` that took part in the match (alternatives may use value, value2, ...)."""

    def __init__(self, entity: str, regex: str, score: float, language: str, name: str, flags: int = 0) -> None:
        self._regex = re.compile(regex, flags)
        self._score = score
        super().__init__(supported_entities=[entity], supported_language=language, name=name)

    def load(self) -> None:
        return None

    def analyze(self, text: str, entities: list[str], nlp_artifacts: NlpArtifacts | None = None
                ) -> list[RecognizerResult]:
        entity = self.supported_entities[0]
        if entities and entity not in entities:
            return []
        results = []
        for match in self._regex.finditer(text):
            group = next(name for name, value in match.groupdict().items()
                         if name.startswith("value") and value is not None)
            results.append(RecognizerResult(entity, match.start(group), match.end(group), self._score))
        return results


class TextRecognizer(LocalRecognizer):
    """A recognizer of one entity written as code rather than patterns: subclasses implement `find(text)`."""

    def __init__(self, entity: str, language: str, name: str) -> None:
        super().__init__(supported_entities=[entity], supported_language=language, name=name)

    def load(self) -> None:
        return None

    def analyze(self, text: str, entities: list[str], nlp_artifacts: NlpArtifacts | None = None
                ) -> list[RecognizerResult]:
        if entities and self.supported_entities[0] not in entities:
            return []
        return self.find(text)

    def find(self, text: str) -> list[RecognizerResult]:
        raise NotImplementedError

    def result(self, start: int, end: int, score: float) -> RecognizerResult:
        return RecognizerResult(self.supported_entities[0], start, end, score,
                                recognition_metadata={"recognizer_name": self.name})


# A name in Han characters, a foreign one with its middle dot inside: 克里斯托弗·诺兰.
HAN_NAME = r"[\u4e00-\u9fa5][\u4e00-\u9fa5·•]*[\u4e00-\u9fa5]"


def word_frequency(word: str) -> int:
    """How often jieba's dictionary counts `word` (0 when unlisted). The counts load with the dictionary, which
    jieba otherwise reads only on its first cut."""
    import jieba

    jieba.dt.check_initialized()
    return jieba.dt.FREQ.get(word) or 0


@functools.lru_cache(maxsize=256)   # asked by several recognizers for each record in turn
def tagged_words(text: str) -> tuple[tuple[str, str], ...]:
    """(word, part-of-speech flag) of `text` as jieba's tagger cuts it. cn_person, cn_place_name and cn_named_place
    all read the same cut: computed once a record, it had been three times (two thirds of the Chinese detector's
    time went to jieba's tagger)."""
    return tuple((word, flag) for word, flag in jieba_tagger().cut(text))


@functools.lru_cache(maxsize=256)
def tagged_spans(text: str) -> tuple[tuple[int, int, str, str], ...]:
    """(start, end, word, flag) of each word of `tagged_words(text)`: the offsets cn_person, cn_address and
    cn_ner_model read the cut by."""
    spans, offset = [], 0
    for word, flag in tagged_words(text):
        spans.append((offset, offset + len(word), word, flag))
        offset += len(word)
    return tuple(spans)


def words_in(text: str, start: int, end: int) -> list[tuple[int, int, str, str]]:
    """The words of `tagged_spans(text)` that overlap text[start:end], with their own (unclipped) offsets."""
    return [span for span in tagged_spans(text) if span[1] > start and span[0] < end]


def jieba_tagger() -> ModuleType:
    """jieba's part-of-speech tagger (`jieba.posseg`), imported on the first Chinese text: importing it parses a
    350k-word tag table (about 0.6 s) and jieba loads its dictionary on first use (about 1.2 s), which English-only
    runs never pay."""
    import jieba.posseg

    return jieba.posseg
