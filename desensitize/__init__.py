"""Desensitization stage: find PII/PHI in English and Chinese text with Presidio, replace it, prove nothing leaked.

Public API: `Detector`, `DetectorSettings`, `OPERATORS`, `RECOGNIZERS`, `DesensitizeConfig`, `desensitize_file`,
`desensitize_records`, `desensitize_text`, `verify_file`, `require_desensitized`.
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

from desensitize.config import DesensitizeConfig  # noqa: E402
from desensitize.detector import Detector, DetectorSettings, Span  # noqa: E402
from desensitize.gate import require_desensitized  # noqa: E402
from desensitize.operators import OPERATORS, decrypt_text  # noqa: E402
from desensitize.pipeline import DesensitizeReport, desensitize_file  # noqa: E402
from desensitize.records import RecordDesensitizer  # noqa: E402
from desensitize.registry import RECOGNIZERS  # noqa: E402
from desensitize.verify import VerifyReport, verify_file  # noqa: E402

__all__ = ["OPERATORS", "RECOGNIZERS", "DesensitizeConfig", "DesensitizeReport", "Detector", "DetectorSettings",
           "RecordDesensitizer", "Span", "VerifyReport", "decrypt_text", "desensitize_file", "require_desensitized",
           "verify_file"]
