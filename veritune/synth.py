"""Seeded synthetic raw records with fake PII, for the desensitization stage's demo, tests and benchmarks.

A pack's `raw_templates` YAML holds templates per language with `{placeholders}`; each PII placeholder is filled
by a provider below (Faker en_US / zh_CN plus check-digit-correct Chinese identifiers) and its span recorded as
gold, so recall can be measured. Non-PII `fillers` (symptoms, products) give the text variety.
"""

from __future__ import annotations

import random
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from faker import Faker

from veritune.checksums import USCC_CHARSET, cn_id_check_char, luhn_check_digit, uscc_check_char
from veritune.config import read_yaml
from veritune.errors import VerituneError
from veritune.registry import Registry


@dataclass
class Fakers:
    rng: random.Random
    en: Faker
    zh: Faker


Provider = Callable[[Fakers], str]
# placeholder name -> (entity type, provider)
PII_PROVIDERS: Registry[tuple[str, Provider]] = Registry("PII placeholder")


def provider(name: str, entity: str) -> Callable[[Provider], Provider]:
    def decorate(fn: Provider) -> Provider:
        PII_PROVIDERS.add(name, (entity, fn))
        return fn

    return decorate


def _digits(rng: random.Random, n: int) -> str:
    return "".join(rng.choice("0123456789") for _ in range(n))


@provider("person", "PERSON")
def _person(f: Fakers) -> str:
    return f.en.name()


@provider("phone", "PHONE_NUMBER")
def _phone(f: Fakers) -> str:
    a, b, c = f.rng.randint(201, 989), f.rng.randint(200, 999), _digits(f.rng, 4)
    return f.rng.choice([f"({a}) {b}-{c}", f"{a}-{b}-{c}", f"+1 {a} {b} {c}", f"{a}.{b}.{c}"])


@provider("email", "EMAIL_ADDRESS")
def _email(f: Fakers) -> str:
    return f.en.email()


@provider("ssn", "US_SSN")
def _ssn(f: Fakers) -> str:
    return f.en.ssn()


@provider("address", "LOCATION")
def _address(f: Fakers) -> str:
    return f"{f.en.street_address()}, {f.en.city()}, {f.en.state_abbr()} {f.en.zipcode()}"


@provider("date", "DATE_TIME")
def _date(f: Fakers) -> str:
    day = f.en.date_between(start_date="-80y", end_date="today")
    return f.rng.choice([day.strftime("%m/%d/%Y"), day.strftime("%B %d, %Y"), day.isoformat()])


@provider("mrn", "MEDICAL_RECORD_NUMBER")
def _mrn(f: Fakers) -> str:
    return f.rng.choice(["", "#"]) + _digits(f.rng, 7)  # templates carry the MRN label


@provider("credit_card", "CREDIT_CARD")
def _card(f: Fakers) -> str:
    return f.en.credit_card_number(card_type=f.rng.choice(["visa16", "mastercard"]))


@provider("iban", "IBAN_CODE")
def _iban(f: Fakers) -> str:
    return f.en.iban()


@provider("zh_person", "PERSON")
def _zh_person(f: Fakers) -> str:
    return f.zh.name()


@provider("cn_id", "CN_RESIDENT_ID")
def _cn_id(f: Fakers) -> str:
    area = f.rng.choice(["110101", "310104", "440305", "510107", "330106", "420102", "610113", "371329"])
    birth = f.zh.date_between(start_date="-90y", end_date="-1y").strftime("%Y%m%d")
    first17 = area + birth + _digits(f.rng, 3)
    return first17 + cn_id_check_char(first17)


@provider("cn_mobile", "CN_PHONE")
def _cn_mobile(f: Fakers) -> str:
    number = f.rng.choice(["13", "15", "17", "18", "19"]) + _digits(f.rng, 9)
    style = f.rng.randrange(4)
    if style == 1:
        return f"+86 {number}"
    if style == 2:
        return f"{number[:3]} {number[3:7]} {number[7:]}"
    if style == 3:
        return f"{number[:3]}-{number[3:7]}-{number[7:]}"
    return number


