from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import torch
import yaml

from desensitize import DesensitizeConfig, desensitize_file
from finetune.recipe import Recipe
from tests.conftest import DOMAINS, REPO
from veritune.config import load_config
from veritune.errors import VerituneError
from veritune.jsonl import read_jsonl
from veritune.manifest import read_manifest, write_manifest


@pytest.fixture(scope="module")
def sft_data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """48 SFT rows of the medical pack, through the desensitizer so they carry a manifest."""
    folder = tmp_path_factory.mktemp("data")
    rows = read_jsonl(DOMAINS / "medical/sft/train.jsonl")[:48]
    raw = folder / "raw.jsonl"
    raw.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    desensitize_file(raw, folder / "sft.jsonl", DesensitizeConfig(field="messages"), show_progress=False)
    kb = [{"id": r["id"], "text": r["text"]} for r in read_jsonl(DOMAINS / "medical/kb/kb.jsonl")[:40]]
    (folder / "kb_raw.jsonl").write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in kb))
    desensitize_file(folder / "kb_raw.jsonl", folder / "kb.jsonl", DesensitizeConfig(), show_progress=False)
    return folder


def recipe(tiny_base: Path, folder: Path, out: Path, **changes) -> Recipe:
    base = {"model": str(tiny_base), "stage": "sft", "method": "lora",
            "data": {"path": str(folder / "sft.jsonl"), "field": "messages"},
            "train": {"max_steps": 3, "batch_size": 2, "seq_len": 448, "logging_steps": 1, "save_steps": 2,
                      "learning_rate": 1e-3},
            "output_dir": str(out)}
    for key, value in changes.items():
        node = base
        parts = key.split("__")
        for part in parts[:-1]:
            node = node.setdefault(part, {})
        node[parts[-1]] = value
    return Recipe.model_validate(base)


def shipped_recipe(domain: str, tiny_base: Path, sft_data: Path, target: Path, **train) -> Path:
    """A copy of the pack's shipped tiny SFT recipe pointed at the test's base and data."""
    recipe_data = yaml.safe_load((DOMAINS / domain / "recipes/tiny_sft.yaml").read_text())
    recipe_data.update(model=str(tiny_base), data={"path": str(sft_data / "sft.jsonl"), "field": "messages"})
    recipe_data["train"].update(train)
    target.write_text(yaml.safe_dump(recipe_data))
    return target


def test_every_shipped_recipe_validates_and_its_adapter_wraps(tiny_base: Path) -> None:
    from peft import get_peft_model
    from transformers import AutoModelForCausalLM

    from finetune.targets import lora_config

    recipes = sorted(DOMAINS.glob("*/recipes/*.yaml"))
    assert {p.name for p in recipes} >= {"tiny_sft.yaml", "tiny_pt.yaml", "qwen3_30b_a3b_qlora.yaml"}
    for path in recipes:
        loaded = load_config(Recipe, path, ["train.max_steps=5", "output_dir=runs/x"])
        assert loaded.train.max_steps == 5 and loaded.output_dir == "runs/x"
        if loaded.method != "full":  # the recipe's LoRA settings, on the tiny MoE (same module layout)
            get_peft_model(AutoModelForCausalLM.from_pretrained(tiny_base), lora_config(
                AutoModelForCausalLM.from_pretrained(tiny_base), loaded.lora)[0])


def test_expert_lora_with_dropout_is_refused_up_front() -> None:
    with pytest.raises(ValueError, match="lora.dropout must be 0 when lora.targets.experts is true"):
        Recipe.model_validate({"model": "m", "stage": "sft", "data": {"path": "d"}, "output_dir": "o",
                               "lora": {"dropout": 0.05}})
    Recipe.model_validate({"model": "m", "stage": "sft", "data": {"path": "d"}, "output_dir": "o",
                           "lora": {"dropout": 0.05, "targets": {"experts": False}}})


