"""Registries of the desensitize stage: recognizers (by name) and operators (by name).

A recognizer entry is a factory `(language) -> presidio EntityRecognizer`; domain packs add their own by naming
them in `pack.yaml` under `recognizers`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from desensitize.presidio_api import EntityRecognizer
from veritune.registry import Registry


@dataclass(frozen=True)
class RecognizerSpec:
    """A registered recognizer: its name (its file's stem, and the name its results carry), what it finds, and what
    the post-filters need to know about it (declared here, never inferred from a class name)."""

    name: str
    entities: tuple[str, ...]
    languages: tuple[str, ...]
    version: str
    factory: Callable[[str], EntityRecognizer]
    case_aware: bool = False        # reads all-lower-case records on purpose: the capitalisation rules spare it
    list_confirmed: bool = False    # a list (gazetteer) confirms each match: the shape rules spare it
    statistical: bool = False       # a statistical NER model (spaCy): its organisations are double-checked
    labelled: bool = False          # a label or cue word right before each match confirms it: shape rules spare it

    def build(self, language: str) -> EntityRecognizer:
        """The recognizer for `language`, named after its registry entry (the name its results carry)."""
        built = self.factory(language)
        built.name = self.name
        return built


RECOGNIZERS: Registry[RecognizerSpec] = Registry("recognizer")


def recognizer(name: str, entities: tuple[str, ...], languages: tuple[str, ...], version: str = "1", *,
               case_aware: bool = False, list_confirmed: bool = False, statistical: bool = False,
               labelled: bool = False):
    """Register a factory `(language) -> EntityRecognizer` under `name`."""

    def decorate(factory: Callable[[str], EntityRecognizer]) -> Callable[[str], EntityRecognizer]:
        RECOGNIZERS.add(name, RecognizerSpec(name, entities, languages, version, factory, case_aware, list_confirmed,
                                             statistical, labelled))
        return factory

    return decorate


def spec_of(result_metadata: dict | None) -> RecognizerSpec | None:
    """The registry entry whose recognizer produced a result (None: a filter or layout rule added it)."""
    name = (result_metadata or {}).get("recognizer_name")
    return RECOGNIZERS.get(name) if name in RECOGNIZERS else None
