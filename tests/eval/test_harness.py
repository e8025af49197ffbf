from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from desensitize import DesensitizeConfig
from eval.tasks import get_task, load_task
from tests.conftest import DOMAINS, train_tiny_adapter
from veritune.errors import VerituneError
from veritune.jsonl import read_jsonl


def test_unknown_task_names_the_nearest() -> None:
    with pytest.raises(VerituneError, match="unknown task 'medical_triag'; did you mean 'medical_triage'"):
        get_task("medical_triag")


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (lambda t: t.pop("metrics"), r"task\.yaml \[metrics\]: Field required"),
        (lambda t: t.update(output="essay"), r"\[output\]"),
        (lambda t: t.update(promt={}), r"unknown key 'promt'; did you mean 'prompt'"),
        (lambda t: t.update(retriever="per_sentense"), r"\[retriever\]: .*did you mean 'per_sentence'"),
    ],
)
def test_bad_task_yaml(tmp_path: Path, edit, message: str) -> None:
    spec = yaml.safe_load((DOMAINS / "medical/tasks/medical_qa.yaml").read_text())
    edit(spec)
    path = tmp_path / "task.yaml"
    path.write_text(yaml.safe_dump(spec))
    with pytest.raises(VerituneError, match=message):
        load_task(path)


def test_item_without_gold_is_a_clear_error(tmp_path: Path) -> None:
    spec = yaml.safe_load((DOMAINS / "medical/tasks/medical_qa.yaml").read_text())
    (tmp_path / "data.jsonl").write_text('{"question": "q1", "answer": "a"}\n{"question": "q2"}\n')
    spec["dataset"] = "data.jsonl"
    (tmp_path / "task.yaml").write_text(yaml.safe_dump(spec))
    with pytest.raises(VerituneError, match=r"data\.jsonl:2 \[answer\]: item without its 'answer' field"):
        load_task(tmp_path / "task.yaml").items()


def test_label_reading_and_cited_ids() -> None:
    triage = get_task("medical_triage")
    assert triage.read_label("Department: Cardiology. This fits ...") == "cardiology"
    assert triage.read_label("就诊科室：神经内科。") == "neurology"
    assert triage.read_label("First-line management: rest") == ""  # 'ent' inside a word is no department
    assert triage.read_label("Department: Otolaryngology (ENT).") == "ent"
    compliance = get_task("finance_compliance")
    assert compliance.cited("- FIN-AML-001-EN (high) ... FIN-KYC-002-ZH") == ["FIN-AML-001-EN", "FIN-KYC-002-ZH"]
    listed = ["FIN-AML-004-EN", "FIN-KYC-001-EN"]
    # an id without its language suffix cites the listed rule of that number; one not listed stays as written
    assert compliance.cited("- FIN-AML-004 (high) [2]: \"...\"\n- FIN-MKT-009 (low)", listed) == [
        "FIN-AML-004-EN", "FIN-KYC-001-EN", "FIN-MKT-009"]
    assert compliance.cited("发现问题：\n- FIN-KYC-003-ZH（高）[9]：“……”") == ["FIN-KYC-003-ZH"]
    assert compliance.cited("FIN-AML-004-ENX FIN-AML-004-") == []
    limited = triage.items(limit=6)
    assert {row["lang"] for row in limited} == {"en", "zh"} and len(limited) == 6