def test_lora_sft_reaches_the_experts_and_writes_the_run(tiny_base: Path, sft_data: Path, tmp_path: Path) -> None:
    from finetune.train import run_recipe

    out = run_recipe(recipe(tiny_base, sft_data, tmp_path / "run"))
    summary = json.loads((out / "summary.json").read_text())
    groups = summary["parameters"]["trainable_by_group"]
    assert groups["experts"] > 0 and groups["attention"] > 0 and groups["router"] == 0
    assert summary["steps"] == 3 and summary["tokens_seen"] > 0 and summary["final_aux_loss"] > 0
    assert summary["parameters"]["active_per_token"] < summary["parameters"]["total"]
    assert summary["expert_lora"]["path"] == "lowrank" and summary["expert_lora"]["lowrank_blocks"] == 4
    assert summary["lm_head"] == "compact"  # CPU: only labelled positions reach the head
    assert summary["truncation"]["rows_without_trained_tokens"] == 0
    load = json.loads((out / "expert_load.json").read_text())
    assert len(load["before"]) == 4 and len(load["before"][0]) == 8
    for name in ("adapter/adapter_model.safetensors", "adapter/adapter_config.json", "loss.png", "expert_load.png",
                 "recipe.resolved.json"):
        assert (out / name).is_file(), name
    assert list((out / "tensorboard").iterdir())
    config = json.loads((out / "adapter/adapter_config.json").read_text())
    assert sorted(config["target_parameters"]) == ["mlp.experts.down_proj", "mlp.experts.gate_up_proj"]
    manifest = read_manifest(out / "manifest.json")
    assert manifest.kind == "finetune_run" and {"summary.json", "adapter/adapter_model.safetensors"} <= {
        r.path for r in manifest.outputs}


def test_pt_stage_and_full_method(tiny_base: Path, sft_data: Path, tmp_path: Path) -> None:
    from finetune.train import run_recipe

    pt = run_recipe(recipe(tiny_base, sft_data, tmp_path / "pt", stage="pt",
                           data={"path": str(sft_data / "kb.jsonl"), "field": "text"}))
    assert json.loads((pt / "summary.json").read_text())["steps"] == 3
    full = run_recipe(recipe(tiny_base, sft_data, tmp_path / "full", method="full", train__max_steps=2))
    summary = json.loads((full / "summary.json").read_text())
    assert summary["parameters"]["trainable"] == summary["parameters"]["total"]


def test_resume_after_a_crash_continues_exactly(tiny_base: Path, sft_data: Path, tmp_path: Path) -> None:
    from transformers import TrainerCallback

    from finetune.train import run_recipe

    class Crash(TrainerCallback):
        def on_step_end(self, args, state, control, **kwargs):  # noqa: ANN001, ANN003, ANN201
            if state.global_step == 3:
                raise RuntimeError("simulated crash after the step-2 checkpoint")

    settings = {"train__max_steps": 4, "train__save_steps": 2}
    straight = run_recipe(recipe(tiny_base, sft_data, tmp_path / "straight", **settings))
    with pytest.raises(RuntimeError, match="simulated crash"):
        run_recipe(recipe(tiny_base, sft_data, tmp_path / "resumed", **settings), callbacks=[Crash()])
    assert not (tmp_path / "resumed" / "manifest.json").exists()  # not finished, and it does not look finished
    resumed = run_recipe(recipe(tiny_base, sft_data, tmp_path / "resumed", **settings))
    summaries = [json.loads((run / "summary.json").read_text()) for run in (straight, resumed)]
    assert abs(summaries[0]["final_loss"] - summaries[1]["final_loss"]) < 1e-4
    assert summaries[1]["tokens_seen"] == summaries[0]["tokens_seen"] > 0     # cumulative across the resume


@pytest.mark.parametrize(("bf16", "casts"), [("on", False), ("off", True)])
def test_bf16_steps_keep_lora_inputs_in_the_bases_dtype(tiny_base: Path, sft_data: Path, tmp_path: Path,
                                                        bf16: str, casts: bool) -> None:
    """Under bf16 autocast PEFT's cast of every LoRA input up to fp32 is undone by the matmul: the steps skip it;
    the probes after training, without autocast, get it back."""
    from peft.tuners.tuners_utils import BaseTunerLayer
    from transformers import TrainerCallback

    from finetune.train import run_recipe

    seen: list[bool] = []

    class Flags(TrainerCallback):
        def on_step_begin(self, args, state, control, model=None, **kwargs):  # noqa: ANN001, ANN003, ANN201
            seen.extend(m.cast_input_dtype_enabled for m in model.modules() if isinstance(m, BaseTunerLayer))

    out = run_recipe(recipe(tiny_base, sft_data, tmp_path / "run", train__max_steps=2, train__bf16=bf16),
                     callbacks=[Flags()])
    assert seen and set(seen) == {casts}
    summary = json.loads((out / "summary.json").read_text())
    assert summary["steps"] == 2 and 0 < summary["final_loss"] < 100


