"""Operators: what replaces a detected entity. Each runs through Presidio's AnonymizerEngine.

- tag: typed tags, `<PERSON_1>`; the same value gets the same tag within a document (a record: all the messages
  of a chat, all the fields desensitized together).
- mask: every character of the value becomes `*` (length kept).
- hash: `<PERSON:3f2a...>`, an HMAC-SHA256 with a secret salt: equal values link across documents, but cannot
  be reversed or guessed by hashing candidate names without the salt.
- encrypt: AES (Presidio's encrypt operator) with a key kept outside the data; `decrypt_text` reverses it with
  Presidio's DeanonymizeEngine.
- pseudonym: realistic fake values, consistent across the corpus through a key-protected vault.
"""

from __future__ import annotations

import hashlib
import hmac
import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from faker import Faker
from presidio_anonymizer import AnonymizerEngine, DeanonymizeEngine
from presidio_anonymizer.entities import OperatorConfig, OperatorResult, RecognizerResult

from desensitize.detector import Span
from desensitize.keys import aes_key
from desensitize.vault import PseudonymVault
from veritune.registry import Registry
from veritune.synth import PII_PROVIDERS, Fakers


@dataclass(frozen=True)
class Replaced:
    """One replacement in the output text: its type and offsets (never the original value)."""

    entity_type: str
    start: int
    end: int


@dataclass
class DocumentState:
    """What one record's texts share while they are replaced: the tag numbers given so far."""

    tag_numbers: dict[tuple[str, str], int] = field(default_factory=dict)
    tag_counts: dict[str, int] = field(default_factory=dict)


class Operator(Protocol):
    name: str

    def apply(self, text: str, spans: Sequence[Span], language: str, document: DocumentState | None = None
              ) -> tuple[str, list[Replaced]]: ...


OPERATORS: Registry[Callable[..., Operator]] = Registry("operator")
_ENGINE = AnonymizerEngine()


def _run(text: str, spans: Sequence[Span], configs: dict[str, OperatorConfig]) -> tuple[str, list[Replaced]]:
    if not spans:
        return text, []
    results = [RecognizerResult(s.entity_type, s.start, s.end, s.score) for s in spans]
    out = _ENGINE.anonymize(text=text, analyzer_results=results, operators=configs)
    replaced = [Replaced(i.entity_type, i.start, i.end) for i in out.items]
    return out.text, sorted(replaced, key=lambda r: r.start)


def _per_type(spans: Sequence[Span], make: Callable[[str], OperatorConfig]) -> dict[str, OperatorConfig]:
    return {entity: make(entity) for entity in {s.entity_type for s in spans}}


@OPERATORS.register("tag")
class TagOperator:
    name = "tag"

    def apply(self, text: str, spans: Sequence[Span], language: str, document: DocumentState | None = None
              ) -> tuple[str, list[Replaced]]:
        state = document if document is not None else DocumentState()
        numbers, counts = state.tag_numbers, state.tag_counts

        def tag(entity: str) -> OperatorConfig:
            def number(value: str) -> str:
                key = (entity, value.strip().lower())
                if key not in numbers:
                    counts[entity] = counts.get(entity, 0) + 1
                    numbers[key] = counts[entity]
                return f"<{entity}_{numbers[key]}>"

            return OperatorConfig("custom", {"lambda": number})

        # number in reading order: Presidio replaces right to left, so pre-assign from the left
        for span in spans:
            tag(span.entity_type).params["lambda"](text[span.start:span.end])
        return _run(text, spans, _per_type(spans, tag))


@OPERATORS.register("mask")
class MaskOperator:
    name = "mask"

    def apply(self, text: str, spans: Sequence[Span], language: str, document: DocumentState | None = None
              ) -> tuple[str, list[Replaced]]:
        config = OperatorConfig("mask", {"masking_char": "*", "chars_to_mask": 10_000, "from_end": False})
        return _run(text, spans, {s.entity_type: config for s in spans})


