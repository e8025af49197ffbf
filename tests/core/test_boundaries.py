"""Stage boundaries: a stage uses another stage only through its facade (its `__init__`), every facade name
exists, and nothing but the CLI reaches the apps."""

from __future__ import annotations

import ast
import importlib
from pathlib import Path

import pytest

from tests.conftest import REPO

STAGES = ("desensitize", "finetune", "retrieval", "eval", "apps", "basemodel")
CODE = (*STAGES, "veritune")


def imported_modules(path: Path) -> list[tuple[int, str]]:
    """(line, module) of every absolute import in a file, function-level imports included."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.append((node.lineno, node.module))
        elif isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
    return found


def cross_stage_imports() -> list[tuple[str, int, str]]:
    rows = []
    for package in CODE:
        for path in sorted((REPO / package).rglob("*.py")):
            for line, module in imported_modules(path):
                top = module.split(".")[0]
                if top in STAGES and top != package:
                    rows.append((str(path.relative_to(REPO)), line, module))
    return rows


def test_the_scan_sees_function_level_imports(tmp_path: Path) -> None:
    sample = tmp_path / "x.py"
    sample.write_text("import os\n\ndef f():\n    from retrieval.index import Hit\n    import eval.harness\n")
    assert imported_modules(sample) == [(1, "os"), (4, "retrieval.index"), (5, "eval.harness")]


def test_stages_import_each_other_only_through_facades() -> None:
    private = [f"{path}:{line}: {module}" for path, line, module in cross_stage_imports() if "." in module]
    assert not private, "private modules of another stage (use its package's public names):\n" + "\n".join(private)


def test_only_the_cli_reaches_the_apps() -> None:
    users = {path for path, _, module in cross_stage_imports() if module.split(".")[0] == "apps"}
    assert users <= {"veritune/cli.py"}, users


@pytest.mark.parametrize("stage", STAGES)
def test_every_facade_name_exists(stage: str) -> None:
    module = importlib.import_module(stage)
    assert module.__doc__ and "not built yet" not in module.__doc__ and "in progress" not in module.__doc__
    assert module.__all__ == sorted(module.__all__) and module.__all__
    missing = [name for name in module.__all__ if not hasattr(module, name)]
    assert not missing, f"{stage} lists names it does not have: {missing}"
