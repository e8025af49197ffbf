from __future__ import annotations

import re
from pathlib import Path

import pytest

from desensitize import OPERATORS, decrypt_text
from desensitize.vault import PseudonymVault
from veritune.errors import VerituneError

TEXT = "Patient John Smith (MRN 1234567) called from (415) 555-0132. John Smith lives at 12 High Street."
ZH = "患者张伟，身份证号11010519491231002X，手机13912345678。家属李娜电话13812345678，张伟同意。"


@pytest.fixture(scope="module")
def spans(detector):
    return {"en": detector.analyze(TEXT, "en"), "zh": detector.analyze(ZH, "zh")}


def test_tag_is_typed_and_consistent_within_a_document(spans) -> None:
    out, replaced = OPERATORS.get("tag")().apply(TEXT, spans["en"], "en")
    assert out == ("Patient <PERSON_1> (MRN <MEDICAL_RECORD_NUMBER_1>) called from <PHONE_NUMBER_1>. <PERSON_1> "
                   "lives at <LOCATION_1>.")
    assert [out[r.start:r.end] for r in replaced][:2] == ["<PERSON_1>", "<MEDICAL_RECORD_NUMBER_1>"]
    zh, _ = OPERATORS.get("tag")().apply(ZH, spans["zh"], "zh")
    assert zh == ("患者<PERSON_1>，身份证号<CN_RESIDENT_ID_1>，手机<CN_PHONE_1>。家属<PERSON_2>电话<CN_PHONE_2>，"
                  "<PERSON_1>同意。")


def test_the_messages_of_a_record_share_their_tags(detector) -> None:
    """A chat is one document: the person the user named second is <PERSON_2> in the reply too, not <PERSON_1>
    (which would teach a model to confuse two people)."""
    from desensitize import DesensitizeConfig
    from desensitize.records import RecordDesensitizer

    record = {"messages": [{"role": "user", "content": "Maria Garcia and John Smith came in."},
                           {"role": "assistant", "content": "John Smith should call us; Maria Garcia need not."}]}
    desensitizer = RecordDesensitizer(DesensitizeConfig(field="messages", lang="en"), detector=detector)
    (out, _), = desensitizer.process([record])
    assert [m["content"] for m in out["messages"]] == ["<PERSON_1> and <PERSON_2> came in.",
                                                       "<PERSON_2> should call us; <PERSON_1> need not."]


def test_mask_keeps_length(spans) -> None:
    out, _ = OPERATORS.get("mask")().apply(TEXT, spans["en"], "en")
    assert len(out) == len(TEXT) and "John" not in out and "**********" in out


def test_hash_links_equal_values_and_depends_on_the_salt(spans) -> None:
    first, _ = OPERATORS.get("hash")("salt-a").apply(TEXT, spans["en"], "en")
    digests = re.findall(r"<PERSON:([0-9a-f]{16})>", first)
    assert len(digests) == 2 and digests[0] == digests[1]
    other, _ = OPERATORS.get("hash")("salt-b").apply(TEXT, spans["en"], "en")
    assert re.findall(r"<PERSON:([0-9a-f]{16})>", other)[0] != digests[0]


def test_encrypt_round_trips_with_presidio_deanonymize(spans) -> None:
    out, replaced = OPERATORS.get("encrypt")("my secret").apply(ZH, spans["zh"], "zh")
    assert "张伟" not in out and "13912345678" not in out
    assert decrypt_text(out, replaced, "my secret") == ZH
    with pytest.raises(Exception):  # noqa: B017 - the wrong key must not decrypt
        assert decrypt_text(out, replaced, "wrong") != ZH


def test_pseudonyms_are_consistent_across_documents_and_runs(tmp_path: Path, spans) -> None:
    operator = OPERATORS.get("pseudonym")("vault key", tmp_path / "v.sqlite")
    first, replaced = operator.apply(ZH, spans["zh"], "zh")
    again, _ = operator.apply(ZH, spans["zh"], "zh")
    assert first == again and "张伟" not in first and "11010519491231002X" not in first
    names = [first[r.start:r.end] for r in replaced if r.entity_type == "PERSON"]
    assert names[0] == names[2] != names[1]  # 张伟 twice -> the same pseudonym; 李娜 -> another
    reopened = OPERATORS.get("pseudonym")("vault key", tmp_path / "v.sqlite")
    assert reopened.apply(ZH, spans["zh"], "zh")[0] == first
    assert reopened.vault.reveal("PERSON", names[0]) == "张伟"


def test_vault_refuses_the_wrong_key(tmp_path: Path) -> None:
    PseudonymVault(tmp_path / "v.sqlite", "right").close()
    with pytest.raises(VerituneError, match="different key"):
        PseudonymVault(tmp_path / "v.sqlite", "wrong")


def test_vault_never_stores_values_in_clear(tmp_path: Path) -> None:
    vault = PseudonymVault(tmp_path / "v.sqlite", "k")
    vault.pseudonym("PERSON", "Zhang Wei Secretname", lambda rng: f"P{rng.randrange(10**6)}")
    vault.close()
    raw = b"".join(p.read_bytes() for p in tmp_path.iterdir())
    assert b"Secretname" not in raw


def test_vault_resolves_collisions(tmp_path: Path) -> None:
    """Five people, a generator with only eight names: every person still gets a different pseudonym."""
    vault = PseudonymVault(tmp_path / "v.sqlite", "k")
    pool = [f"Name{i}" for i in range(8)]
    given = {vault.pseudonym("PERSON", f"person {i}", lambda rng: rng.choice(pool)) for i in range(5)}
    assert len(given) == 5 and vault.collisions > 0 and vault.size() == 5
    overflow = {vault.pseudonym("PERSON", f"person {i}", lambda rng: "Same") for i in range(5, 8)}
    assert len(overflow) == 3  # past the draws, a suffix keeps them apart


def test_keyed_operators_need_a_secret(monkeypatch: pytest.MonkeyPatch) -> None:
    from desensitize import DesensitizeConfig
    from desensitize.records import build_operator

    monkeypatch.delenv("VERITUNE_HASH_SALT", raising=False)
    with pytest.raises(VerituneError, match="--key-file FILE or set VERITUNE_HASH_SALT"):
        build_operator(DesensitizeConfig(operator="hash"))
