from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from desensitize import DesensitizeConfig, desensitize_file
from eval.tasks import get_task, load_task
from tests.conftest import DOMAINS
from veritune.errors import VeritunError
from veritune.jsonl import read_jsonl


def test_unknown_task_names_the_nearest() -> None:
    with pytest.raises(VeritunError, match="unknown task 'medical_triag'; did you mean 'medical_triage'"):
        get_task("medical_triag")


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (lambda t: t.pop("metrics"), r"task\.yaml \[metrics\]: Field required"),
        (lambda t: t.update(output="essay"), r"\[output\]"),
        (lambda t: t.update(promt={}), r"unknown key 'promt'; did you mean 'prompt'"),
    ],
)
def test_bad_task_yaml(tmp_path: Path, edit, message: str) -> None:
    spec = yaml.safe_load((DOMAINS / "medical/tasks/medical_qa.yaml").read_text())
    edit(spec)
    path = tmp_path / "task.yaml"
    path.write_text(yaml.safe_dump(spec))
    with pytest.raises(VeritunError, match=message):
        load_task(path)


def test_item_without_gold_is_a_clear_error(tmp_path: Path) -> None:
    spec = yaml.safe_load((DOMAINS / "medical/tasks/medical_qa.yaml").read_text())
    (tmp_path / "data.jsonl").write_text('{"question": "q1", "answer": "a"}\n{"question": "q2"}\n')
    spec["dataset"] = "data.jsonl"
    (tmp_path / "task.yaml").write_text(yaml.safe_dump(spec))
    with pytest.raises(VeritunError, match=r"data\.jsonl:2 \[answer\]: item without its 'answer' field"):
        load_task(tmp_path / "task.yaml").items()


def test_label_reading_and_cited_ids() -> None:
    triage = get_task("medical_triage")
    assert triage.read_label("Department: Cardiology. This fits ...") == "cardiology"
    assert triage.read_label("就诊科室：神经内科。") == "neurology"
    assert triage.read_label("First-line management: rest") == ""  # 'ent' inside a word is no department
    assert triage.read_label("Department: Otolaryngology (ENT).") == "ent"
    compliance = get_task("finance_compliance")
    assert compliance.cited("- FIN-AML-001-EN (high) ... FIN-KYC-002-ZH") == ["FIN-AML-001-EN", "FIN-KYC-002-ZH"]
    limited = triage.items(limit=6)
    assert {row["lang"] for row in limited} == {"en", "zh"} and len(limited) == 6


@pytest.fixture(scope="module")
def adapter_run(tiny_base: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    from finetune.recipe import Recipe
    from finetune.train import run_recipe

    folder = tmp_path_factory.mktemp("eval_ft")
    rows = read_jsonl(DOMAINS / "medical/sft/train.jsonl")[:24]
    (folder / "raw.jsonl").write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows))
    desensitize_file(folder / "raw.jsonl", folder / "sft.jsonl", DesensitizeConfig(field="messages"),
                     show_progress=False)
    recipe = Recipe.model_validate({"model": str(tiny_base), "stage": "sft",
                                    "data": {"path": str(folder / "sft.jsonl")},
                                    "train": {"max_steps": 2, "batch_size": 2, "seq_len": 128},
                                    "output_dir": str(folder / "run")})
    return run_recipe(recipe)


def test_three_systems_end_to_end(tiny_base: Path, adapter_run: Path, tmp_path: Path) -> None:
    from eval.harness import EvalConfig, run_eval
    from retrieval import build_index

    index = build_index(DOMAINS / "medical/kb/kb.jsonl", tmp_path / "index", allow_raw=True)
    config = EvalConfig(tasks=["medical_triage", "medical_qa"], model=str(tiny_base),
                        adapters={"medical": str(adapter_run)}, indexes={"medical": str(index)}, limit=4)
    out = run_eval(config, tmp_path / "eval")
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
    assert (out / "medical_triage.png").is_file() and (out / "manifest.json").is_file()


def test_samples_are_scrubbed_before_writing() -> None:
    from desensitize import DesensitizeConfig, RecordDesensitizer
    from eval.harness import _scrub

    scrubber = RecordDesensitizer(DesensitizeConfig())
    samples = [{"prompt": "Call John Smith at (415) 555-0132", "output": "患者张伟，手机13912345678", "gold": ["x"]}]
    cleaned = _scrub(samples, scrubber)[0]
    assert "555-0132" not in cleaned["prompt"] and "13912345678" not in cleaned["output"]
    assert cleaned["gold"] == ["x"]


def test_adapter_that_does_not_match_the_base(tmp_path: Path, adapter_run: Path) -> None:
    from basemodel import BaseBuildConfig, build_base
    from eval.harness import EvalConfig, run_eval

    small = build_base(BaseBuildConfig(out=str(tmp_path / "small"), size="small"))
    config = EvalConfig(tasks=["medical_triage"], model=str(small), adapters={"medical": str(adapter_run)},
                        systems=["lora"], limit=2)
    with pytest.raises(VeritunError, match="adapter does not match the base model"):
        run_eval(config, tmp_path / "eval")


def test_few_shot_is_refused_until_it_is_built(tmp_path: Path) -> None:
    spec = yaml.safe_load((DOMAINS / "medical/tasks/medical_qa.yaml").read_text())
    spec["n_shot"] = 3
    (tmp_path / "task.yaml").write_text(yaml.safe_dump(spec))
    with pytest.raises(VeritunError, match=r"\[n_shot\]"):
        load_task(tmp_path / "task.yaml")


def test_redflag_labels() -> None:
    task = get_task("medical_redflag")
    assert task.read_label("Yes. Fainting is a red flag") == "yes"
    assert task.read_label("否。这是典型症状") == "no" and task.read_label("maybe") == ""
