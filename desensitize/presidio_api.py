"""Presidio's analyzer names, imported without torch and transformers.

Why: `presidio_analyzer` imports its optional Hugging Face NER engine at import time, which imports transformers and
torch when they are installed (veritune installs both for fine-tuning): about 9 of the 12 s a one-line
`veritune desensitize` took on the 2-core reference machine. Veritune never uses that engine (spaCy's small models
and our recognizers do the work), so while Presidio is imported here both packages are marked absent, the way
Python marks a failed import; Presidio then takes its documented no-transformers path (`is_available()` is False,
the device detector answers "cpu", which the spaCy engine wants anyway). Nothing is hidden when a package is
already imported (the apps and the eval load models first), and the marks are removed right after, so a later
`import torch` works. Every desensitize module imports Presidio's analyzer from here (a test checks).
"""

from __future__ import annotations

import sys

_HIDDEN = tuple(name for name in ("transformers", "torch") if name not in sys.modules)
for _name in _HIDDEN:
    sys.modules[_name] = None  # type: ignore[assignment]  # `import torch` now raises ImportError
try:
    from presidio_analyzer import (
        AnalyzerEngine,
        EntityRecognizer,
        LocalRecognizer,
        Pattern,
        PatternRecognizer,
        RecognizerRegistry,
        RecognizerResult,
    )
    from presidio_analyzer.nlp_engine import NerModelConfiguration, NlpArtifacts, NlpEngine, SpacyNlpEngine
    from presidio_analyzer.predefined_recognizers import (
        CreditCardRecognizer,
        DateRecognizer,
        EmailRecognizer,
        IbanRecognizer,
        IpRecognizer,
        PhoneRecognizer,
        SpacyRecognizer,
        UrlRecognizer,
        UsSsnRecognizer,
    )
finally:
    for _name in _HIDDEN:
        if sys.modules.get(_name) is None:
            sys.modules.pop(_name, None)

__all__ = ["AnalyzerEngine", "CreditCardRecognizer", "DateRecognizer", "EmailRecognizer", "EntityRecognizer",
           "IbanRecognizer", "IpRecognizer", "LocalRecognizer", "NerModelConfiguration", "NlpArtifacts", "NlpEngine",
           "Pattern", "PatternRecognizer", "PhoneRecognizer", "RecognizerRegistry", "RecognizerResult",
           "SpacyNlpEngine", "SpacyRecognizer", "UrlRecognizer", "UsSsnRecognizer"]