def test_lora_that_reaches_no_expert_fails_loudly(tmp_path: Path, sft_data: Path, tiny_base: Path) -> None:
    from transformers import AutoTokenizer, Qwen3Config, Qwen3ForCausalLM

    from finetune.train import run_recipe

    dense = tmp_path / "dense"  # a model without experts, asked for expert LoRA
    config = Qwen3Config(vocab_size=8192, hidden_size=64, intermediate_size=128, num_hidden_layers=2,
                         num_attention_heads=2, num_key_value_heads=1, head_dim=32)
    Qwen3ForCausalLM(config).save_pretrained(dense)
    AutoTokenizer.from_pretrained(tiny_base).save_pretrained(dense)
    with pytest.raises(VerituneError, match="LoRA reached no experts"):
        run_recipe(recipe(tiny_base, sft_data, tmp_path / "run", model=str(dense)))


def test_examples_that_would_lose_their_answer_stop_the_run(tiny_base: Path, sft_data: Path, tmp_path: Path) -> None:
    from finetune.train import run_recipe

    # the retrieval-grounded rows carry ~300 tokens of evidence before the answer: a 96-token cut drops the answer
    with pytest.raises(VerituneError, match=r"examples would lose every trained token.*train.seq_len=96") as error:
        run_recipe(recipe(tiny_base, sft_data, tmp_path / "run", train__seq_len=96))
    assert error.value.field == "train.seq_len" and not (tmp_path / "run" / "adapter").exists()
    out = run_recipe(recipe(tiny_base, sft_data, tmp_path / "allowed", train__seq_len=96, train__max_steps=1,
                            train__allow_truncation=True))
    truncation = json.loads((out / "summary.json").read_text())["truncation"]
    assert truncation["rows_without_trained_tokens"] > 0 and truncation["rows_cut"] >= \
        truncation["rows_without_trained_tokens"] and truncation["longest"] > 96 and truncation["rows_checked"] == 48


def test_raw_data_is_refused(tiny_base: Path, sft_data: Path, tmp_path: Path) -> None:
    from finetune.train import run_recipe

    raw = recipe(tiny_base, sft_data, tmp_path / "run", data={"path": str(sft_data / "raw.jsonl")})
    with pytest.raises(VerituneError, match="has no desensitization manifest.*--allow-raw"):
        run_recipe(raw)


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ({"trian": {}}, r"unknown key 'trian'; did you mean 'train'"),
        ({"train": {"learning_rte": 1}}, r"\[train\.learning_rte\]: unknown key.*'learning_rate'"),
        ({"train": {"max_steps": "many"}}, r"\[train\.max_steps\]"),
        ({"method": "dora"}, r"\[method\]"),
    ],
)
def test_bad_recipes(tmp_path: Path, content: dict, message: str) -> None:
    base = {"model": "m", "stage": "sft", "data": {"path": "d.jsonl"}, "output_dir": "o"}
    path = tmp_path / "r.yaml"
    path.write_text(yaml.safe_dump({**base, **content}))
    with pytest.raises(VerituneError, match=message):
        load_config(Recipe, path)


def test_missing_empty_and_wrong_model(tiny_base: Path, sft_data: Path, tmp_path: Path) -> None:
    from finetune.train import run_recipe

    with pytest.raises(VerituneError, match=r"\[data\.path\]: dataset .* not found"):
        run_recipe(recipe(tiny_base, sft_data, tmp_path / "a", data={"path": str(tmp_path / "none.jsonl")}))
    empty_raw = tmp_path / "empty_raw.jsonl"
    empty_raw.write_text("")
    desensitize_file(empty_raw, tmp_path / "empty.jsonl", DesensitizeConfig(field="messages"), show_progress=False)
    with pytest.raises(VerituneError, match="empty"):
        run_recipe(recipe(tiny_base, sft_data, tmp_path / "b", data={"path": str(tmp_path / "empty.jsonl")}))
    not_a_model = tmp_path / "not_a_model"
    not_a_model.mkdir()
    (not_a_model / "config.json").write_text(json.dumps({"model_type": "bert"}))
    with pytest.raises(VerituneError, match=r"\[model\]: cannot load"):
        run_recipe(recipe(tiny_base, sft_data, tmp_path / "c", model=str(not_a_model)))


