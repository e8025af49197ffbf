"""Chinese drug names, by the endings their transliterations share (the Chinese forms of the WHO's INN stems:
-olol 洛尔, -pril 普利, -sartan 沙坦, -statin 他汀, -vir 韦 (-navir 那韦, -gravir 拉韦), -azole 唑, ...).

jieba's tagger and the name tagger were trained on news, where 阿托, 格雷 or 坦索罗辛 read as names and places; in
clinical text they are pieces of 阿托伐他汀, 氯吡格雷 and 坦索罗辛 (tamsulosin). A person or place result that lies in
a drug name, or that a drug ending closes within a few characters, is no identifier. Names followed by a drug a few
characters later ('张伟服用阿司匹林') are untouched: the drug must start inside the result or right after it.
"""

from __future__ import annotations

import re

# Endings that also end given names or foreign names (格雷 Grey, 奈德 Ned, 福平, 西平) are written with the character
# before them (氯吡格雷, 布地奈德, 利福平, 卡马西平); single characters only where no name uses them.
STEMS = (
    "洛尔", "地洛", "普利", "沙坦", "他汀", "吡格雷", "拉格雷", "瑞洛", "西林", "霉素", "沙星",
    "替尼", "单抗", "康唑", "拉唑", "咪唑", "洛韦", "他韦", "那韦", "拉韦", "布韦", "地平", "米松", "的松", "尼松",
    "松龙", "地奈德", "特罗", "帕米", "西坦", "列净", "列汀", "鲁肽", "胰岛素", "肝素", "他滨",
    "卡因", "培南", "沙班", "加群", "曲坦", "那非", "太尼", "西泮", "唑仑", "考酮", "洛酮",
    "司琼", "替丁", "洛芬", "普生", "巴胺", "腺素", "地高辛", "碘酮", "法林", "匹林", "曲林",
    "西汀", "法辛", "硫平", "氮平", "培酮", "啶醇", "丁醇", "胺醇", "嘌醇", "嘌呤", "蝶呤",
    "莫司", "氯喹", "马西平", "妥英", "喷丁", "曲马多", "妥因", "罗辛", "雄胺", "膦酸", "噻嗪",
    "帕胺", "塞米", "内酯", "双胍", "利福平", "环素", "司特", "溴铵", "硫卓", "酰胺", "氨基酚",
    "蛋白", "嗪", "唑", "铂", "肼",
)
PREFIXES = ("头孢",)      # cef-: 头孢曲松, 头孢呋辛
_STEM = re.compile("|".join(sorted(STEMS, key=len, reverse=True)))
_HAN = re.compile(r"[\u4e00-\u9fa5]+")
_LONGEST = max(len(stem) for stem in STEMS)
REACH = 3        # characters of a drug name that may follow the result: 阿托|伐他汀, 左乙|拉西坦


def inside_drug_name(text: str, start: int, end: int) -> bool:
    """The Chinese result text[start:end] is part of a drug name: a drug ending overlaps it (头孢|曲松, 氯吡|格雷) or
    closes the same run of Han characters at most REACH characters after it."""
    if not _HAN.fullmatch(text[start:end]):
        return False
    # the prefix before, inside or across the result's start: 头孢|曲松, 头|孢曲松
    if any(prefix in text[max(0, start - len(prefix)):end] for prefix in PREFIXES):
        return True
    for match in _STEM.finditer(text, max(0, start - _LONGEST + 1), min(len(text), end + REACH + _LONGEST)):
        if match.end() <= start:
            continue                           # ends before the result: 'X片后张伟…' names stay
        if match.end() <= end or (match.end() - end <= REACH and _HAN.fullmatch(text[end:match.end()])):
            return True
    return False