@provider("cn_landline", "CN_PHONE")
def _cn_landline(f: Fakers) -> str:
    area = f.rng.choice(["010", "021", "020", "0755", "028", "0571"])
    local = str(f.rng.randint(2, 9)) + _digits(f.rng, 7 if len(area) == 3 else 6)  # local numbers start 2-9
    return f.rng.choice([f"{area}-{local}", f"({area}){local}"])


@provider("zh_address", "LOCATION")
def _zh_address(f: Fakers) -> str:
    return f.zh.province() + f.zh.city() + f.zh.district() + "区" + f.zh.street_name() + f"{f.rng.randint(1, 999)}号"


@provider("cn_bank_card", "CN_BANK_CARD")
def _cn_bank_card(f: Fakers) -> str:
    length = f.rng.choice([16, 19])
    partial = "62" + _digits(f.rng, length - 3)
    number = partial + luhn_check_digit(partial)
    if f.rng.random() < 0.4:
        return " ".join(number[i:i + 4] for i in range(0, len(number), 4))
    return number


@provider("uscc", "CN_USCC")
def _uscc(f: Fakers) -> str:
    head = f.rng.choice(["91", "92", "93", "11", "12"]) + "".join(f.rng.choice("123456789") for _ in range(6))
    first17 = head + "".join(f.rng.choice(USCC_CHARSET) for _ in range(9))
    return first17 + uscc_check_char(first17)


@provider("cn_passport", "CN_PASSPORT")
def _cn_passport(f: Fakers) -> str:
    return f.rng.choice(["E", "G"]) + _digits(f.rng, 8)


@provider("cn_record_no", "MEDICAL_RECORD_NUMBER")
def _cn_record_no(f: Fakers) -> str:
    return _digits(f.rng, f.rng.choice([6, 8, 10]))


@provider("cn_insurance_no", "INSURANCE_NUMBER")
def _cn_insurance_no(f: Fakers) -> str:
    return f.rng.choice(["", "YB"]) + _digits(f.rng, 12)


@provider("zh_company", "ORGANIZATION")
def _zh_company(f: Fakers) -> str:
    return f.zh.company()


@provider("company", "ORGANIZATION")
def _company(f: Fakers) -> str:
    return f.en.company()


_PLACEHOLDER = re.compile(r"\{([a-z_]+)\}")


def _render(template: str, fillers: dict[str, list[str]], fakers: Fakers) -> tuple[str, list[dict[str, Any]]]:
    parts: list[str] = []
    spans: list[dict[str, Any]] = []
    cursor = 0
    length = 0
    for match in _PLACEHOLDER.finditer(template):
        literal = template[cursor:match.start()]
        parts.append(literal)
        length += len(literal)
        name = match.group(1)
        if name in fillers:
            value = fakers.rng.choice(fillers[name])
        else:
            entity, fill = PII_PROVIDERS.get(name)
            value = fill(fakers)
            spans.append({"type": entity, "start": length, "end": length + len(value)})
        parts.append(value)
        length += len(value)
        cursor = match.end()
    parts.append(template[cursor:])
    return "".join(parts), spans


def generate_records(templates_file: str | Path, count: int, seed: int, domain: str) -> list[dict[str, Any]]:
    """`count` records alternating over the template languages; the same seed gives the same records."""
    spec = read_yaml(Path(templates_file))
    templates: dict[str, list[str]] = spec.get("templates") or {}
    fillers: dict[str, list[str]] = spec.get("fillers") or {}
    if not templates or not all(isinstance(v, list) and v for v in templates.values()):
        raise VerituneError("needs a non-empty list of templates per language", path=templates_file,
                            field="templates")
    rng = random.Random(seed)
    en, zh = Faker("en_US"), Faker("zh_CN")
    en.seed_instance(seed)
    zh.seed_instance(seed + 1)
    fakers = Fakers(rng=rng, en=en, zh=zh)
    languages = sorted(templates)
    records = []
    for index in range(count):
        lang = languages[index % len(languages)]
        text, spans = _render(rng.choice(templates[lang]), fillers, fakers)
        records.append({"id": f"{domain}-raw-{index:05d}", "lang": lang, "domain": domain, "text": text,
                        "pii": spans})
    return records
