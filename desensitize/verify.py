"""`veritune desensitize verify OUT`: an independent, stricter rescan of desensitized output.

Stricter than the main pass: every recognizer and entity type, a lower threshold, and plain regexes for every
structured identifier (no checksums, no context words). Replacements recorded in `desensitized_spans` are blanked
first; anything found is counted per type and reported by line and offsets, never by value. A finding that
overlaps a replacement ("Miss <PERSON_1> DVM", "IBAN <IBAN_CODE_1>") is the replaced entity seen with its titles
or labels and is counted apart as `adjacent`, not as a leak (limitation: a first name left beside a replaced
surname would be counted there too).
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from desensitize.config import DesensitizeConfig, split_fields
from desensitize.detector import Detector, DetectorSettings
from desensitize.lang import detect_language
from desensitize.records import SPANS_FIELD, texts_of
from veritune.errors import VerituneError
from veritune.jsonl import iter_jsonl
from veritune.manifest import manifest_path_for, read_manifest

STRICT_THRESHOLD = 0.35
# Plain shapes, deliberately loose: a hit here that the main pass let through is worth a look.
STRUCTURED_PATTERNS: dict[str, re.Pattern[str]] = {
    "EMAIL_ADDRESS": re.compile(r"[\w.+-]+@[\w-]+\.[A-Za-z]{2,}"),
    "US_SSN": re.compile(r"(?<!\d)\d{3}-\d{2}-\d{4}(?!\d)"),
    "CN_RESIDENT_ID": re.compile(r"(?<![0-9A-Za-z])\d{17}[\dXx](?![0-9A-Za-z])"),
    "CN_PHONE": re.compile(r"(?<!\d)(?:\+?86[\s-]?)?1[3-9]\d[\s-]?\d{4}[\s-]?\d{4}(?!\d)"),
    "PHONE_NUMBER": re.compile(r"(?<![\d/.])\(?[2-9]\d{2}\)?[\s.-]\d{3}[\s.-]\d{4}(?![\d/])"),
    "CARD_NUMBER": re.compile(r"(?<!\d)\d{4}(?:[ -]?\d{4}){2}[ -]?\d{1,7}(?!\d)"),
    "IBAN_CODE": re.compile(r"(?<![A-Za-z0-9])[A-Z]{2}\d{2}[A-Z0-9]{11,30}(?![A-Za-z0-9])"),
    "IP_ADDRESS": re.compile(r"(?<![\d.])(?:\d{1,3}\.){3}\d{1,3}(?![\d.])"),
    "CN_USCC": re.compile(r"(?<![0-9A-Za-z])[0-9A-HJ-NPQRTUWXY]{2}\d{6}[0-9A-HJ-NPQRTUWXY]{10}(?![0-9A-Za-z])"),
}


@dataclass
class Leak:
    line: int
    entity_type: str
    start: int
    end: int
    message: int | None = None
    field: str | None = None    # when several fields were desensitized together


@dataclass
class VerifyReport:
    path: Path
    records: int = 0
    leaks: list[Leak] = field(default_factory=list)
    adjacent: int = 0

    def counts(self) -> dict[str, int]:
        return dict(sorted(Counter(leak.entity_type for leak in self.leaks).items()))

    @property
    def clean(self) -> bool:
        return not self.leaks


def _blank(text: str, spans: Iterable[dict[str, Any]]) -> str:
    chars = list(text)
    for span in spans:
        chars[span["start"]:span["end"]] = " " * (span["end"] - span["start"])
    return "".join(chars)


def strict_detector(allow_list: Iterable[str] = ()) -> Detector:
    """Every entity at the strict threshold, spaCy's NER on every token (the proof is worth a slower pass)."""
    return Detector(DetectorSettings(threshold=STRICT_THRESHOLD, allow_list=list(allow_list), ner="full"))


def scan_text(text: str, detector: Detector, language: str | None = None) -> list[tuple[str, int, int]]:
    """(type, start, end) of everything the strict pass finds in `text`."""
    found = [(s.entity_type, s.start, s.end) for s in detector.analyze(text, language or detect_language(text))]
    for entity, pattern in STRUCTURED_PATTERNS.items():
        found += [(entity, m.start(), m.end()) for m in pattern.finditer(text)]
    return found


def verify_file(path: str | Path, detector: Detector | None = None, field_name: str | None = None) -> VerifyReport:
    path = Path(path)
    manifest_file = manifest_path_for(path)
    manifest = read_manifest(manifest_file) if manifest_file.is_file() else None
    field_name = field_name or (manifest.config.get("field") if manifest else None) or "text"
    if detector is None:
        from desensitize.records import detector_settings

        domain = manifest.config.get("domain") if manifest else None
        allow = detector_settings(DesensitizeConfig(domain=domain)).allow_list if domain else ()
        detector = strict_detector(allow)
    report = VerifyReport(path=path)
    fields = split_fields(field_name)
    for number, record in iter_jsonl(path):
        report.records += 1
        spans = record.get(SPANS_FIELD, [])
        for name in fields:
            if name not in record:
                raise VerituneError(f"missing field '{name}'", path=path, line=number, field=name)
            value = record[name]
            for index, text in enumerate(texts_of(value)):
                own = [s for s in spans if s.get("message", 0) == index and s.get("field", fields[0]) == name]
                for entity, start, end in scan_text(_blank(text, own), detector):
                    if any(start < s["end"] and end > s["start"] for s in own):
                        report.adjacent += 1
                        continue
                    report.leaks.append(Leak(number, entity, start, end, None if isinstance(value, str) else index,
                                             name if len(fields) > 1 else None))
    return report
