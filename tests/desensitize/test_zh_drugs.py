"""Chinese drug names are no person or place (desensitize/zh_drugs.py): pieces of them that news-trained taggers read
as names are dropped, names next to a drug are not."""

from __future__ import annotations

import pytest

from desensitize.zh_drugs import inside_drug_name


def _span(text: str, piece: str) -> tuple[int, int]:
    start = text.index(piece)
    return start, start + len(piece)


@pytest.mark.parametrize(("text", "piece", "inside"), [
    ("患者服用阿托伐他汀后血脂下降", "阿托", True),        # the drug goes on after the piece
    ("改用氯吡格雷抗血小板", "格雷", True),                # the drug ending starts before the piece
    ("静脉头孢曲松每日一次", "曲松", True),                # a prefix stem (cef-)
    ("静脉头孢曲松每日一次", "孢曲松", True),              # across the prefix
    ("与利托那韦合用时减量", "利托那韦", True),            # -navir
    ("加用多替拉韦", "多替拉韦", True),                    # -gravir
    ("前列腺增生用坦索罗辛", "坦索罗辛", True),            # the whole drug
    ("吸入布地奈德福莫特罗", "福莫特罗", True),
    ("张伟服用阿司匹林", "张伟", False),                   # a name a few characters before a drug
    ("格雷今天来复诊", "格雷", False),                     # Grey, the person: 格雷 alone is no drug ending
    ("李福平和王西平来了", "李福平", False),               # given names that end like a drug's last two characters
    ("Dr Grey prescribed rifampicin", "Grey", False),
])
def test_inside_drug_name(text: str, piece: str, inside: bool) -> None:
    assert inside_drug_name(text, *_span(text, piece)) is inside


def test_the_detector_keeps_the_name_and_leaves_the_drugs(detector) -> None:
    text = "患者郑秋萍长期服用阿托伐他汀和氯吡格雷，近期加用坦索罗辛。"
    found = [(s.entity_type, text[s.start:s.end]) for s in detector.analyze(text, "zh")]
    assert found == [("PERSON", "郑秋萍")]
