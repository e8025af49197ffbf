"""Config loading: YAML (or defaults) + `key=value` overrides, validated by a pydantic model.

Errors name the file and the field; an unknown key also names the nearest valid one.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, ValidationError

from veritune.errors import VerituneError, nearest_hint

ModelT = TypeVar("ModelT", bound=BaseModel)


def parse_overrides(items: list[str]) -> dict[str, Any]:
    """`["train.lr=1e-3", "max_steps=5"]` -> `{"train": {"lr": 0.001}, "max_steps": 5}` (values parsed as YAML)."""
    nested: dict[str, Any] = {}
    for item in items:
        key, sep, raw = item.partition("=")
        if not sep or not key.strip():
            raise VerituneError(f"override {item!r} is not key=value", field="overrides")
        node = nested
        parts = key.strip().split(".")
        for part in parts[:-1]:
            node = node.setdefault(part, {})
        node[parts[-1]] = yaml.safe_load(raw) if raw != "" else ""
    return nested


def deep_merge(base: dict[str, Any], extra: dict[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key, value in extra.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = deep_merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def read_yaml(path: Path) -> dict[str, Any]:
    if not path.is_file():
        raise VerituneError("file not found", path=path)
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 1 if mark is not None else None
        raise VerituneError(f"not valid YAML ({getattr(exc, 'problem', 'parse error')})", path=path,
                            line=line) from None
    except UnicodeDecodeError:
        raise VerituneError("not UTF-8 text", path=path) from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise VerituneError("top level must be a mapping of keys to values", path=path)
    return data


def _fields_at(model: type[BaseModel], loc: tuple[Any, ...]) -> list[str]:
    """The field names valid at `loc` inside `model` (best effort, for "did you mean")."""
    current: Any = model
    for part in loc:
        fields = getattr(current, "model_fields", None)
        if not fields or part not in fields:
            return []
        current = fields[part].annotation
    return list(getattr(current, "model_fields", {}))


def validation_error(exc: ValidationError, model: type[BaseModel], source: str | Path | None) -> VerituneError:
    first = exc.errors()[0]
    loc = tuple(first["loc"])
    field = ".".join(str(part) for part in loc)
    if first["type"] == "extra_forbidden":
        valid = _fields_at(model, loc[:-1])
        hint = nearest_hint(str(loc[-1]), valid, cutoff=0.5, listed_as="valid keys")
        return VerituneError(f"unknown key '{loc[-1]}'{hint}", path=source, field=field)
    return VerituneError(first["msg"], path=source, field=field)


def validate(model: type[ModelT], data: dict[str, Any], source: str | Path | None = None) -> ModelT:
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise validation_error(exc, model, source) from None


def load_config(model: type[ModelT], path: str | Path | None = None, overrides: list[str] | None = None) -> ModelT:
    """Read `path` (optional), apply overrides, validate. The result's `model_dump()` is the resolved config."""
    data = read_yaml(Path(path)) if path is not None else {}
    data = deep_merge(data, parse_overrides(overrides or []))
    return validate(model, data, path)
