"""Desensitization stage: find PII/PHI in English and Chinese text with Presidio, replace it, prove nothing leaked.

Public API (loaded on first use): the names in `__all__` — configuration (`DesensitizeConfig`), detection
(`Detector`, `RECOGNIZERS`, `detect_language`), replacement (`RecordDesensitizer`, `desensitize_file`, `OPERATORS`),
proof (`verify_file`, `scan_text`, `strict_detector`) and the gate later stages call (`require_desensitized`).
"""

import os

# tldextract (used by Presidio's e-mail and URL recognizers) fetches the public suffix list when its module-level
# extractor is built; an empty URL list keeps it on its bundled snapshot. Must be set before Presidio is imported.
os.environ.setdefault("TLDEXTRACT_PUBLIC_SUFFIX_LIST_URLS", "")

import logging  # noqa: E402

# Presidio logs analysed text and operator inputs at DEBUG: keep its loggers quiet whatever the root level is, so
# no raw value reaches a log even when a user turns on debug logging.
for _name in ("presidio-analyzer", "presidio-anonymizer"):
    logging.getLogger(_name).setLevel(logging.WARNING)

from veritune.lazy import lazy_exports  # noqa: E402

# Public API -> defining module. Loaded on first use: spaCy and Presidio take seconds to import, and the CLI
# validates options (desensitize.config) before it needs them.
_EXPORTS = {
    "DesensitizeConfig": "desensitize.config", "Detector": "desensitize.detector",
    "DetectorSettings": "desensitize.detector", "Span": "desensitize.detector",
    "require_desensitized": "desensitize.gate", "OPERATORS": "desensitize.operators",
    "decrypt_text": "desensitize.operators", "DesensitizeReport": "desensitize.pipeline",
    "desensitize_file": "desensitize.pipeline", "RecordDesensitizer": "desensitize.records",
    "RECOGNIZERS": "desensitize.recognizers", "VerifyReport": "desensitize.verify", "verify_file": "desensitize.verify",
    "detect_language": "desensitize.lang", "detector_settings": "desensitize.records",
    "split_fields": "desensitize.config", "build_nlp_engine": "desensitize.nlp", "scan_text": "desensitize.verify",
    "strict_detector": "desensitize.verify", "STRICT_THRESHOLD": "desensitize.verify",
}
__all__ = sorted(_EXPORTS)


__getattr__ = lazy_exports(_EXPORTS)
