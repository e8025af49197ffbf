from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest

from desensitize import DesensitizeConfig, desensitize_file, require_desensitized, verify_file
from tests.conftest import DOMAINS, run_cli
from veritune.errors import VerituneError
from veritune.hashing import sha256_file
from veritune.manifest import read_manifest
from veritune.synth import generate_records

RAW = [
    {"id": "a", "text": "Patient John Smith called from (415) 555-0132.", "ward": 3},
    {"id": "b", "text": "患者张伟，手机13912345678。", "tags": ["zh"]},
    {"id": "c", "text": ""},
    {"id": "d", "text": "No identifiers in this sentence."},
]


def write_jsonl(path: Path, rows: list, extra_lines: tuple[bytes, ...] = ()) -> Path:
    with open(path, "wb") as handle:
        for row in rows:
            handle.write(json.dumps(row, ensure_ascii=False).encode() + b"\n")
        for line in extra_lines:
            handle.write(line + b"\n")
    return path


def read(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def test_round_trip_keeps_other_fields_and_order(tmp_path: Path) -> None:
    source = write_jsonl(tmp_path / "raw.jsonl", RAW)
    report = desensitize_file(source, tmp_path / "clean.jsonl", DesensitizeConfig(), show_progress=False)
    rows = read(tmp_path / "clean.jsonl")
    assert [r["id"] for r in rows] == ["a", "b", "c", "d"] and rows[0]["ward"] == 3 and rows[1]["tags"] == ["zh"]
    assert rows[0]["text"] == "Patient <PERSON_1> called from <PHONE_NUMBER_1>."
    assert rows[1]["text"] == "患者<PERSON_1>，手机<CN_PHONE_1>。"
    assert rows[3]["text"] == RAW[3]["text"] and rows[2]["text"] == ""
    assert report.records == 4 and report.empty == 1
    manifest = read_manifest(tmp_path / "clean.jsonl.manifest.json")
    assert manifest.desensitized and manifest.kind == "dataset"
    assert manifest.outputs[0].sha256 == sha256_file(tmp_path / "clean.jsonl")
    assert manifest.inputs[0].sha256 == sha256_file(source)
    assert manifest.stats["entities_by_type_and_language"] == {"CN_PHONE/zh": 1, "PERSON/en": 1, "PERSON/zh": 1,
                                                               "PHONE_NUMBER/en": 1}
    assert manifest.config["operator"] == "tag" and len(manifest.config["config_hash"]) == 16
    assert "cn_resident_id" in manifest.config["recognizers"]


def test_malformed_line_names_file_and_line(tmp_path: Path) -> None:
    source = write_jsonl(tmp_path / "raw.jsonl", RAW[:2], (b'{"id": "x", "text": "Jane Doe 555-0101"',))
    with pytest.raises(VerituneError) as info:
        desensitize_file(source, tmp_path / "clean.jsonl", DesensitizeConfig(), show_progress=False)
    assert "raw.jsonl:3" in str(info.value) and "malformed JSON" in str(info.value)
    assert "Jane" not in str(info.value)
    assert not (tmp_path / "clean.jsonl").exists() and not (tmp_path / "clean.jsonl.manifest.json").exists()


def test_skip_bad_sets_lines_aside_without_their_content(tmp_path: Path) -> None:
    bad = (b'{"id": "x", "text": "Jane Doe', b"\xff\xfe not utf-8 Jane Doe", b'{"id": "y"}', b'{"id": "z", "text": 5}',
           b'["a list"]')
    source = write_jsonl(tmp_path / "raw.jsonl", RAW, bad)
    report = desensitize_file(source, tmp_path / "clean.jsonl", DesensitizeConfig(skip_bad=True), show_progress=False)
    assert report.records == 4 and report.rejects == 5
    rejects = read(tmp_path / "clean.jsonl.rejects.jsonl")
    assert [r["line"] for r in rejects] == [5, 6, 7, 8, 9]
    assert [r["reason"].split(" (")[0] for r in rejects] == [
        "malformed JSON", "line is not UTF-8", "missing field 'text'",
        "field 'text' must be a string or a list of messages with string 'content'", "line is not a JSON object"]
    assert "Jane" not in (tmp_path / "clean.jsonl.rejects.jsonl").read_text()
    assert read_manifest(tmp_path / "clean.jsonl.manifest.json").stats["rejects"] == 5


def test_chat_messages_field(tmp_path: Path) -> None:
    rows = [{"id": "m", "messages": [{"role": "user", "content": "I am John Smith, call (415) 555-0132."},
                                     {"role": "assistant", "content": "Thank you, John Smith."}]}]
    source = write_jsonl(tmp_path / "sft.jsonl", rows)
    desensitize_file(source, tmp_path / "clean.jsonl", DesensitizeConfig(field="messages"), show_progress=False)
    out = read(tmp_path / "clean.jsonl")[0]
    assert [m["role"] for m in out["messages"]] == ["user", "assistant"]
    assert "John" not in json.dumps(out) and out["messages"][1]["content"] == "Thank you, <PERSON_1>."
    assert {s["message"] for s in out["desensitized_spans"]} == {0, 1}


def test_hf_dataset_in_and_out(tmp_path: Path) -> None:
    from datasets import Dataset, load_from_disk

    Dataset.from_list(RAW).save_to_disk(str(tmp_path / "raw_ds"))
    desensitize_file(tmp_path / "raw_ds", tmp_path / "clean_ds", DesensitizeConfig(), show_progress=False)
    clean = load_from_disk(str(tmp_path / "clean_ds"))
    assert clean["id"] == ["a", "b", "c", "d"] and "John" not in " ".join(clean["text"])
    assert require_desensitized(tmp_path / "clean_ds").desensitized
    assert sorted(p.name for p in tmp_path.iterdir()) == ["clean_ds", "raw_ds"]


def test_no_raw_values_in_logs(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    source = write_jsonl(tmp_path / "raw.jsonl", RAW)
    with caplog.at_level(logging.DEBUG):
        logging.getLogger("veritune").propagate = True
        try:
            desensitize_file(source, tmp_path / "clean.jsonl", DesensitizeConfig(), show_progress=False)
        finally:
            logging.getLogger("veritune").propagate = False
    logged = caplog.text + (tmp_path / "clean.jsonl.manifest.json").read_text()
    for value in ("John", "Smith", "555-0132", "张伟", "13912345678"):
        assert value not in logged


@pytest.mark.slow
def test_workers_give_the_same_output_as_one_process(tmp_path: Path) -> None:
    rows = generate_records(DOMAINS / "finance" / "raw_templates.yaml", 60, seed=5, domain="finance")
    source = write_jsonl(tmp_path / "raw.jsonl", rows)
    desensitize_file(source, tmp_path / "one.jsonl", DesensitizeConfig(batch_size=8), show_progress=False)
    desensitize_file(source, tmp_path / "two.jsonl", DesensitizeConfig(batch_size=8, workers=2), show_progress=False)
    assert (tmp_path / "one.jsonl").read_bytes() == (tmp_path / "two.jsonl").read_bytes()


@pytest.mark.parametrize("domain", ["medical", "finance"])
def test_pack_raw_records_come_out_clean(tmp_path: Path, domain: str) -> None:
    rows = generate_records(DOMAINS / domain / "raw_templates.yaml", 80, seed=11, domain=domain)
    source = write_jsonl(tmp_path / "raw.jsonl", rows)
    desensitize_file(source, tmp_path / "clean.jsonl", DesensitizeConfig(domain=domain), show_progress=False)
    clean = (tmp_path / "clean.jsonl").read_text(encoding="utf-8")
    leaked = [s["type"] for r in rows for s in r["pii"] if r["text"][s["start"]:s["end"]] in clean]
    assert len(leaked) <= 2, f"gold PII values survived, of types {leaked}"  # types only: no values in reports
    assert verify_file(tmp_path / "clean.jsonl").clean
    assert not verify_file(source, field_name="text").clean


def test_gate_refuses_unmanifested_and_changed_data(tmp_path: Path) -> None:
    raw = write_jsonl(tmp_path / "raw.jsonl", RAW)
    with pytest.raises(VerituneError, match="has no desensitization manifest.*--allow-raw"):
        require_desensitized(raw)
    assert require_desensitized(raw, allow_raw=True) is None
    desensitize_file(raw, tmp_path / "clean.jsonl", DesensitizeConfig(), show_progress=False)
    assert require_desensitized(tmp_path / "clean.jsonl").desensitized
    with open(tmp_path / "clean.jsonl", "a", encoding="utf-8") as handle:
        handle.write(json.dumps({"text": "Jane Roe 555-0101"}) + "\n")
    with pytest.raises(VerituneError, match="changed since it was desensitized"):
        require_desensitized(tmp_path / "clean.jsonl")


def test_cli_desensitize_and_verify(tmp_path: Path) -> None:
    raw = write_jsonl(tmp_path / "raw.jsonl", RAW)
    result = run_cli("desensitize", str(raw), "--out", str(tmp_path / "clean.jsonl"), "--domain", "medical")
    assert result.returncode == 0, result.stderr
    assert "PERSON" in result.stdout and "manifest:" in result.stdout
    verified = run_cli("desensitize", "verify", str(tmp_path / "clean.jsonl"))
    assert verified.returncode == 0 and "clean" in verified.stdout
    leaking = run_cli("desensitize", "verify", str(raw))
    assert leaking.returncode == 2 and "possible leaks" in leaking.stderr
    assert "John" not in leaking.stdout + leaking.stderr and "PERSON" in leaking.stdout


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--operator", "rot13"], r"\[operator\]: Input should be 'tag', 'mask', 'hash', 'encrypt' or 'pseudonym'"),
        (["--lang", "fr"], r"\[lang\]"),
        (["--domain", "legal"], r"no domain pack here"),
        (["--operator", "hash"], r"needs a secret"),
        (["ner=everywhere"], r"\[ner\]: Input should be 'focused' or 'full'"),
    ],
)
def test_cli_bad_options_are_one_line(tmp_path: Path, args: list[str], message: str) -> None:
    import re

    raw = write_jsonl(tmp_path / "raw.jsonl", RAW)
    result = run_cli("desensitize", str(raw), "--out", str(tmp_path / "clean.jsonl"), *args)
    assert result.returncode == 2 and re.search(message, result.stderr), result.stderr
    assert "Traceback" not in result.stderr and not (tmp_path / "clean.jsonl").exists()


