"""Registries of the desensitize stage: recognizers (by name) and operators (by name).

A recognizer entry is a factory `(language) -> presidio EntityRecognizer`; domain packs add their own by naming
them in `pack.yaml` under `recognizers`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from presidio_analyzer import EntityRecognizer

from veritune.registry import Registry


@dataclass(frozen=True)
class RecognizerSpec:
    name: str
    entities: tuple[str, ...]
    languages: tuple[str, ...]
    version: str
    factory: Callable[[str], EntityRecognizer]


RECOGNIZERS: Registry[RecognizerSpec] = Registry("recognizer")


def recognizer(name: str, entities: tuple[str, ...], languages: tuple[str, ...], version: str = "1"):
    """Register a factory `(language) -> EntityRecognizer` under `name`."""

    def decorate(factory: Callable[[str], EntityRecognizer]) -> Callable[[str], EntityRecognizer]:
        RECOGNIZERS.add(name, RecognizerSpec(name, entities, languages, version, factory))
        return factory

    return decorate
