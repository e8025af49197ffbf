import pytest

from veritune.errors import VerituneError
from veritune.registry import Registry


def test_register_and_get() -> None:
    metrics: Registry[object] = Registry("metric")

    @metrics.register("exact_match")
    def exact_match() -> int:
        return 1

    assert metrics.get("exact_match") is exact_match
    assert "exact_match" in metrics and metrics.names() == ["exact_match"] and len(metrics) == 1


def test_unknown_name_suggests_the_nearest() -> None:
    metrics: Registry[int] = Registry("metric")
    metrics.add("token_f1", 1)
    with pytest.raises(VerituneError, match="unknown metric 'token_f2'; did you mean 'token_f1'"):
        metrics.get("token_f2")


def test_registering_a_name_twice_is_an_error() -> None:
    metrics: Registry[int] = Registry("metric")
    metrics.add("a", 1)
    with pytest.raises(VerituneError, match="registered twice"):
        metrics.add("a", 2)