@OPERATORS.register("hash")
class HashOperator:
    name = "hash"

    def __init__(self, secret: str) -> None:
        self._salt = secret.encode()

    def digest(self, entity: str, value: str) -> str:
        return hmac.new(self._salt, f"{entity}\x00{value.strip()}".encode(), hashlib.sha256).hexdigest()[:16]

    def apply(self, text: str, spans: Sequence[Span], language: str, document: DocumentState | None = None
              ) -> tuple[str, list[Replaced]]:
        def make(entity: str) -> OperatorConfig:
            return OperatorConfig("custom", {"lambda": lambda value: f"<{entity}:{self.digest(entity, value)}>"})

        return _run(text, spans, _per_type(spans, make))


@OPERATORS.register("encrypt")
class EncryptOperator:
    name = "encrypt"

    def __init__(self, secret: str) -> None:
        self._key = aes_key(secret)

    def apply(self, text: str, spans: Sequence[Span], language: str, document: DocumentState | None = None
              ) -> tuple[str, list[Replaced]]:
        config = OperatorConfig("encrypt", {"key": self._key})
        return _run(text, spans, {s.entity_type: config for s in spans})


def decrypt_text(text: str, replaced: Sequence[Replaced], secret: str) -> str:
    """Reverse `encrypt` for the key holder, with Presidio's DeanonymizeEngine."""
    items = [OperatorResult(start=r.start, end=r.end, entity_type=r.entity_type) for r in replaced]
    config = OperatorConfig("decrypt", {"key": aes_key(secret)})
    return DeanonymizeEngine().deanonymize(text=text, entities=items,
                                           operators={r.entity_type: config for r in replaced}).text


# entity type -> synthetic provider (veritune.synth) per language, for realistic pseudonyms
PSEUDONYM_PROVIDERS: dict[str, dict[str, str]] = {
    "PERSON": {"en": "person", "zh": "zh_person"},
    "LOCATION": {"en": "address", "zh": "zh_address"},
    "ORGANIZATION": {"en": "company", "zh": "zh_company"},
    "MEDICAL_RECORD_NUMBER": {"en": "mrn", "zh": "cn_record_no"},
    "PHONE_NUMBER": {"en": "phone", "zh": "phone"}, "EMAIL_ADDRESS": {"en": "email", "zh": "email"},
    "US_SSN": {"en": "ssn"}, "DATE_TIME": {"en": "date", "zh": "date"},
    "CREDIT_CARD": {"en": "credit_card", "zh": "credit_card"}, "IBAN_CODE": {"en": "iban", "zh": "iban"},
    "CN_RESIDENT_ID": {"en": "cn_id", "zh": "cn_id"}, "CN_PHONE": {"en": "cn_mobile", "zh": "cn_mobile"},
    "CN_BANK_CARD": {"en": "cn_bank_card", "zh": "cn_bank_card"}, "CN_USCC": {"en": "uscc", "zh": "uscc"},
    "CN_PASSPORT": {"en": "cn_passport", "zh": "cn_passport"},
    "INSURANCE_NUMBER": {"en": "cn_insurance_no", "zh": "cn_insurance_no"},
}


@OPERATORS.register("pseudonym")
class PseudonymOperator:
    name = "pseudonym"

    def __init__(self, secret: str, vault_path: Path) -> None:
        self.vault = PseudonymVault(vault_path, secret)
        self._fakers = Fakers(rng=random.Random(0), en=Faker("en_US"), zh=Faker("zh_CN"))

    def _generator(self, entity: str, language: str) -> Callable[[random.Random], str]:
        provider_name = PSEUDONYM_PROVIDERS.get(entity, {}).get(language)

        def generate(rng: random.Random) -> str:
            if provider_name is None:  # no realistic form (AGE, NRP, URL, ...): an opaque label
                return f"<{entity}_{rng.getrandbits(32):08x}>"
            seed = rng.getrandbits(64)
            self._fakers.rng.seed(seed)
            self._fakers.en.seed_instance(seed)
            self._fakers.zh.seed_instance(seed)
            return PII_PROVIDERS.get(provider_name)[1](self._fakers)

        return generate

    def apply(self, text: str, spans: Sequence[Span], language: str, document: DocumentState | None = None
              ) -> tuple[str, list[Replaced]]:
        def make(entity: str) -> OperatorConfig:
            generate = self._generator(entity, language)
            return OperatorConfig("custom", {"lambda": lambda value: self.vault.pseudonym(entity, value.strip(),
                                                                                          generate)})

        return _run(text, spans, _per_type(spans, make))