def test_cli_runs_a_shipped_recipe_with_overrides(tiny_base: Path, sft_data: Path, tmp_path: Path) -> None:
    from tests.conftest import run_cli

    path = shipped_recipe("medical", tiny_base, sft_data, tmp_path / "tiny_sft.yaml")
    result = run_cli("finetune", str(path), "max_steps=2", f"output_dir={tmp_path / 'run'}", "train.batch_size=2",
                     "train.seq_len=448", cwd=REPO)
    assert result.returncode == 0, result.stderr[-2000:]
    assert json.loads((tmp_path / "run/summary.json").read_text())["steps"] == 2
    assert torch.get_num_threads() == 1


def test_merge_is_verified_and_changes_the_experts(tiny_base: Path, sft_data: Path, tmp_path: Path) -> None:
    from safetensors.torch import load_file

    from finetune.merge import merge_run
    from finetune.train import run_recipe

    # three steps, so that every expert of the random tiny base gets tokens while the learning rate is not zero (at
    # two only the second step has one): when the packs' text, which the tiny tokenizer is trained on, grew, routing
    # left three experts without a token in that step, and the merge rightly left them unchanged
    run = run_recipe(recipe(tiny_base, sft_data, tmp_path / "run", train__max_steps=3))
    report = merge_run(run, tmp_path / "merged")
    assert report["max_logit_difference"] < 1e-4 and report["adapted_expert_tensors"] == 8
    # on disk, transformers writes the fused experts back as one tensor per expert
    merged, base = load_file(tmp_path / "merged/model.safetensors"), load_file(tiny_base / "model.safetensors")
    experts = [k for k in base if ".mlp.experts." in k]
    assert len(experts) == 4 * 8 * 3 and all(not torch.equal(merged[k], base[k]) for k in experts)
    assert torch.equal(merged["model.layers.0.mlp.gate.weight"], base["model.layers.0.mlp.gate.weight"])
    assert read_manifest(tmp_path / "merged/manifest.json").stats["verification"]["tolerance"] == 1e-4
    assert report["checked_in"] == "fp32"
    # a tolerance fp32's summation order cannot meet (a deep model's, here forced): fp64 decides, and says so
    strict = merge_run(run, tmp_path / "merged64", tolerance=1e-12)
    assert strict["checked_in"] == "fp64" and strict["max_logit_difference"] <= 1e-12
    assert strict["max_logit_difference_fp32"] > 1e-12


def test_inference_merges_at_the_chosen_precision(tiny_base: Path, sft_data: Path, tmp_path: Path) -> None:
    """bf16 serving: the base loads in bf16 and the adapter is merged there (no fp32 copy of the model), so the
    model equals the fp32 merged one up to bf16 rounding and still differs from the bf16 base; 'auto' follows the
    hardware."""
    from finetune.inference import inference_dtype, load_for_inference, native_bf16
    from finetune.train import run_recipe

    assert inference_dtype("off") == torch.float32 and inference_dtype("on") == torch.bfloat16
    assert inference_dtype("auto") == (torch.bfloat16 if native_bf16() else torch.float32)
    with pytest.raises(VerituneError, match="bf16 must be auto, on or off"):
        inference_dtype("fp16")
    run = run_recipe(recipe(tiny_base, sft_data, tmp_path / "run", train__max_steps=2))
    full, tokenizer = load_for_inference(str(tiny_base), run, dtype=torch.float32)
    half, _ = load_for_inference(str(tiny_base), run, dtype=torch.bfloat16)
    base, _ = load_for_inference(str(tiny_base), dtype=torch.float32)
    half_base, _ = load_for_inference(str(tiny_base), dtype=torch.bfloat16)
    assert {p.dtype for p in half.parameters()} == {torch.bfloat16}
    name, weight = next((n, w) for n, w in full.named_parameters() if ".mlp.experts." in n)
    assert torch.allclose(dict(half.named_parameters())[name].float(), weight, rtol=1e-2, atol=1e-3)
    assert not torch.equal(weight, dict(base.named_parameters())[name])    # the adapter reached the experts
    assert not torch.equal(dict(half.named_parameters())[name], dict(half_base.named_parameters())[name])  # in bf16
    ids = torch.tensor([tokenizer("Chest pain radiating to the left arm")["input_ids"]])
    with torch.no_grad():
        assert torch.allclose(half(input_ids=ids).logits.float(), full(input_ids=ids).logits, atol=0.1)


