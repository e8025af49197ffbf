import os
from pathlib import Path

import pytest

from veritune.atomic import atomic_file, write_json
from veritune.errors import VerituneError


def test_atomic_file_keeps_the_old_content_when_writing_fails(tmp_path: Path) -> None:
    target = tmp_path / "data.jsonl"
    target.write_text("old\n")
    with pytest.raises(ValueError), atomic_file(target) as handle:
        handle.write("new partial")
        raise ValueError("disk full")
    assert target.read_text() == "old\n"
    assert [p.name for p in tmp_path.iterdir()] == ["data.jsonl"]


def test_written_file_has_normal_permissions(tmp_path: Path) -> None:
    write_json(tmp_path / "a.json", {"a": 1})
    mode = (tmp_path / "a.json").stat().st_mode & 0o777
    assert mode & 0o044, f"mode {oct(mode)} is not readable by others"


@pytest.mark.skipif(os.geteuid() == 0, reason="root can write anywhere")
def test_unwritable_folder_is_a_clear_error(tmp_path: Path) -> None:
    locked = tmp_path / "locked"
    locked.mkdir(mode=0o500)
    with pytest.raises(VerituneError, match="not writable"):
        write_json(locked / "a.json", {})


def test_output_under_a_file_is_a_clear_error(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(VerituneError, match="cannot create output folder"):
        write_json(blocker / "sub" / "a.json", {})