@pytest.fixture(scope="module")
def adapter_run(tiny_base: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return train_tiny_adapter(tiny_base, tmp_path_factory.mktemp("eval_ft"),
                              read_jsonl(DOMAINS / "medical/sft/train.jsonl")[:24])


def test_base_checks_each_domains_answers_against_that_domains_index(tiny_base: Path) -> None:
    """base has no adapter and no retrieval, so one model answers every domain's tasks; its answers are checked
    against the evidence of their own domain (a run used to keep the first domain's index for all of them)."""
    from eval.harness import EvalConfig, _local_system, _speed
    from finetune.inference import load_for_inference

    config = EvalConfig(tasks=["finance_rule_qa", "medical_qa"], model=str(tiny_base), systems=["base"],
                        indexes={"finance": "finance-index", "medical": "medical-index"})
    indexes = {"finance-index": "the finance index", "medical-index": "the medical index"}   # loaded once per run
    loaded, systems = {None: load_for_inference(str(tiny_base))}, {}
    finance = _local_system(config, "base", "finance", loaded, systems, None, indexes)
    medical = _local_system(config, "base", "medical", loaded, systems, None, indexes)
    assert (finance.evidence, medical.evidence) == ("the finance index", "the medical index")
    assert finance.answerer.model is medical.answerer.model and finance.answerer.index is None
    assert _local_system(config, "base", "medical", loaded, systems, None, indexes) is medical
    assert list(_speed(systems)) == ["base"]          # the speed figures still add up per model


def test_three_systems_end_to_end(tiny_base: Path, adapter_run: Path, tmp_path: Path) -> None:
    from eval.harness import EvalConfig, SharedRetrieval, eval_progress, run_eval
    from retrieval import build_index

    index = build_index(DOMAINS / "medical/kb/kb.jsonl", tmp_path / "index", allow_raw=True)
    config = EvalConfig(tasks=["medical_triage", "medical_qa"], model=str(tiny_base),
                        adapters={"medical": str(adapter_run)}, indexes={"medical": str(index)}, limit=4)
    progress, retrieval = eval_progress(), SharedRetrieval()
    out = run_eval(config, tmp_path / "eval", progress=progress, retrieval=retrieval)
    (bar,) = progress.tasks
    assert bar.total == bar.completed == 2 * 3 * 4     # every answer counted: tasks x systems x items
    assert retrieval.searches == 2 * 4   # each item searched once: lora+rag's evidence checks base's and lora's too
    results = json.loads((out / "results.json").read_text())
    triage = results["tasks"]["medical_triage"]
    assert set(triage["systems"]) == {"base", "lora", "lora+rag"} and triage["items"] == 4
    accuracy = triage["systems"]["lora"]["accuracy"]
    assert set(accuracy) == {"mean", "ci95", "n"} and accuracy["n"] == 4
    assert "value" in triage["systems"]["base"]["macro_f1"]
    rag = results["tasks"]["medical_qa"]["systems"]["lora+rag"]
    assert {"hit_at_k", "mrr", "groundedness", "abstained", "pii_leak"} <= set(rag)
    assert "lora+rag - lora" in results["tasks"]["medical_qa"]["paired"]
    assert len(triage["dataset_sha256"]) == 64 and results["cost"]["cost_per_1k_tokens"] >= 0
    samples = read_jsonl(out / "samples.jsonl")
    assert len(samples) == 2 * 3 * 4 and {"prompt", "output", "gold", "scores"} <= set(samples[0])
    report = (out / "report.md").read_text()
    assert "## medical_triage" in report and "Δ lora - base" in report
    # languages alternate, so 4 items are 2 English and 2 Chinese; their per-language means average to the mean
    by_lang = results["tasks"]["medical_qa"]["by_language"]["lora"]
    assert {lang: v["items"] for lang, v in by_lang.items()} == {"en": 2, "zh": 2}
    mean = results["tasks"]["medical_qa"]["systems"]["lora"]["token_f1"]["mean"]
    assert (by_lang["en"]["token_f1"] + by_lang["zh"]["token_f1"]) / 2 == pytest.approx(mean, abs=1e-3)
    assert "By language, lora: en (2): token_f1" in report
    assert "distinct_2" in rag and "longest_repeat" in rag
    # answers given without evidence are checked against the evidence lora+rag retrieves for the same question,
    # so groundedness compares across systems, item by item
    qa = results["tasks"]["medical_qa"]
    assert {"groundedness", "unsupported_claim_rate", "model_cited_rate"} <= set(qa["systems"]["base"])
    assert "model_cited_rate" in rag and "groundedness" in qa["paired"]["lora+rag - base"]
    assert (out / "medical_triage.png").is_file() and (out / "manifest.json").is_file()


def test_samples_are_scrubbed_before_writing() -> None:
    from desensitize import RecordDesensitizer
    from eval.harness import _scrub

    scrubber = RecordDesensitizer(DesensitizeConfig())
    samples = [{"prompt": "Call John Smith at (415) 555-0132", "output": "患者张伟，手机13912345678", "gold": ["x"]}]
    cleaned = _scrub(samples, scrubber)[0]
    assert "555-0132" not in cleaned["prompt"] and "13912345678" not in cleaned["output"]
    assert cleaned["gold"] == ["x"]


def test_leak_check_and_scrubber_know_the_packs_vocabulary() -> None:
    """The finance pack names jurisdictions (allow list) that the default settings take for places: the report
    keeps them and they are no leak, while a person and a phone number in the same answer still are."""
    from eval.harness import _leaks, _privacy, _scrub

    text = "美国的规则要求报告。"
    finance_detector, finance_scrubber = _privacy("finance")
    generic_detector, _ = _privacy(None)
    assert _leaks(text, generic_detector) and not _leaks(text, finance_detector)
    leaked = "Findings: the US rule applies; call John Smith at (415) 555-0132."
    assert _leaks(leaked, finance_detector)
    cleaned = _scrub([{"prompt": text, "output": leaked, "gold": text}], finance_scrubber)[0]
    assert cleaned["prompt"] == text and cleaned["gold"] == text
    assert "John Smith" not in cleaned["output"] and "555-0132" not in cleaned["output"]


@pytest.mark.parametrize("domain", ["medical", "finance"])
def test_quoting_the_packs_knowledge_is_no_leak(domain: str) -> None:
    """A grounded answer quotes its evidence: nothing in the pack's knowledge base may count as a leak or be masked in
    the report ('D-' of 'D-dimer' was read as a nationality group, so every answer naming that test leaked)."""
    from eval.harness import _leaks, _privacy
    from veritune.packs import load_pack

    detector, _ = _privacy(domain)
    found = {row["id"]: [(s.entity_type, row["text"][s.start:s.end]) for s in _leaks(row["text"], detector)]
             for row in read_jsonl(load_pack(domain).knowledge_base)}
    assert len(found) > 50
    assert {doc: spans for doc, spans in found.items() if spans} == {}


def test_adapter_that_does_not_match_the_base(tmp_path: Path, adapter_run: Path) -> None:
    from basemodel import BaseBuildConfig, build_base
    from eval.harness import EvalConfig, run_eval

    small = build_base(BaseBuildConfig(out=str(tmp_path / "small"), size="small"))
    config = EvalConfig(tasks=["medical_triage"], model=str(small), adapters={"medical": str(adapter_run)},
                        systems=["lora"], limit=2)
    with pytest.raises(VerituneError, match="adapter does not match the base model"):
        run_eval(config, tmp_path / "eval")


def test_three_systems_multiple_choice_with_shots(tiny_base: Path, adapter_run: Path, tmp_path: Path) -> None:
    from eval.harness import EvalConfig, run_eval
    from retrieval import build_index

    index = build_index(DOMAINS / "medical/kb/kb.jsonl", tmp_path / "index", allow_raw=True)
    config = EvalConfig(tasks=["medical_triage_mc"], model=str(tiny_base), adapters={"medical": str(adapter_run)},
                        indexes={"medical": str(index)}, limit=4)
    results = json.loads((run_eval(config, tmp_path / "eval") / "results.json").read_text())
    systems = results["tasks"]["medical_triage_mc"]["systems"]
    assert {"mc_accuracy", "mc_accuracy_norm", "macro_f1"} <= set(systems["lora+rag"])
    samples = read_jsonl(tmp_path / "eval" / "samples.jsonl")
    assert all(len(s["choice_loglik"]) == 19 and s["predicted_label"] in s["choice_loglik"] for s in samples)
    assert all(s["prompt"].count("[assistant] ") == 3 for s in samples)      # 3 solved examples first


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (lambda t: t.pop("choices"), "needs `choices`"),
        (lambda t: t.update(output="label"), "only applies to output: multiple_choice"),
        (lambda t: t.update(n_shot=9), r"\[n_shot\]"),
    ],
)
def test_bad_multiple_choice_yaml(tmp_path: Path, edit, message: str) -> None:
    spec = yaml.safe_load((DOMAINS / "medical/tasks/medical_triage_mc.yaml").read_text())
    edit(spec)
    (tmp_path / "task.yaml").write_text(yaml.safe_dump(spec, allow_unicode=True))
    with pytest.raises(VerituneError, match=message):
        load_task(tmp_path / "task.yaml")


