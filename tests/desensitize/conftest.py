from __future__ import annotations

import pytest

from desensitize import Detector, DetectorSettings


@pytest.fixture(scope="session")
def detector() -> Detector:
    return Detector()


@pytest.fixture(scope="session")
def only():
    """A detector restricted to one recognizer, cached per name (the spaCy pipelines are shared)."""
    cache: dict[str, Detector] = {}

    def build(name: str) -> Detector:
        if name not in cache:
            cache[name] = Detector(DetectorSettings(recognizers=[name]))
        return cache[name]

    return build


def found(detector: Detector, text: str, lang: str) -> list[tuple[str, str]]:
    return [(s.entity_type, text[s.start:s.end]) for s in detector.analyze(text, lang)]
