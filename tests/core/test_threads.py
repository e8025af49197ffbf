import pytest
import torch

from veritune.errors import VerituneError
from veritune.threads import apply_thread_limits, configured_threads


def test_default_is_one_thread(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("VERITUNE_THREADS", raising=False)
    assert configured_threads() == 1


def test_env_override_reaches_torch(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("VERITUNE_THREADS", "2")
    try:
        assert apply_thread_limits() == 2
        assert torch.get_num_threads() == 2
    finally:
        monkeypatch.setenv("VERITUNE_THREADS", "1")
        apply_thread_limits()
    assert torch.get_num_threads() == 1


@pytest.mark.parametrize("bad", ["zero", "0", "-3"])
def test_bad_value_is_a_clear_error(monkeypatch: pytest.MonkeyPatch, bad: str) -> None:
    monkeypatch.setenv("VERITUNE_THREADS", bad)
    with pytest.raises(VerituneError, match="VERITUNE_THREADS must be a positive integer"):
        configured_threads()
