"""Chinese addresses: province / city / district / road / number, at least two levels together (a lone 市 would
flag 市场, a lone 区 would flag 社区)."""

from __future__ import annotations

import re

from desensitize.presidio_api import RecognizerResult
from desensitize.recognizers._base import TextRecognizer
from desensitize.registry import recognizer

ENTITY = "LOCATION"
_H = r"[\u4e00-\u9fa5]"
PROVINCE = rf"{_H}{{2,7}}?(?:省|自治区|特别行政区)"
CITY = rf"{_H}{{1,7}}?(?:市|自治州|地区|盟)"
DISTRICT = rf"{_H}{{1,7}}?(?:区|县|旗)"
ROAD = rf"{_H}{{1,9}}?(?:路|街|大道|巷|胡同|里|村)"
NUMBER = r"\d{1,5}(?:号|弄)(?:院|楼|栋|座)?(?:\d{1,5}(?:室|单元|号))?"
_ADDRESS = re.compile(
    rf"(?:{PROVINCE})?{CITY}{DISTRICT}(?:{ROAD})?(?:{NUMBER})?"
    rf"|{PROVINCE}{CITY}(?:{ROAD})?(?:{NUMBER})?"
    rf"|(?:{CITY}|{DISTRICT}){ROAD}{NUMBER}"
)
# Field labels that the lazy patterns above can swallow at the start of a match.
_LEADING_LABELS = re.compile(r"^(?:家庭住址|注册地址|现住址|联系地址|住址|地址|住在|位于|来自|籍贯)[:：]?")


class CnAddressRecognizer(TextRecognizer):
    def __init__(self, language: str = "zh") -> None:
        super().__init__(ENTITY, language, "cn_address")

    def find(self, text: str) -> list[RecognizerResult]:
        results = []
        for match in _ADDRESS.finditer(text):
            label = _LEADING_LABELS.match(match.group())
            start = match.start() + (label.end() if label else 0)
            if match.end() - start >= 4:
                results.append(self.result(start, match.end(), 0.7))
        return results


@recognizer("cn_address", (ENTITY,), ("zh",))
def build(language: str) -> CnAddressRecognizer:
    return CnAddressRecognizer(language)
