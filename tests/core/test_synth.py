from pathlib import Path

import pytest

from tests.conftest import DOMAINS
from veritune.checksums import cn_id_valid, luhn_valid, uscc_valid
from veritune.errors import VerituneError
from veritune.synth import PII_PROVIDERS, generate_records

VALIDATORS = {
    "CN_RESIDENT_ID": cn_id_valid,
    "CN_USCC": uscc_valid,
    "CN_BANK_CARD": lambda v: luhn_valid(v.replace(" ", "")) and v.startswith("62"),
}


@pytest.mark.parametrize("domain", ["medical", "finance"])
def test_records_are_seeded_and_spans_point_at_pii(domain: str) -> None:
    templates = DOMAINS / domain / "raw_templates.yaml"
    first = generate_records(templates, 40, seed=3, domain=domain)
    assert first == generate_records(templates, 40, seed=3, domain=domain)
    assert first != generate_records(templates, 40, seed=4, domain=domain)
    assert {r["lang"] for r in first} == {"en", "zh"}
    for record in first:
        assert record["pii"], record["id"]
        for span in record["pii"]:
            value = record["text"][span["start"]:span["end"]]
            assert value.strip() == value and value
            check = VALIDATORS.get(span["type"])
            assert check is None or check(value), (span["type"], record["id"])


def test_every_provider_yields_text() -> None:
    import random

    from faker import Faker

    from veritune.synth import Fakers

    fakers = Fakers(rng=random.Random(0), en=Faker("en_US"), zh=Faker("zh_CN"))
    for name in PII_PROVIDERS.names():
        entity, provide = PII_PROVIDERS.get(name)
        assert provide(fakers).strip(), name
        assert entity.isupper()


def test_unknown_placeholder_is_a_clear_error(tmp_path: Path) -> None:
    templates = tmp_path / "t.yaml"
    templates.write_text("templates:\n  en: ['hello {nonsense}']\n")
    with pytest.raises(VerituneError, match="unknown PII placeholder 'nonsense'"):
        generate_records(templates, 1, 0, "x")


def test_missing_templates_is_a_clear_error(tmp_path: Path) -> None:
    templates = tmp_path / "t.yaml"
    templates.write_text("fillers: {}\n")
    with pytest.raises(VerituneError, match=r"\[templates\]"):
        generate_records(templates, 1, 0, "x")
