"""Every field a user can set (recipes, packs, tasks, index, answer, eval, app and serve settings, base builds)
has a description: the one place its help text lives."""

from __future__ import annotations

import importlib
import inspect

import pytest
from pydantic import BaseModel

CONFIG_MODULES = ("veritune.packs", "desensitize.config", "finetune.recipe", "retrieval.config", "eval.config",
                  "eval.tasks", "apps.config", "basemodel.config")


def config_models() -> list[type[BaseModel]]:
    found = []
    for name in CONFIG_MODULES:
        module = importlib.import_module(name)
        found += [cls for _, cls in inspect.getmembers(module, inspect.isclass)
                  if issubclass(cls, BaseModel) and cls.__module__ == name and cls.model_fields]
    return found


def test_the_scan_finds_the_configs() -> None:
    names = {cls.__name__ for cls in config_models()}
    assert {"Recipe", "TrainSettings", "EvalConfig", "AnswerSettings", "ServeConfig", "TaskSpec", "PackSpec"} <= names


@pytest.mark.parametrize("model", config_models(), ids=lambda cls: f"{cls.__module__}.{cls.__name__}")
def test_every_field_has_a_description(model: type[BaseModel]) -> None:
    missing = [name for name, info in model.model_fields.items() if not (info.description or "").strip()]
    assert not missing, f"{model.__name__}: fields without a description: {missing}"


@pytest.mark.parametrize(("command", "model_path", "renamed"), [
    (("desensitize", "run"), "desensitize.config.DesensitizeConfig", {}),
    (("eval", "run"), "eval.config.EvalConfig", {"adapter": "adapters", "index": "indexes", "api_model": "api_models"}),
    (("index", "build"), "retrieval.config.IndexSettings", {}),
])
def test_cli_options_take_their_help_from_the_config_field(command: tuple[str, ...], model_path: str,
                                                           renamed: dict[str, str]) -> None:
    import typer.main

    from veritune.cli import app

    module, _, name = model_path.rpartition(".")
    model = getattr(importlib.import_module(module), name)
    group = typer.main.get_command(app)
    for part in command:
        group = group.commands[part]
    checked = 0
    for param in group.params:
        field = renamed.get(param.name, param.name)
        if field in model.model_fields and getattr(param, "help", None):
            assert param.help.startswith(model.model_fields[field].description), (command, param.name)
            checked += 1
    assert checked >= 1