def test_cli_ner_in_full_is_an_override_recorded_in_the_manifest(tmp_path: Path) -> None:
    raw = write_jsonl(tmp_path / "raw.jsonl", RAW)
    result = run_cli("desensitize", str(raw), "--out", str(tmp_path / "clean.jsonl"), "ner=full")
    assert result.returncode == 0, result.stderr
    assert read_manifest(tmp_path / "clean.jsonl.manifest.json").config["ner"] == "full"
    assert read(tmp_path / "clean.jsonl")[0]["text"] == "Patient <PERSON_1> called from <PHONE_NUMBER_1>."


def test_several_fields_are_one_document(tmp_path: Path) -> None:
    """Preference data: prompt, chosen and rejected are desensitized together, share tags, and verify clean."""
    rows = [{"id": "p1",
             "prompt": [{"role": "user", "content": "Maria Garcia and John Smith called from (415) 555-0132."}],
             "chosen": [{"role": "assistant", "content": "John Smith should call back."}],
             "rejected": "Maria Garcia should not."}]
    source = write_jsonl(tmp_path / "pairs.jsonl", rows)
    cfg = DesensitizeConfig(field="prompt,chosen,rejected", lang="en")
    desensitize_file(source, tmp_path / "clean.jsonl", cfg, show_progress=False)
    (out,) = read(tmp_path / "clean.jsonl")
    assert out["prompt"][0]["content"] == "<PERSON_1> and <PERSON_2> called from <PHONE_NUMBER_1>."
    assert out["chosen"][0]["content"] == "<PERSON_2> should call back."
    assert out["rejected"] == "<PERSON_1> should not."
    assert {span["field"] for span in out["desensitized_spans"]} == {"prompt", "chosen", "rejected"}
    assert verify_file(tmp_path / "clean.jsonl").clean                      # fields read from the manifest
    missing = write_jsonl(tmp_path / "missing.jsonl", [{"prompt": "hi", "chosen": "a"}])
    with pytest.raises(VerituneError, match="missing field 'rejected'"):
        desensitize_file(missing, tmp_path / "m.jsonl", cfg, show_progress=False)