def test_training_loading_and_merging_print_no_warning_of_peft_against_transformers(
        tiny_base: Path, sft_data: Path, tmp_path: Path) -> None:
    """PEFT reads a property transformers renamed and warns about, once per run and per adapter load; our wrappers
    silence that one warning. The bare call still raises it (when the pinned versions stop, drop the filter)."""
    import warnings

    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    from finetune.compat import PEFT_READS_OLD_CHECKPOINTING_NAME
    from finetune.inference import load_for_inference
    from finetune.merge import merge_run
    from finetune.train import run_recipe

    def messages(action) -> list[str]:  # noqa: ANN001
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            action()
        return [str(w.message) for w in caught]

    bare = messages(lambda: get_peft_model(AutoModelForCausalLM.from_pretrained(tiny_base),
                                           LoraConfig(r=2, target_modules=["q_proj"])))
    assert any(re.search(PEFT_READS_OLD_CHECKPOINTING_NAME, m) for m in bare)
    run = tmp_path / "run"
    ours = messages(lambda: run_recipe(recipe(tiny_base, sft_data, run, train__max_steps=1)))
    ours += messages(lambda: load_for_inference(str(tiny_base), run))
    ours += messages(lambda: merge_run(run, tmp_path / "merged"))
    assert not [m for m in ours if re.search(PEFT_READS_OLD_CHECKPOINTING_NAME, m)]


