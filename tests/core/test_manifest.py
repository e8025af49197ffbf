import json
from pathlib import Path

import pytest

from veritune.errors import VerituneError
from veritune.manifest import Manifest, file_record, read_manifest, verify_outputs, write_manifest
from veritune.runs import RUN_CONFIG, open_run


def test_run_folder_has_config_versions_and_manifest(tmp_path: Path) -> None:
    source = tmp_path / "in.txt"
    source.write_text("input")
    with open_run(tmp_path / "run", kind="test", config={"a": 1}, seed=7, inputs=[source]) as run:
        (run.path / "out.txt").write_text("hello")
        run.stats["n"] = 1
    manifest = read_manifest(tmp_path / "run" / "manifest.json")
    assert manifest.kind == "test" and manifest.seed == 7 and manifest.config == {"a": 1}
    assert {r.path for r in manifest.outputs} == {"out.txt", RUN_CONFIG}
    assert manifest.inputs[0].sha256 == file_record(source).sha256
    assert manifest.packages["torch"].startswith("2.13")
    assert "seed: 7" in (tmp_path / "run" / RUN_CONFIG).read_text()
    verify_outputs(manifest, tmp_path / "run", tmp_path / "run" / "manifest.json")


def test_a_failed_run_leaves_nothing_that_looks_finished(tmp_path: Path) -> None:
    with pytest.raises(RuntimeError), open_run(tmp_path / "run", kind="test", config={}) as run:
        (run.path / "half.bin").write_bytes(b"x")
        raise RuntimeError("crash in the middle")
    assert not (tmp_path / "run").exists()
    assert list(tmp_path.iterdir()) == []


def test_rerun_replaces_the_old_folder_whole(tmp_path: Path) -> None:
    for text in ("first", "second"):
        with open_run(tmp_path / "run", kind="test", config={}) as run:
            (run.path / "out.txt").write_text(text)
    assert (tmp_path / "run" / "out.txt").read_text() == "second"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["run"]


def test_tampered_output_fails_verification(tmp_path: Path) -> None:
    with open_run(tmp_path / "run", kind="test", config={}) as run:
        (run.path / "out.txt").write_text("hello")
    (tmp_path / "run" / "out.txt").write_text("hellO")
    manifest_file = tmp_path / "run" / "manifest.json"
    with pytest.raises(VerituneError, match="out.txt does not match its recorded sha256"):
        verify_outputs(read_manifest(manifest_file), tmp_path / "run", manifest_file)


@pytest.mark.parametrize(
    ("content", "message"),
    [("{not json", "not valid JSON"), (json.dumps({"kind": 3}), "kind"), (json.dumps({"kind": "x", "bogus": 1}),
                                                                           "bogus")],
)
def test_bad_manifest_is_one_clear_error(tmp_path: Path, content: str, message: str) -> None:
    path = tmp_path / "m.json"
    path.write_text(content)
    with pytest.raises(VerituneError, match=message):
        read_manifest(path)


def test_manifest_round_trip(tmp_path: Path) -> None:
    manifest = Manifest(kind="dataset", desensitized=True, stats={"records": 3})
    write_manifest(tmp_path / "x.manifest.json", manifest)
    read = read_manifest(tmp_path / "x.manifest.json")
    assert read.model_copy(update={"signature": None}) == manifest and len(read.signature) == 64


def test_manifests_are_signed_and_an_edit_or_another_key_is_refused(tmp_path: Path, monkeypatch) -> None:
    from veritune.manifest import check_signature

    monkeypatch.delenv("VERITUNE_MANIFEST_KEY", raising=False)
    monkeypatch.setenv("VERITUNE_MANIFEST_KEY_FILE", str(tmp_path / "keys" / "manifest.key"))
    target = write_manifest(tmp_path / "m.json", Manifest(kind="dataset", desensitized=True))
    key_file = tmp_path / "keys" / "manifest.key"
    assert key_file.stat().st_mode & 0o777 == 0o600 and len(key_file.read_text().strip()) == 64
    manifest = read_manifest(target)
    check_signature(manifest, target)                                         # made here: verifies
    edited = json.loads(target.read_text())
    edited["stats"] = {"records": 1}
    target.write_text(json.dumps(edited))
    with pytest.raises(VerituneError, match="signature does not verify"):
        check_signature(read_manifest(target), target)
    monkeypatch.setenv("VERITUNE_MANIFEST_KEY", "another machine's key")
    with pytest.raises(VerituneError, match="another manifest key"):
        check_signature(manifest, target)
    unsigned = manifest.model_copy(update={"signature": None})
    with pytest.raises(VerituneError, match="not signed"):
        check_signature(unsigned, target)


def test_verify_outputs_can_refuse_files_the_manifest_does_not_list(tmp_path: Path) -> None:
    with open_run(tmp_path / "run", kind="test", config={}) as run:
        (run.path / "out.txt").write_text("hello")
    manifest_file = tmp_path / "run" / "manifest.json"
    manifest = read_manifest(manifest_file)
    (tmp_path / "run" / "dropped.txt").write_text("unlisted")
    verify_outputs(manifest, tmp_path / "run", manifest_file)                  # the listed files are intact
    with pytest.raises(VerituneError, match="dropped.txt is in the folder but not in its manifest"):
        verify_outputs(manifest, tmp_path / "run", manifest_file, only_listed=True)


def test_require_finished_refuses_unfinished_folders_unless_allowed(tmp_path: Path) -> None:
    from veritune.runs import require_finished

    with open_run(tmp_path / "run", kind="finetune_run", config={"model": "m"}) as run:
        (run.path / "adapter.bin").write_bytes(b"weights")
    assert require_finished(tmp_path / "run", "finetune_run").kind == "finetune_run"
    with pytest.raises(VerituneError, match="is a finetune_run folder, not a index"):
        require_finished(tmp_path / "run", "index")
    (tmp_path / "run" / "adapter.bin").write_bytes(b"swapped")
    with pytest.raises(VerituneError, match="does not match its recorded sha256"):
        require_finished(tmp_path / "run", "finetune_run")
    (tmp_path / "run" / "manifest.json").unlink()
    with pytest.raises(VerituneError, match="has no manifest.json.*--allow-unfinished"):
        require_finished(tmp_path / "run", "finetune_run")
    assert require_finished(tmp_path / "run", "finetune_run", allow_unfinished=True) is None
