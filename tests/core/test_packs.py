import importlib.util
import json
import re
import shutil
from collections import Counter
from pathlib import Path

import pytest
import yaml

from tests.conftest import DOMAINS
from veritune.errors import VerituneError
from veritune.jsonl import read_jsonl
from veritune.packs import list_packs, load_all_packs, load_pack


def test_both_packs_load_and_hold_the_promised_content() -> None:
    packs = {pack.name: pack for pack in load_all_packs()}
    assert set(packs) >= {"medical", "finance"}
    medical = list(packs["medical"].kb_records())
    finance = list(packs["finance"].kb_records())
    assert len(medical) >= 150 and len(finance) >= 120
    for records in (medical, finance):
        assert Counter(r["lang"] for r in records).keys() == {"en", "zh"}
        ids = [r["id"] for r in records]
        assert len(ids) == len(set(ids)), "knowledge-base ids must be unique"
        assert all(r["text"].strip() and r["title"].strip() for r in records)
    assert Counter(r["doc_type"] for r in medical).keys() == {"condition", "drug"}
    assert {r["severity"] for r in finance} <= {"low", "medium", "high", "critical"}
    assert len({r["category"] for r in finance}) >= 9


@pytest.mark.parametrize("name", ["medical", "finance"])
def test_generated_files_are_up_to_date_with_the_sources(name: str, tmp_path: Path) -> None:
    spec = importlib.util.spec_from_file_location(f"make_{name}", DOMAINS / name / "make_data.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    module.main(tmp_path)
    for generated in tmp_path.rglob("*.jsonl"):
        committed = DOMAINS / name / generated.relative_to(tmp_path)
        assert committed.read_bytes() == generated.read_bytes(), f"{committed} is stale: run make_data.py"


@pytest.mark.parametrize(("name", "task", "at_least"),
                         [("medical", "qa_rag", 100), ("medical", "triage_rag", 80), ("finance", "rule_qa_rag", 100)])
def test_grounded_sft_rows_use_the_answer_paths_prompt(name: str, task: str, at_least: int) -> None:
    """The apps and the eval's lora+rag system ask through `GROUNDED_QA`; SFT rows that teach grounded answers
    must be in that very prompt, or the adapter meets a format at serving time it never saw."""
    from retrieval import GROUNDED_QA

    spec = importlib.util.spec_from_file_location(f"make_{name}_prompt", DOMAINS / name / "make_data.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    assert {lang: t.replace("{question}", "{input}") for lang, t in module.RAG_PROMPT.items()} == GROUNDED_QA.templates
    rows = [r for r in read_jsonl(load_pack(name).sft_files()["train"]) if r["task"] == task]
    assert len(rows) >= at_least
    for row in rows:
        user, answer = (m["content"] for m in row["messages"])
        evidence = re.findall(r"^\[(\d+)\] \((\S+)\) ", user, flags=re.MULTILINE)
        assert len(evidence) >= 3 and re.search(r"\[(\d+)\][.。]$", answer), row["id"]
        cited = re.search(r"\[(\d+)\][.。]$", answer).group(1)
        assert cited in {n for n, _ in evidence}, row["id"]


@pytest.mark.parametrize("name", ["medical", "finance"])
def test_eval_sets_are_kept_apart_from_sft(name: str) -> None:
    pack = load_pack(name)
    sft_text = "\n".join(m["content"] for f in pack.sft_files().values() for r in read_jsonl(f)
                         for m in r["messages"])
    sft_text += "\n".join(m["content"] for f in pack.preference_files().values() for r in read_jsonl(f)
                          for part in ("prompt", "chosen", "rejected") for m in r[part])
    for eval_name, path in pack.eval_files().items():
        for row in read_jsonl(path):
            item = row.get("question") or row.get("document")
            assert item not in sft_text, f"{eval_name} {row['id']} appears in the SFT data"
            if not row.get("seen_in_training", True):
                assert all(e not in sft_text for e in row.get("evidence_ids", [])), row["id"]
            answer = row.get("answer")
            if isinstance(answer, str) and "label" not in row:  # free-text gold answers, not label names
                assert answer not in sft_text, f"{eval_name} {row['id']}: its gold answer appears in the SFT data"


def test_sft_is_in_messages_format_and_cites_evidence() -> None:
    for pack in load_all_packs():
        rows = read_jsonl(pack.sft_files()["train"])
        assert len(rows) >= 300
        for row in rows:
            roles = [m["role"] for m in row["messages"]]
            assert roles == ["user", "assistant"], row["id"]
        answers = [r["messages"][-1]["content"] for r in rows]
        clean = ("Findings: none.\nRisk level: low.", "发现问题：无。\n风险等级：低。")
        with_findings = [a for a in answers if a not in clean]
        cited = [a for a in with_findings if re.search(r"(MED|FIN)-[A-Z]*-?\d{3}-(EN|ZH)|\[\d+\]", a)]
        assert len(cited) == len(with_findings), set(with_findings) - set(cited)


@pytest.mark.parametrize("name", ["medical", "finance"])
def test_preference_pairs_differ_only_in_the_answer(name: str) -> None:
    """DPO pairs: a user prompt with numbered evidence, one assistant answer each; the chosen one cites it."""
    rows = read_jsonl(load_pack(name).preference_files()["train"])
    assert len(rows) >= 100
    for row in rows:
        assert [m["role"] for m in row["prompt"]] == ["user"] and "[1]" in row["prompt"][0]["content"], row["id"]
        chosen, rejected = row["chosen"][0]["content"], row["rejected"][0]["content"]
        assert chosen != rejected and re.search(r"\[\d\]", chosen), row["id"]


def _copy_pack(tmp_path: Path, name: str = "legal") -> Path:
    root = tmp_path / "domains"
    pack = root / name
    pack.mkdir(parents=True)
    (pack / "kb.jsonl").write_text(json.dumps({"id": "L1", "title": "Contracts", "lang": "en",
                                               "text": "A contract needs offer and acceptance."}) + "\n")
    (pack / "sft.jsonl").write_text(json.dumps({"id": "s1", "messages": [
        {"role": "user", "content": "What does a contract need?"},
        {"role": "assistant", "content": "Offer and acceptance [L1]."}]}) + "\n")
    (pack / "eval.jsonl").write_text(json.dumps({"id": "e1", "question": "Is silence acceptance?"}) + "\n")
    (pack / "raw.yaml").write_text("templates:\n  en: ['Client {person} called from {phone}.']\n")
    (pack / "pack.yaml").write_text(yaml.safe_dump({
        "name": name, "version": 1, "description": "a tiny third domain", "languages": ["en"],
        "knowledge_base": "kb.jsonl", "raw_templates": "raw.yaml", "sft": {"train": "sft.jsonl"},
        "eval_sets": {"qa": "eval.jsonl"}, "entities": ["PERSON", "PHONE_NUMBER"]}))
    return root


def test_a_third_domain_is_just_a_folder(tmp_path: Path) -> None:
    root = _copy_pack(tmp_path)
    assert list_packs(root) == ["legal"]
    pack = load_pack("legal", root)
    assert [r["id"] for r in pack.kb_records()] == ["L1"]
    assert "Offer and acceptance [L1]." in list(pack.corpus_texts())


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (lambda d: d.update(knowledge_base="missing.jsonl"), r"pack\.yaml \[knowledge_base\]: names missing"),
        (lambda d: d["eval_sets"].update(gone="gone.jsonl"), r"\[eval_sets\.gone\]"),
        (lambda d: d.update(languages=["fr"]), r"\[languages\.0\]"),
        (lambda d: d.update(knowledge_bas="kb.jsonl"), r"unknown key 'knowledge_bas'; did you mean 'knowledge_base'"),
        (lambda d: d.pop("entities"), r"\[entities\]: Field required"),
    ],
)
def test_bad_pack_yaml_is_one_clear_error(tmp_path: Path, edit, message: str) -> None:
    root = _copy_pack(tmp_path)
    pack_file = root / "legal" / "pack.yaml"
    data = yaml.safe_load(pack_file.read_text())
    edit(data)
    pack_file.write_text(yaml.safe_dump(data))
    with pytest.raises(VerituneError, match=message):
        load_pack("legal", root)


def test_malformed_pack_yaml(tmp_path: Path) -> None:
    root = _copy_pack(tmp_path)
    (root / "legal" / "pack.yaml").write_text("name: legal\n  bad: [indent\n")
    with pytest.raises(VerituneError, match=r"pack\.yaml:\d+: not valid YAML"):
        load_pack("legal", root)


def test_unknown_pack_lists_the_known_ones(tmp_path: Path) -> None:
    root = _copy_pack(tmp_path)
    with pytest.raises(VerituneError, match="known packs: legal"):
        load_pack("nope", root)


def test_bad_jsonl_line_names_file_and_line(tmp_path: Path) -> None:
    root = _copy_pack(tmp_path)
    kb = root / "legal" / "kb.jsonl"
    kb.write_text(kb.read_text() + "{broken\n")
    pack = load_pack("legal", root)
    with pytest.raises(VerituneError, match=r"kb\.jsonl:2: malformed JSON"):
        list(pack.kb_records())
    shutil.rmtree(root)
