from pathlib import Path

import pytest
from pydantic import BaseModel, ConfigDict

from veritune.config import load_config, parse_overrides
from veritune.errors import VerituneError


class Train(BaseModel):
    model_config = ConfigDict(extra="forbid")
    learning_rate: float = 1e-3
    max_steps: int = 10


class Recipe(BaseModel):
    model_config = ConfigDict(extra="forbid")
    model: str = "base"
    train: Train = Train()


@pytest.mark.parametrize(
    ("items", "expected"),
    [
        (["a=1"], {"a": 1}),
        (["a.b=x", "a.c=2.5"], {"a": {"b": "x", "c": 2.5}}),
        (["flag=true", "name=runs/x"], {"flag": True, "name": "runs/x"}),
        (["empty="], {"empty": ""}),
    ],
)
def test_parse_overrides(items: list[str], expected: dict) -> None:
    assert parse_overrides(items) == expected


def test_override_without_equals_is_an_error() -> None:
    with pytest.raises(VerituneError, match="not key=value"):
        parse_overrides(["oops"])


def test_yaml_then_overrides(tmp_path: Path) -> None:
    recipe = tmp_path / "r.yaml"
    recipe.write_text("model: m\ntrain:\n  max_steps: 3\n")
    cfg = load_config(Recipe, recipe, ["train.learning_rate=0.5"])
    assert cfg.model_dump() == {"model": "m", "train": {"learning_rate": 0.5, "max_steps": 3}}


def test_unknown_key_names_the_nearest_valid_one(tmp_path: Path) -> None:
    recipe = tmp_path / "r.yaml"
    recipe.write_text("train:\n  learning_rte: 0.1\n")
    with pytest.raises(VerituneError) as info:
        load_config(Recipe, recipe)
    message = str(info.value)
    assert str(recipe) in message and "train.learning_rte" in message and "did you mean 'learning_rate'" in message


def test_wrong_type_names_file_and_field(tmp_path: Path) -> None:
    recipe = tmp_path / "r.yaml"
    recipe.write_text("train:\n  max_steps: many\n")
    with pytest.raises(VerituneError, match=r"r\.yaml \[train\.max_steps\]"):
        load_config(Recipe, recipe)


def test_broken_yaml_names_the_line(tmp_path: Path) -> None:
    recipe = tmp_path / "r.yaml"
    recipe.write_text("model: m\ntrain: [unclosed\n")
    with pytest.raises(VerituneError, match=r"r\.yaml:\d+: not valid YAML"):
        load_config(Recipe, recipe)
