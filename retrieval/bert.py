"""A BERT sentence encoder in NumPy: mean-pooled, L2-normalised embeddings of a sentence-transformers BERT folder.

Why: `veritune index search` embeds one query. Through sentence-transformers that costs an import of torch and
transformers (about 12 s of a 13 s command on the 2-core reference machine) for a 22 M-parameter encoder whose
forward pass takes milliseconds. This module needs only NumPy, `tokenizers` and `safetensors`; its vectors equal
sentence-transformers' within float32 rounding (`tests/retrieval/test_bert.py` checks them against it).

Supported: the folder layout sentence-transformers writes for a `BertModel` with absolute positions, GELU, mean
pooling and a Normalize module (all-MiniLM-L6-v2, the embedder the `minilm` name ships). Anything else is refused by
`check_folder` with the reason, and the caller uses sentence-transformers.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from veritune.errors import VerituneError


def _erf(x: np.ndarray) -> np.ndarray:
    """Abramowitz & Stegun 7.1.26 (max error 1.5e-7, below float32 resolution at GELU's scale); avoids SciPy."""
    sign = np.sign(x)
    a = np.abs(x)
    t = 1.0 / (1.0 + 0.3275911 * a)
    poly = t * (0.254829592 + t * (-0.284496736 + t * (1.421413741 + t * (-1.453152027 + t * 1.061405429))))
    return sign * (1.0 - poly * np.exp(-a * a))


def _gelu(x: np.ndarray) -> np.ndarray:
    return 0.5 * x * (1.0 + _erf(x / np.float32(np.sqrt(2.0)))).astype(np.float32)


def _layer_norm(x: np.ndarray, weight: np.ndarray, bias: np.ndarray, eps: float) -> np.ndarray:
    mean = x.mean(-1, keepdims=True)
    var = ((x - mean) ** 2).mean(-1, keepdims=True)
    return (x - mean) / np.sqrt(var + eps) * weight + bias


def _read_json(path: Path) -> dict:
    return json.loads(path.read_text(encoding="utf-8")) if path.is_file() else {}


def check_folder(folder: Path) -> str | None:
    """Why this folder cannot be encoded here (None when it can)."""
    config = _read_json(folder / "config.json")
    modules = [m.get("type", "") for m in _read_json_list(folder / "modules.json")]
    pooling = _read_json(folder / "1_Pooling" / "config.json")
    checks = {
        "not a BertModel": config.get("model_type") != "bert",
        "positions are not absolute": config.get("position_embedding_type", "absolute") != "absolute",
        "activation is not GELU": config.get("hidden_act") != "gelu",
        "no model.safetensors": not (folder / "model.safetensors").is_file(),
        "no tokenizer.json": not (folder / "tokenizer.json").is_file(),
        "pooling is not mean pooling": not pooling.get("pooling_mode_mean_tokens") or any(
            pooling.get(k) for k in ("pooling_mode_cls_token", "pooling_mode_max_tokens",
                                     "pooling_mode_mean_sqrt_len_tokens")),
        "modules are not Transformer, Pooling, Normalize": [m.rsplit(".", 1)[-1] for m in modules] != [
            "Transformer", "Pooling", "Normalize"],
    }
    failed = [reason for reason, bad in checks.items() if bad]
    return "; ".join(failed) or None


def _read_json_list(path: Path) -> list[dict]:
    return json.loads(path.read_text(encoding="utf-8")) if path.is_file() else []


class NumpyBertEncoder:
    """Encodes texts as sentence-transformers would: truncate to max_seq_length, BERT, mean-pool, normalise."""

    def __init__(self, name: str, folder: Path, batch_size: int = 32) -> None:
        reason = check_folder(folder)
        if reason:
            raise VerituneError(f"{folder} cannot be encoded without sentence-transformers: {reason}",
                                field="embedder")
        from safetensors.numpy import load_file
        from tokenizers import Tokenizer

        config = _read_json(folder / "config.json")
        max_len = int(_read_json(folder / "sentence_bert_config.json").get("max_seq_length", 512))
        self.name = name
        self.dim = int(config["hidden_size"])
        self.batch_size = batch_size
        self._heads = int(config["num_attention_heads"])
        self._layers = int(config["num_hidden_layers"])
        self._eps = float(config.get("layer_norm_eps", 1e-12))
        self._weights = {k.removeprefix("bert."): v for k, v in load_file(str(folder / "model.safetensors")).items()}
        self._tokenizer = Tokenizer.from_file(str(folder / "tokenizer.json"))
        self._tokenizer.enable_truncation(max_length=max_len)
        self._tokenizer.enable_padding(pad_id=int(config.get("pad_token_id", 0)))

    def _w(self, key: str) -> np.ndarray:
        return self._weights[key]

    def _linear(self, x: np.ndarray, prefix: str) -> np.ndarray:
        return x @ self._w(f"{prefix}.weight").T + self._w(f"{prefix}.bias")

    def _attention(self, x: np.ndarray, mask_bias: np.ndarray, prefix: str) -> np.ndarray:
        batch, length, hidden = x.shape
        head_dim = hidden // self._heads

        def split(t: np.ndarray) -> np.ndarray:
            return t.reshape(batch, length, self._heads, head_dim).transpose(0, 2, 1, 3)

        q, k, v = (split(self._linear(x, f"{prefix}.self.{n}")) for n in ("query", "key", "value"))
        scores = q @ k.transpose(0, 1, 3, 2) / np.float32(np.sqrt(head_dim)) + mask_bias
        scores = np.exp(scores - scores.max(-1, keepdims=True))
        context = (scores / scores.sum(-1, keepdims=True)) @ v
        context = context.transpose(0, 2, 1, 3).reshape(batch, length, hidden)
        out = self._linear(context, f"{prefix}.output.dense") + x
        return _layer_norm(out, self._w(f"{prefix}.output.LayerNorm.weight"),
                           self._w(f"{prefix}.output.LayerNorm.bias"), self._eps)

    def _layer(self, x: np.ndarray, mask_bias: np.ndarray, i: int) -> np.ndarray:
        prefix = f"encoder.layer.{i}"
        x = self._attention(x, mask_bias, f"{prefix}.attention")
        inner = _gelu(self._linear(x, f"{prefix}.intermediate.dense"))
        out = self._linear(inner, f"{prefix}.output.dense") + x
        norm = f"{prefix}.output.LayerNorm"
        return _layer_norm(out, self._w(f"{norm}.weight"), self._w(f"{norm}.bias"), self._eps)

    def _batch(self, texts: Sequence[str]) -> np.ndarray:
        encodings = self._tokenizer.encode_batch(list(texts))
        ids = np.array([e.ids for e in encodings], dtype=np.int64)
        types = np.array([e.type_ids for e in encodings], dtype=np.int64)
        mask = np.array([e.attention_mask for e in encodings], dtype=np.float32)
        positions = np.arange(ids.shape[1])
        x = (self._w("embeddings.word_embeddings.weight")[ids] + self._w("embeddings.position_embeddings.weight")[
            positions][None] + self._w("embeddings.token_type_embeddings.weight")[types])
        x = _layer_norm(x, self._w("embeddings.LayerNorm.weight"), self._w("embeddings.LayerNorm.bias"), self._eps)
        mask_bias = ((1.0 - mask) * np.finfo(np.float32).min)[:, None, None, :].astype(np.float32)
        for i in range(self._layers):
            x = self._layer(x, mask_bias, i)
        pooled = (x * mask[:, :, None]).sum(1) / np.clip(mask.sum(1, keepdims=True), 1e-9, None)
        return pooled / np.clip(np.linalg.norm(pooled, axis=1, keepdims=True), 1e-12, None)

    def _encode(self, texts: Sequence[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dim), np.float32)
        # Sorted by length so each batch pads little, as sentence-transformers does; results go back in input order.
        order = sorted(range(len(texts)), key=lambda i: -len(texts[i]))
        out = np.zeros((len(texts), self.dim), np.float32)
        for start in range(0, len(order), self.batch_size):
            chunk = order[start:start + self.batch_size]
            out[chunk] = self._batch([texts[i] for i in chunk])
        return out

    passages = _encode
    queries = _encode