def test_verify_names_the_field_of_a_leak(tmp_path: Path) -> None:
    path = write_jsonl(tmp_path / "pairs.jsonl", [{"prompt": "fine", "chosen": "ok", "rejected": "Call John Smith."}])
    report = verify_file(path, field_name="prompt,chosen,rejected")
    assert [(leak.field, leak.entity_type) for leak in report.leaks] == [("rejected", "PERSON")]


def test_cli_desensitizes_preference_pairs_and_verifies_them(tmp_path: Path) -> None:
    """The README's commands for DPO data: several fields in one run, then the strict rescan reads them all."""
    source = write_jsonl(tmp_path / "pairs.jsonl", [{"prompt": "Patient John Smith asks about 12 High Street.",
                                                     "chosen": "John Smith can park there.", "rejected": "No."}])
    done = run_cli("desensitize", str(source), "--out", str(tmp_path / "clean.jsonl"), "--field",
                   "prompt,chosen,rejected", "--lang", "en")
    assert done.returncode == 0, done.stderr
    (row,) = read(tmp_path / "clean.jsonl")
    assert row["chosen"] == "<PERSON_1> can park there." and "John" not in json.dumps(row)
    checked = run_cli("desensitize", "verify", str(tmp_path / "clean.jsonl"))
    assert checked.returncode == 0 and "clean" in checked.stdout


