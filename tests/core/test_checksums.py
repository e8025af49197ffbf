import pytest

from veritune.checksums import cn_id_valid, iban_valid, luhn_check_digit, luhn_valid, uscc_valid


@pytest.mark.parametrize(
    ("value", "valid"),
    [
        ("11010519491231002X", True),   # the textbook example of GB 11643
        ("110105194912310021", False),  # same digits, wrong check character
        ("11010519491231002", False),   # 17 characters
        ("1101051949123100XX", False),
    ],
)
def test_cn_resident_id(value: str, valid: bool) -> None:
    assert cn_id_valid(value) is valid


@pytest.mark.parametrize(
    ("value", "valid"),
    [("4111111111111111", True), ("4111111111111112", False), ("79927398713", True), ("abc", False)],
)
def test_luhn(value: str, valid: bool) -> None:
    assert luhn_valid(value) is valid


def test_luhn_check_digit_completes_a_number() -> None:
    assert luhn_check_digit("7992739871") == "3"


@pytest.mark.parametrize(
    ("value", "valid"),
    [
        ("91350100M000100Y43", True),   # the worked example of GB 32100-2015
        ("91350100M000100Y44", False),
        ("91350100M000100YI3", False),  # I is not in the character set
    ],
)
def test_uscc(value: str, valid: bool) -> None:
    assert uscc_valid(value) is valid


@pytest.mark.parametrize(
    ("value", "valid"),
    [("GB82 WEST 1234 5698 7654 32", True), ("GB82WEST12345698765433", False), ("DE89370400440532013000", True)],
)
def test_iban(value: str, valid: bool) -> None:
    assert iban_valid(value) is valid