@pytest.mark.parametrize("attention", ["sdpa", "eager", "batch"])
def test_loglikelihoods_of_choices_sharing_a_context_equal_one_at_a_time(tiny_base: Path, attention: str,
                                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    """The choices after one context pass, as one row with a tree mask (sdpa, eager) or as a padded batch over
    copies of the cache (any other attention): each equals its own full forward pass."""
    import torch

    from eval.harness import Scorer
    from finetune.inference import load_for_inference

    model, tokenizer = load_for_inference(str(tiny_base))
    if attention == "batch":
        monkeypatch.setattr(Scorer, "TREE_ATTENTION", ())
    else:
        model.set_attn_implementation(attention)
    generator = Scorer(model, tokenizer)
    messages = [{"role": "user", "content": "Which department sees chest pain?"}]
    choices = ["Department: Cardiology.", "Department: Otolaryngology (ENT).", "就诊科室：心内科。", "A"]
    batched = generator.loglikelihoods(messages, choices)
    context = tokenizer.apply_chat_template(messages, add_generation_prompt=True, return_dict=True)["input_ids"]
    for choice, (total, length) in zip(choices, batched, strict=True):
        cont = tokenizer(choice, add_special_tokens=False)["input_ids"]
        with torch.no_grad():
            logits = model(input_ids=torch.tensor([list(context) + cont])).logits[0]
        expected = sum(torch.log_softmax(logits[len(context) - 1 + i], -1)[t].item() for i, t in enumerate(cont))
        assert total == pytest.approx(expected, abs=1e-4) and length == len(choice)


def test_shots_are_other_items_in_the_same_language_and_seeded() -> None:
    task = get_task("medical_triage_mc")
    pool = task.items()
    item = next(row for row in pool if row["lang"] == "zh")
    shots = task.shots(item, pool, seed=0)
    assert len(shots) == 6 and [t["role"] for t in shots] == ["user", "assistant"] * 3
    assert item["question"] not in [t["content"] for t in shots]
    assert all(t["content"].startswith("就诊科室：") for t in shots[1::2])
    assert shots == task.shots(item, pool, seed=0) and shots != task.shots(item, pool, seed=1)
    assert get_task("medical_qa").shots(item, pool, seed=0) == []                 # n_shot 0


def test_choices_are_the_knowledge_base_department_names() -> None:
    names: dict[str, dict[str, str]] = {}
    for row in read_jsonl(DOMAINS / "medical/kb/kb.jsonl"):
        if row.get("department"):
            names.setdefault(row["lang"], {})[row["department"]] = row["department_name"]
    assert get_task("medical_triage_mc").spec.choices == names
    labels = {row["label"] for row in get_task("medical_triage_mc").items()}
    assert labels <= set(names["en"])


def test_shipped_prompts_are_plain_text() -> None:
    from eval.tasks import load_task, task_files

    for name, path in task_files().items():
        spec = load_task(path).spec
        for template in [*spec.prompt.values(), *(spec.rag_prompt or {}).values()]:
            rendered = template.format(input="Q", evidence="E")
            assert "\\" not in rendered, (name, template)
            assert all(ch.isprintable() or ch == "\n" for ch in rendered), (name, template)


@pytest.mark.parametrize(("output", "label"), [
    ("Yes. Fainting is a red flag", "yes"),
    ("yes, seek urgent care", "yes"),
    ("No. This is a typical symptom", "no"),
    ("Not a red flag; arrange routine review", "no"),
    ("Normally this is seen in ...", ""),          # 'no' only as a word
    ("Nausea is common", ""),
    ("否。这是典型症状", "no"),
    ("是。这是危险信号", "yes"),
    ("应视为紧急警示信号[1]", "yes"),                # the question's verb: should be treated as one
    ("不应视为紧急警示信号：属于典型症状", "no"),
    ("不是危险信号", "no"),
    ("是否应视为紧急警示信号？", ""),                # the question echoed is no answer
    ("maybe", ""),
])
def test_redflag_labels(output: str, label: str) -> None:
    assert get_task("medical_redflag").read_label(output) == label


def test_retrieval_prompts_are_the_sft_format() -> None:
    """The lora+rag prompt of finance_compliance is, character for character, what check_rag SFT examples teach."""
    import re

    from retrieval import Hit

    task = get_task("finance_compliance")
    examples = [r for r in read_jsonl(DOMAINS / "finance/sft/train.jsonl") if r["task"] == "check_rag"]
    for example in examples[:20]:
        prompt = example["messages"][0]["content"]
        rules = re.findall(r"^\[\d+\] \((\S+), (\w+)\) (.+)$", prompt, re.MULTILINE)
        document = prompt.rsplit("\n", 1)[-1] if prompt.startswith("Rules:") else prompt.split("\n")[-1]
        hits = [Hit(f"{doc_id}#0", doc_id, 0.0, None, None, text, {"severity": severity})
                for doc_id, severity, text in rules]
        lang = "en" if prompt.startswith("Rules:") else "zh"
        assert task.evidence_prompt()(document, hits, lang) == prompt
        # the answer prefix written for the model is how every taught answer starts, findings or none
        assert example["messages"][1]["content"].startswith(task.evidence_prompt().prefix(lang))
    assert {task.evidence_prompt().prefix(lang) for lang in ("en", "zh")} == {"Findings:", "发现问题："}


def test_compliance_findings_are_read_by_id_or_by_number_and_never_attributed() -> None:
    from eval import get_task

    task = get_task("finance_compliance")
    rules = ["FIN-AML-001-EN", "FIN-MKT-002-EN", "FIN-DIS-001-EN"]
    answer = 'Findings:\n- (critical) [2]: "We guarantee 15 %."\n- FIN-DIS-001-EN (high): "No fees were shown."'
    assert task.cited(answer, rules) == ["FIN-DIS-001-EN", "FIN-MKT-002-EN"]
    assert task.cited("See [9].", rules) == [] and task.cited("[1]") == []   # out of range; no passages given
    # the model copying its rule list is no finding: '[n] (ID, severity) text' is how the prompt listed the rules
    assert task.cited("[2] (FIN-MKT-002-EN, critical) Promotions must not promise guaranteed returns.", rules) == []
    assert task.evidence_prompt().attribute is False and get_task("medical_qa").evidence_prompt().attribute
    assert task.evidence_prompt().listed_ids_only and not get_task("medical_qa").evidence_prompt().listed_ids_only


def test_text_metrics_read_answers_without_their_citation_marks() -> None:
    from eval import get_task
    from eval.harness import _item_scores

    task = get_task("medical_qa")
    item = {"question": "q", "answer": "fainting, low blood pressure"}
    assert _item_scores(task, item, "Fainting, low blood pressure [3].")["token_f1"] == 1.0


def test_an_answer_without_claims_gets_no_grounding_scores() -> None:
    from eval.harness import _grounding_scores
    from retrieval import GroundingVerifier

    evidence = ["Metformin. Contraindications: eGFR below 30."]
    assert _grounding_scores(GroundingVerifier().check("[n]", evidence, attribute=True)) == {}   # says nothing
    scores = _grounding_scores(GroundingVerifier().check("Metformin: not below eGFR 30.", evidence, attribute=True))
    assert scores == {"groundedness": 1.0, "unsupported_claim_rate": 0.0, "model_cited_rate": 0.0}


@pytest.mark.parametrize(("lengths", "batch_size", "batches"), [
    ([500, 520, 540, 1100, 1150, 1200], 20, [[500, 520, 540], [1100, 1150, 1200]]),   # English, then Chinese
    ([500, 520, 540, 560], 2, [[500, 520], [540, 560]]),                               # the batch size still bounds
    ([100, 149, 150, 151], 8, [[100, 149, 150], [151]]),                               # at most 1.5 times the shortest
    ([], 4, []),
])
def test_generation_batches_hold_prompts_of_similar_length(lengths: list[int], batch_size: int,
                                                           batches: list[list[int]]) -> None:
    from types import SimpleNamespace

    from eval.harness import length_batches

    pending = [SimpleNamespace(prompt_tokens=n) for n in lengths]
    assert [[a.prompt_tokens for a in batch] for batch in length_batches(pending, batch_size)] == batches
