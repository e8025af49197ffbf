"""CLI options whose help text and default come from the pydantic field they set, so a setting is described in one
place (its `Field(description=...)`) and `--help`, the docs and validation cannot disagree."""

from __future__ import annotations

from typing import Any

import typer
from pydantic import BaseModel


def field_help(model: type[BaseModel], name: str) -> str:
    """The field's description (a missing one is a bug a test catches)."""
    return model.model_fields[name].description or ""


def field_option(model: type[BaseModel], name: str, *flags: str, default: Any = ..., help_suffix: str = "") -> Any:
    """A typer Option for `model.name`: the field's own default and description unless `default` is given."""
    info = model.model_fields[name]
    value = (None if info.is_required() else info.get_default(call_default_factory=True)) if default is ... \
        else default
    flags = flags or (f"--{name.replace('_', '-')}",)
    return typer.Option(value, *flags, help=field_help(model, name) + help_suffix)


def fields_epilog(model: type[BaseModel], exclude: tuple[str, ...] = ()) -> str:
    """KEY=VALUE settings of `model`, one line each, for a command's epilog."""
    lines = [f"{name}: {info.description}" for name, info in model.model_fields.items() if name not in exclude]
    return "KEY=VALUE settings:\n\n" + "\n\n".join(lines)