def test_peft_wrapping_keeps_the_filter_list_whole_across_threads() -> None:
    """`catch_warnings` saves and restores the process-wide filter list: threads wrapping at once (a caller loading
    adapters in parallel) must neither strip the filter from one another nor leave it installed afterwards."""
    import threading
    import time
    import warnings

    from finetune.compat import PEFT_READS_OLD_CHECKPOINTING_NAME, peft_wrapping

    def silenced() -> bool:
        return any(f[0] == "ignore" and f[1] is not None and f[1].pattern == PEFT_READS_OLD_CHECKPOINTING_NAME
                   for f in warnings.filters)

    before = list(warnings.filters)
    seen: list[bool] = []

    def wrap() -> None:
        with peft_wrapping():
            time.sleep(0.02)   # overlap the other threads' entries and exits
            seen.append(silenced())

    threads = [threading.Thread(target=wrap) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert seen == [True] * 6
    assert warnings.filters == before and not silenced()


def test_merge_refuses_a_mismatched_base(tiny_base: Path, sft_data: Path, tmp_path: Path) -> None:
    from basemodel import BaseBuildConfig, build_base
    from finetune.merge import merge_run
    from finetune.train import run_recipe

    run = run_recipe(recipe(tiny_base, sft_data, tmp_path / "run", train__max_steps=1))
    other = build_base(BaseBuildConfig(out=str(tmp_path / "small"), size="small"))
    manifest = read_manifest(run / "manifest.json")
    manifest.config["model"] = str(other)
    write_manifest(run / "manifest.json", manifest)             # re-signed here: only the base is wrong
    with pytest.raises(VerituneError, match="does not match the base"):
        merge_run(run, tmp_path / "merged")
    assert not (tmp_path / "merged").exists()


def test_packed_sequences_do_not_attend_across_boundaries(tiny_base: Path) -> None:
    """Padding-free packing relies on position ids restarting at each sequence: logits of two sequences packed
    into one row must equal their logits run separately (with the KV cache off, as in training)."""
    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(tiny_base).eval()
    first, second = torch.randint(10, 8000, (1, 17)), torch.randint(10, 8000, (1, 23))
    packed = torch.cat([first, second], dim=1)
    positions = torch.cat([torch.arange(17), torch.arange(23)])[None, :]
    with torch.no_grad():
        together = model(input_ids=packed, position_ids=positions, use_cache=False).logits
        alone = torch.cat([model(input_ids=first, use_cache=False).logits,
                           model(input_ids=second, use_cache=False).logits], dim=1)
        leaky = model(input_ids=packed, use_cache=False).logits  # no restart: the second sequence sees the first
    assert float((together - alone).abs().max()) < 1e-4
    assert float((leaky[:, 17:] - alone[:, 17:]).abs().max()) > 1e-3


@pytest.mark.parametrize("name", ["ddp", "zero2", "zero3", "fsdp2", "cpu_single"])
def test_shipped_accelerate_configs_validate(name: str) -> None:
    from finetune.launch import CONFIGS, launch_command, load_accelerate_config

    config = load_accelerate_config(CONFIGS / f"{name}.yaml")
    expected = {"ddp": "MULTI_GPU", "zero2": "DEEPSPEED", "zero3": "DEEPSPEED", "fsdp2": "FSDP", "cpu_single": "NO"}
    assert str(config.distributed_type).endswith(expected[name])
    if name.startswith("zero"):
        assert config.deepspeed_config["zero_stage"] == int(name[-1])
    if name == "fsdp2":
        assert config.fsdp_config["fsdp_version"] == 2
    command = launch_command(Path("r.yaml"), CONFIGS / f"{name}.yaml", ["max_steps=2"])
    assert command[1:4] == ["-m", "accelerate.commands.launch", "--config_file"] and command[-2:] == ["r.yaml",
                                                                                                    "max_steps=2"]


@pytest.mark.slow
def test_accelerate_launcher_runs_a_recipe(tiny_base: Path, sft_data: Path, tmp_path: Path) -> None:
    from tests.conftest import run_cli

    path = shipped_recipe("finance", tiny_base, sft_data, tmp_path / "r.yaml")
    result = run_cli("finetune", str(path), "max_steps=2", f"output_dir={tmp_path / 'run'}", "train.batch_size=2",
                     "train.seq_len=448", "--launcher", "accelerate", "--accelerate-config",
                     str(REPO / "finetune/accelerate/cpu_single.yaml"), cwd=REPO)
    assert result.returncode == 0, result.stderr[-2000:]
    assert json.loads((tmp_path / "run/summary.json").read_text())["steps"] == 2


@pytest.mark.slow
def test_zero2_trains_in_one_cpu_process(tiny_base: Path, sft_data: Path, tmp_path: Path) -> None:
    pytest.importorskip("deepspeed", reason="deepspeed is in the dev extra; install it to run ZeRO-2")
    from tests.conftest import run_cli

    path = shipped_recipe("medical", tiny_base, sft_data, tmp_path / "r.yaml")
    result = run_cli("finetune", str(path), "max_steps=2", f"output_dir={tmp_path / 'run'}", "train.batch_size=2",
                     "train.seq_len=448", "--launcher", "accelerate", "--accelerate-config",
                     str(REPO / "finetune/accelerate/zero2_cpu_single.yaml"), cwd=REPO)
    assert result.returncode == 0, result.stderr[-2000:]
    summary = json.loads((tmp_path / "run/summary.json").read_text())
    assert summary["distributed"] == {"type": "DEEPSPEED", "processes": 1, "zero_stage": 2}
    assert summary["steps"] == 2 and summary["parameters"]["trainable_by_group"]["experts"] > 0


@pytest.mark.slow
def test_kill_9_in_the_middle_then_resume(tiny_base: Path, sft_data: Path, tmp_path: Path) -> None:
    """The issue's own check: SIGKILL the training process after a checkpoint, resume, same final loss (1e-4)."""
    import os
    import signal
    import subprocess
    import sys
    import time

    path = shipped_recipe("medical", tiny_base, sft_data, tmp_path / "r.yaml", max_steps=8, save_steps=2,
                          batch_size=2, seq_len=448, logging_steps=1)
    exe = [str(Path(sys.executable).parent / "veritune"), "finetune", str(path)]
    env = {**os.environ, "VERITUNE_THREADS": "1"}
    straight = subprocess.run([*exe, f"output_dir={tmp_path / 'straight'}"], env=env, capture_output=True, text=True)
    assert straight.returncode == 0, straight.stderr[-1500:]
    killed = tmp_path / "killed"
    process = subprocess.Popen([*exe, f"output_dir={killed}"], env=env, stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 120
    while not (killed / "checkpoints/checkpoint-4/trainer_state.json").exists():
        assert time.monotonic() < deadline and process.poll() is None, "no checkpoint-4 before the deadline"
        time.sleep(0.05)
    process.send_signal(signal.SIGKILL)
    process.wait()
    assert not (killed / "manifest.json").exists()
    resumed = subprocess.run([*exe, f"output_dir={killed}"], env=env, capture_output=True, text=True)
    assert resumed.returncode == 0, resumed.stderr[-1500:]
    losses = [json.loads((run / "summary.json").read_text())["final_loss"] for run in (tmp_path / "straight", killed)]
    assert abs(losses[0] - losses[1]) < 1e-4


def test_an_interrupted_checkpoint_is_not_resumed_from(tmp_path: Path) -> None:
    from finetune.train import _latest_checkpoint

    for step, complete in ((2, True), (4, True), (6, False)):
        folder = tmp_path / f"checkpoint-{step}"
        folder.mkdir()
        if complete:
            (folder / "trainer_state.json").write_text("{}")
    assert _latest_checkpoint(tmp_path).name == "checkpoint-4"
    assert _latest_checkpoint(tmp_path / "none") is None


def test_qlora_stores_experts_in_4_bit_and_still_trains_their_lora(tiny_base: Path, sft_data: Path,
                                                                   tmp_path: Path) -> None:
    from finetune.train import run_recipe

    out = run_recipe(recipe(tiny_base, sft_data, tmp_path / "qlora", method="qlora", train__max_steps=12,
                            train__learning_rate=3e-3, train__save_steps=100))
    summary = json.loads((out / "summary.json").read_text())
    storage = summary["storage"]
    assert storage["format"] == "nf4" and storage["ratio_to_bf16"] <= 0.35   # the target
    groups = summary["parameters"]["trainable_by_group"]
    assert groups["experts"] > 0 and groups["attention"] > 0 and groups["router"] == 0
    # steps whose batch held assistant tokens (the aux loss alone is ~0.02)
    losses = [h["loss"] for h in json.loads((out / "log_history.json").read_text()) if h.get("loss", 0) > 1]
    assert len(losses) >= 6 and sum(losses[-3:]) / 3 < sum(losses[:3]) / 3
    assert summary["parameters"]["total"] > 2_000_000                         # counted before quantization
    from safetensors.torch import load_file

    adapter = load_file(out / "adapter" / "adapter_model.safetensors")
    assert any(".mlp.experts." in name for name in adapter)                   # a standard PEFT folder with experts
    from finetune.merge import merge_run

    report = merge_run(out, tmp_path / "merged")   # QLoRA adapters merge into the full-precision base, verified
    assert (tmp_path / "merged" / "model.safetensors").is_file() and report


def test_dpo_on_desensitized_preference_pairs(tiny_base: Path, tmp_path: Path) -> None:
    """The pack's pairs pass the desensitizer as one document per pair, then the shipped DPO recipe trains LoRA
    on the experts against the adapter-free reference and writes a normal run folder."""
    from finetune.train import run_recipe

    rows = read_jsonl(DOMAINS / "medical/sft/preferences.jsonl")[:8]
    pairs = _desensitized_pairs(rows, tmp_path)
    loaded = load_config(Recipe, DOMAINS / "medical/recipes/tiny_dpo.yaml", [
        f"model={tiny_base}", f"data.path={pairs}", "train.max_steps=2", "train.batch_size=2",
        "train.seq_len=256", "train.logging_steps=1", f"output_dir={tmp_path / 'run'}"])
    assert loaded.stage == "dpo" and loaded.data.field == "prompt,chosen,rejected"
    out = run_recipe(loaded)
    summary = json.loads((out / "summary.json").read_text())
    assert summary["steps"] == 2 and summary["parameters"]["trainable_by_group"]["experts"] > 0
    assert summary["final_loss"] is not None and summary["preference"]["reward_margin"] is not None
    assert (out / "adapter/adapter_model.safetensors").is_file() and (out / "manifest.json").is_file()


def test_dpo_learns_a_preference_it_can_see(tiny_base: Path, tmp_path: Path) -> None:
    """Not a silent no-op: with an evident preference (a cited answer over 'I am not sure.') the reward margin
    grows and the chosen answer wins on most pairs within a few steps."""
    from finetune.train import run_recipe

    rows = read_jsonl(DOMAINS / "medical/sft/preferences.jsonl")[:16]
    easy = [{**row, "rejected": [{"role": "assistant", "content": "I am not sure."}]} for row in rows]
    loaded = load_config(Recipe, DOMAINS / "medical/recipes/tiny_dpo.yaml", [
        f"model={tiny_base}", f"data.path={_desensitized_pairs(easy, tmp_path)}", "train.max_steps=12",
        "train.batch_size=4", "train.seq_len=256", "train.logging_steps=4", "train.learning_rate=2e-3",
        f"output_dir={tmp_path / 'run'}"])
    summary = json.loads((run_recipe(loaded) / "summary.json").read_text())["preference"]
    assert summary["reward_margin"] > summary["first_reward_margin"] and summary["reward_accuracy"] >= 0.75


def _desensitized_pairs(rows: list[dict], folder: Path) -> Path:
    raw = folder / "pairs_raw.jsonl"
    raw.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    desensitize_file(raw, folder / "pairs.jsonl", DesensitizeConfig(field="prompt,chosen,rejected"),
                     show_progress=False)
    return folder / "pairs.jsonl"


def test_dpo_recipe_checks_its_fields() -> None:
    base = {"model": "m", "data": {"path": "d"}, "output_dir": "o"}
    assert Recipe.model_validate({**base, "stage": "dpo"}).data.field == "prompt,chosen,rejected"
    with pytest.raises(ValueError, match="stage dpo reads data.field"):
        Recipe.model_validate({**base, "stage": "dpo", "data": {"path": "d", "field": "messages"}})
    with pytest.raises(ValueError, match="stage sft reads one data.field"):
        Recipe.model_validate({**base, "stage": "sft", "data": {"path": "d", "field": "prompt,chosen,rejected"}})


def test_a_run_folder_without_a_valid_manifest_is_refused_for_serving_eval_and_merge(
        tiny_base: Path, sft_data: Path, tmp_path: Path) -> None:
    import shutil

    from finetune.inference import load_for_inference
    from tests.conftest import run_cli, train_tiny_adapter

    run = train_tiny_adapter(tiny_base, tmp_path, read_jsonl(DOMAINS / "medical/sft/train.jsonl")[:4])
    crashed = tmp_path / "crashed"
    shutil.copytree(run, crashed)
    (crashed / "manifest.json").unlink()                                  # what a crash before the end leaves
    with pytest.raises(VerituneError, match="has no manifest.json.*--allow-unfinished"):
        load_for_inference(str(tiny_base), crashed)
    model, _ = load_for_inference(str(tiny_base), crashed, allow_unfinished=True)
    assert model is not None
    merged = run_cli("finetune", "merge", str(crashed), "--out", str(tmp_path / "merged"))
    assert merged.returncode == 2 and "has no manifest.json" in merged.stderr
    evaluated = run_cli("eval", "run", "--tasks", "medical_qa", "--model", str(tiny_base), "--systems", "lora",
                        "--adapter", f"medical={crashed}", "--limit", "1", "--out", str(tmp_path / "eval"))
    assert evaluated.returncode == 2 and "--allow-unfinished" in evaluated.stderr
    from apps.config import AssistantSettings
    from apps.engine import Assistant

    with pytest.raises(VerituneError, match="has no manifest.json"):
        Assistant(AssistantSettings(domain="medical", model=str(tiny_base), adapter=str(crashed)))


@pytest.mark.parametrize(("device", "cuda", "expected"), [
    ("auto", True, "cuda"),      # the apps, the API and the eval answer on the GPU when there is one
    ("auto", False, "cpu"),
    ("cpu", True, "cpu"),        # a name is taken as given
    ("cuda:1", True, "cuda:1"),
])
def test_inference_device(device: str, cuda: bool, expected: str) -> None:
    from finetune.inference import inference_device

    assert inference_device(device, cuda=cuda) == expected


def test_inference_loads_onto_the_device_it_is_given(tiny_base: Path) -> None:
    from finetune.inference import load_for_inference

    model, _ = load_for_inference(str(tiny_base), device="cpu")
    assert {p.device.type for p in model.parameters()} == {"cpu"} and model.device.type == "cpu"
    # a base loads straight at the serving precision: the same weights as fp32 cast after, while the rotary
    # frequencies stay fp32 as transformers computes them (a cast after rounded every position's angle to bf16)
    half, _ = load_for_inference(str(tiny_base), dtype=torch.bfloat16, device="cpu")
    cast = dict(model.to(torch.bfloat16).named_parameters())
    assert all(torch.equal(weight, cast[name]) for name, weight in half.named_parameters())
    assert {buffer.dtype for _, buffer in half.named_buffers()} == {torch.float32}
    for name, buffer in half.named_buffers():
        model.get_buffer(name).data = buffer.clone()
    ids = torch.tensor([[5, 17, 42, 7]])
    with torch.no_grad():
        assert torch.equal(half(input_ids=ids).logits, model(input_ids=ids).logits)


@pytest.mark.parametrize("checkpointing", [True, False])
def test_checkpointing_reaches_trl_under_the_current_name(checkpointing: bool, tmp_path: Path) -> None:
    """`train.gradient_checkpointing` is passed as transformers' `activation_checkpointing` (the old name warns and
    goes in v6); TRL, whose own default is True, reads it under either name."""
    import warnings

    from trl import SFTConfig

    from finetune.train import _common_args

    recipe = Recipe.model_validate({"model": "m", "stage": "sft", "data": {"path": "d"}, "output_dir": "o",
                                    "train": {"gradient_checkpointing": checkpointing}})
    with warnings.catch_warnings():
        warnings.simplefilter("error", FutureWarning)
        args = SFTConfig(**_common_args(recipe, tmp_path))
    assert args.activation_checkpointing is checkpointing and args.gradient_checkpointing is checkpointing
