"""The README's cheap commands, run as a user runs them: the installed `veritune` script in a subprocess."""

import re
from pathlib import Path

import pytest

from tests.conftest import REPO, run_cli


def test_help_lists_every_stage() -> None:
    result = run_cli("--help")
    assert result.returncode == 0
    for command in ("version", "base", "packs", "desensitize", "finetune", "index", "eval", "app", "serve", "demo"):
        assert re.search(rf"\b{command}\b", result.stdout), command


def test_version_prints_the_stack() -> None:
    result = run_cli("version")
    assert result.returncode == 0
    assert result.stdout.startswith("veritune 0.1.0")
    for name in ("torch", "transformers", "peft", "trl", "datasets", "faiss-cpu", "presidio-analyzer", "gradio"):
        assert re.search(rf"^\s+{re.escape(name)}\s+\d", result.stdout, re.M), name


@pytest.mark.slow
def test_readme_base_build(tmp_path: Path) -> None:
    result = run_cli("base", "build", "--out", str(tmp_path / "base"), "--size", "tiny", "--pretrain-steps", "2")
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "base" / "model.safetensors").is_file()
    assert "base model written to" in result.stdout


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["base", "build", "--size", "huge"], r"\[size\]: Input should be 'tiny' or 'small'"),
        (["base", "build", "pretrain_step=3"], r"unknown key 'pretrain_step'; did you mean 'pretrain_steps'"),
        (["base", "build", "--pretrain-steps", "-1"], r"\[pretrain_steps\]"),
        (["app", "dental"], r"unknown app 'dental'; known: finance, medical"),
        (["app", "medical", "--model", "x", "--adapter", "y", "--index", "z", "kk=3"], r"unknown key 'kk'"),
        (["serve", "key", "add", "ann", "--rate", "lots"], r"rate 'lots' is not a limit"),
        (["eval", "--tasks", "medical_triag"], r"unknown task 'medical_triag'; did you mean 'medical_triage'"),
        (["finetune", "missing_recipe.yaml"], r"missing_recipe\.yaml: file not found"),
    ],
)
def test_bad_input_is_one_line_and_non_zero(args: list[str], message: str, tmp_path: Path) -> None:
    result = run_cli(*args, "--out", str(tmp_path / "o")) if args[0] == "base" else run_cli(*args)
    assert result.returncode == 2
    assert re.search(message, result.stderr), result.stderr
    assert "Traceback" not in result.stderr and len(result.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "o").exists()


def test_output_under_a_file_fails_cleanly_and_writes_nothing(tmp_path: Path) -> None:
    blocker = tmp_path / "blocker"
    blocker.write_text("a file, not a folder")
    result = run_cli("base", "build", "--out", str(blocker / "base"))
    assert result.returncode == 2
    assert "cannot create output folder" in result.stderr and "Traceback" not in result.stderr
    assert blocker.read_text() == "a file, not a folder"


def test_missing_pack_file_is_reported(tmp_path: Path) -> None:
    import shutil

    domains = tmp_path / "domains"
    shutil.copytree(REPO / "domains" / "finance", domains / "finance")
    (domains / "finance" / "kb" / "rules.jsonl").unlink()
    import os

    os.environ["VERITUNE_DOMAINS"] = str(domains)
    try:
        result = run_cli("packs", "list")
    finally:
        del os.environ["VERITUNE_DOMAINS"]
    assert result.returncode == 2
    assert "pack.yaml [knowledge_base]: names kb/rules.jsonl, which does not exist" in result.stderr


def test_app_and_serve_without_the_demo_say_what_to_run(tmp_path: Path) -> None:
    for args in (["app", "medical"], ["serve", "--port", "0"]):
        result = run_cli(*args, cwd=tmp_path)
        assert result.returncode == 2 and "run `make demo` first" in result.stderr, result.stderr
        assert "Traceback" not in result.stderr


def test_serve_key_add_list_revoke(tmp_path: Path) -> None:
    keys = str(tmp_path / "keys.sqlite")
    made = run_cli("serve", "key", "add", "ward-7", "--rate", "5/second", "--quota", "1000", "--models",
                   "veritune-medical", "--keys", keys)
    assert made.returncode == 0, made.stderr
    key = made.stdout.strip()
    assert key.startswith("vt-") and len(key) > 40 and "not shown again" in made.stderr
    assert key not in (tmp_path / "keys.sqlite").read_bytes().decode("latin-1")      # stored hashed only
    listed = run_cli("serve", "key", "list", "--keys", keys)
    assert "ward-7" in listed.stdout and "5/second" in listed.stdout and key not in listed.stdout
    assert run_cli("serve", "key", "add", "ward-7", "--keys", keys).returncode == 2   # names are unique
    assert run_cli("serve", "key", "revoke", "ward-7", "--keys", keys).returncode == 0
    assert "yes" in run_cli("serve", "key", "list", "--keys", keys).stdout
    missing = run_cli("serve", "key", "revoke", "nobody", "--keys", keys)
    assert missing.returncode == 2 and "no key named 'nobody'" in missing.stderr
