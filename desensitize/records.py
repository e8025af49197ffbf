"""Desensitizing records in memory: the pure function that the file pipeline, worker processes, the apps and a
cluster engine (a Ray Data `map_batches`, a Spark `mapPartitions`) all call."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any

from desensitize.config import DesensitizeConfig
from desensitize.detector import Detector, DetectorSettings
from desensitize.keys import load_secret
from desensitize.lang import detect_language
from desensitize.operators import OPERATORS, DocumentState, Operator
from desensitize.registry import RECOGNIZERS
from veritune.errors import VerituneError, nearest_hint
from veritune.packs import PACK_FILE, load_pack

SPANS_FIELD = "desensitized_spans"  # offsets of replacements in the output (never values)


def texts_of(value: str | list[dict[str, Any]]) -> list[str]:
    """The texts of a desensitized field: the string itself, or the `content` of each chat message."""
    return [value] if isinstance(value, str) else [message["content"] for message in value]


def detector_settings(cfg: DesensitizeConfig, domains_root: Path | None = None) -> DetectorSettings:
    if cfg.domain is None:
        return DetectorSettings(threshold=cfg.threshold, ner=cfg.ner)
    pack = load_pack(cfg.domain, domains_root)
    allow = [row["title"] for row in pack.kb_records() if row.get("title")]  # the domain's own vocabulary
    if pack.spec.allow_list:
        lines = pack.path(pack.spec.allow_list).read_text(encoding="utf-8").splitlines()
        allow += [line.strip() for line in lines if line.strip() and not line.startswith("#")]
    settings = DetectorSettings(entities=pack.spec.entities, threshold=cfg.threshold, allow_list=allow,
                                extra_recognizers=pack.spec.recognizers, ner=cfg.ner)
    _check_pack_names(settings, pack.root / PACK_FILE)
    return settings


def _check_pack_names(settings: DetectorSettings, pack_file: Path) -> None:
    """A pack's recognizer and entity names, checked before spaCy loads: a misspelt entity type would otherwise
    detect nothing, silently."""
    for name in settings.extra_recognizers:
        RECOGNIZERS.get(name, path=pack_file, field="recognizers")
    known = sorted({e for name in RECOGNIZERS.names() for e in RECOGNIZERS.get(name).entities})
    for entity in settings.entities or ():
        if entity not in known:
            raise VerituneError(f"no recognizer finds entity type '{entity}'{nearest_hint(entity, known)}",
                                path=pack_file, field="entities")


def build_operator(cfg: DesensitizeConfig, default_vault: Path | None = None) -> Operator:
    factory = OPERATORS.get(cfg.operator)
    if cfg.operator in ("tag", "mask"):
        return factory()
    secret = load_secret(cfg.operator, Path(cfg.key_file) if cfg.key_file else None)
    if cfg.operator == "pseudonym":
        vault = Path(cfg.vault) if cfg.vault else default_vault
        if vault is None:
            raise VerituneError("the pseudonym operator needs a vault path", field="vault")
        return factory(secret, vault)
    return factory(secret)


class RecordDesensitizer:
    """Detector + operator, built once (loading spaCy takes seconds), applied to many records."""

    def __init__(self, cfg: DesensitizeConfig, detector: Detector | None = None, operator: Operator | None = None,
                 domains_root: Path | None = None, default_vault: Path | None = None) -> None:
        self.cfg = cfg
        self.detector = detector or Detector(detector_settings(cfg, domains_root))
        self.operator = operator or build_operator(cfg, default_vault)

    def process(self, records: Sequence[dict[str, Any]]) -> list[tuple[dict[str, Any], Counter]]:
        """Desensitize `records` (validated: each field is a string or a list of messages). One spaCy pass per
        language over the whole batch; the texts of one record (its fields, their messages) are one document."""
        fields = self.cfg.fields
        units = [(i, name, j, text) for i, record in enumerate(records) for name in fields
                 for j, text in enumerate(texts_of(record[name]))]
        languages = [self.cfg.lang if self.cfg.lang != "auto" else detect_language(unit[3]) for unit in units]
        spans: list[list] = [[] for _ in units]
        for language in set(languages):
            picked = [k for k, lang in enumerate(languages) if lang == language]
            found = self.detector.analyze_batch([units[k][3] for k in picked], language, self.cfg.batch_size)
            for k, result in zip(picked, found, strict=True):
                spans[k] = result
        outputs = [(dict(record), Counter()) for record in records]
        new_texts: dict[tuple[int, str, int], str] = {}
        replaced_by_record: dict[int, list[dict[str, Any]]] = {i: [] for i in range(len(records))}
        documents = [DocumentState() for _ in records]  # one record is one document: its texts share tags
        for (i, name, j, text), language, unit_spans in zip(units, languages, spans, strict=True):
            new_text, replaced = self.operator.apply(text, unit_spans, language, documents[i])
            new_texts[(i, name, j)] = new_text
            counts = outputs[i][1]
            for item in replaced:
                counts[(item.entity_type, language)] += 1
                entry = asdict(item)
                if len(fields) > 1:
                    entry["field"] = name
                if not isinstance(records[i][name], str):
                    entry["message"] = j
                replaced_by_record[i].append(entry)
        for i, (record, _) in enumerate(outputs):
            for name in fields:
                original = records[i][name]
                if isinstance(original, str):
                    record[name] = new_texts[(i, name, 0)]
                else:
                    record[name] = [{**m, "content": new_texts[(i, name, j)]} for j, m in enumerate(original)]
            record[SPANS_FIELD] = replaced_by_record[i]
        return outputs


def validate_record(record: Any, fields: str | Sequence[str]) -> str | None:
    """Why a parsed line cannot be desensitized, or None. The reason never quotes the record's content."""
    if not isinstance(record, dict):
        return "line is not a JSON object"
    for field in [fields] if isinstance(fields, str) else fields:
        if field not in record:
            return f"missing field '{field}'"
        value = record[field]
        if isinstance(value, list) and all(isinstance(m, dict) and isinstance(m.get("content"), str) for m in value):
            continue
        if not isinstance(value, str):
            return f"field '{field}' must be a string or a list of messages with string 'content'"
    return None