MIXED = [
    {"id": "m1", "text": "Patient John Smith, SSN 536-22-1234. 患者张伟，电话13812345678，胸痛两小时。"},
    {"id": "m2", "text": "患者张伟，电话13812345678。Referred by Dr. Alice Walker, phone (415) 555-0132."},
    {"id": "m3", "text": "Called Mary Johnson about 客户李娜 at 13912345678 today, no answer."},
]
MIXED_VALUES = ["John Smith", "536-22-1234", "张伟", "13812345678", "Alice Walker", "555-0132", "Mary Johnson",
                "李娜", "13912345678"]


def test_cli_desensitizes_and_verifies_mixed_english_and_chinese_records(tmp_path: Path) -> None:
    raw = write_jsonl(tmp_path / "mixed.jsonl", MIXED)
    result = run_cli("desensitize", str(raw), "--out", str(tmp_path / "clean.jsonl"))
    assert result.returncode == 0, result.stderr
    text = (tmp_path / "clean.jsonl").read_text(encoding="utf-8")
    assert not [value for value in MIXED_VALUES if value in text]
    assert run_cli("desensitize", "verify", str(tmp_path / "clean.jsonl")).returncode == 0
    leaking = run_cli("desensitize", "verify", str(raw))                   # verify reads both scripts too
    assert leaking.returncode == 2 and "PERSON" in leaking.stdout and "US_SSN" in leaking.stdout


def test_gate_refuses_a_file_dropped_into_a_desensitized_dataset_folder(tmp_path: Path) -> None:
    raw = write_jsonl(tmp_path / "raw.jsonl", RAW)
    folder = tmp_path / "clean_ds"
    desensitize_file(raw, folder, DesensitizeConfig(), show_progress=False)     # no .jsonl suffix: HF dataset
    assert require_desensitized(folder).desensitized
    (folder / "notes.txt").write_text("a note that never went through desensitization\n", encoding="utf-8")
    with pytest.raises(VerituneError, match="notes.txt is in the folder but not in its manifest"):
        require_desensitized(folder)
    assert require_desensitized(folder, allow_raw=True) is None


def test_gate_refuses_a_manifest_copied_and_edited_for_another_file(tmp_path: Path) -> None:
    raw = write_jsonl(tmp_path / "raw.jsonl", RAW)
    desensitize_file(raw, tmp_path / "clean.jsonl", DesensitizeConfig(), show_progress=False)
    other = write_jsonl(tmp_path / "other.jsonl", [{"id": "x", "text": "unreviewed text"}])
    manifest = json.loads((tmp_path / "clean.jsonl.manifest.json").read_text(encoding="utf-8"))
    manifest["outputs"][0].update(path=other.name, sha256=sha256_file(other), bytes=other.stat().st_size)
    (tmp_path / "other.jsonl.manifest.json").write_text(json.dumps(manifest), encoding="utf-8")
    with pytest.raises(VerituneError, match="signature does not verify.*--allow-raw"):
        require_desensitized(other)


def test_an_index_records_that_raw_data_went_in(tmp_path: Path) -> None:
    from retrieval import build_index

    docs = write_jsonl(tmp_path / "docs.jsonl", [{"id": "d1", "text": "Chest pain with sweating needs an ECG."}])
    folder = build_index(docs, tmp_path / "index", allow_raw=True)
    assert read_manifest(folder / "manifest.json").stats["allow_raw"] is True


@pytest.mark.parametrize(("key", "value", "message"), [
    ("recognizers", ["cn_persn"], "unknown recognizer 'cn_persn'; did you mean 'cn_person'?"),
    ("entities", ["PERSON", "MEDICAL_RECORD_NUMBR"], "no recognizer finds entity type 'MEDICAL_RECORD_NUMBR'; did you "
                                                  "mean 'MEDICAL_RECORD_NUMBER'?"),
])
def test_a_packs_unknown_names_fail_before_spacy_loads(tmp_path: Path, key: str, value: list[str],
                                                       message: str) -> None:
    import shutil

    import yaml

    from desensitize import detector_settings

    shutil.copytree(DOMAINS / "medical", tmp_path / "medical")
    pack_file = tmp_path / "medical" / "pack.yaml"
    spec = yaml.safe_load(pack_file.read_text(encoding="utf-8"))
    pack_file.write_text(yaml.safe_dump({**spec, key: value}), encoding="utf-8")
    with pytest.raises(VerituneError) as caught:
        detector_settings(DesensitizeConfig(domain="medical"), tmp_path)
    assert caught.value.path == str(pack_file) and caught.value.field == key
    assert message in str(caught.value)
