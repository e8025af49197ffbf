"""Chinese named places: a proper name and the kind of place it names, as streets, estates, villages, venues and
buildings are written ('柳荫路', '翠湖苑', '石桥村', '宏达东方广场', '云杉中心').

Address grammar (cn_address) needs two administrative levels; running text names a place by itself. jieba's tagger
reads the name: a place word ('广场', '小区', '酒店') right after a word it tags as a proper noun (a place, a name, an
organisation or another proper noun of two characters or more), or one word it reads whole that ends in a place
word and is a place or person name of three characters or more that its dictionary does not count as common
('翠湖苑', not '城镇' or '古城'), with a proper noun before it ('宏达' + '东方广场'). Generic uses are left alone:
jieba files 商务中心 as an organisation, and a rating (四星酒店) is no name.
Measured on the development sentences (CLUENER): address recall +0.8 points for 0.02 % more of the other characters.
"""

from __future__ import annotations

import logging

import jieba

from desensitize.presidio_api import RecognizerResult
from desensitize.recognizers._base import TextRecognizer, tagged_words, word_frequency
from desensitize.registry import recognizer

ENTITY = "LOCATION"
SCORE = 0.5
PLACE_WORDS = ("村", "街", "路", "大街", "大道", "巷", "胡同", "镇", "乡", "社区", "小区", "花园", "家园", "苑", "公寓",
               "大厦", "楼", "广场", "中心", "商场", "酒店", "馆", "城", "宫", "机场", "景区", "公园", "寺")
PROPER_NOUNS = frozenset({"ns", "nz", "nr", "nt", "nrt", "nrfg"})
NAMES_AND_PLACES = frozenset({"ns", "nr", "nrt", "nrfg"})    # jieba files 商务中心 as an organisation (nt)
_NUMERALS = set("一二三四五六七八九十百千万几两")                 # 四星酒店, 五星级: a rating, no name
COMMON_WORD_FREQUENCY = 1000   # jieba counts: 城镇, 小镇 and 古城 are words; 翠湖苑 is a name
MIN_NAME = 2


class CnNamedPlaceRecognizer(TextRecognizer):
    def __init__(self, language: str = "zh") -> None:
        jieba.setLogLevel(logging.ERROR)
        super().__init__(ENTITY, language, "cn_named_place")

    def find(self, text: str) -> list[RecognizerResult]:
        words, offset = [], 0
        for word, flag in tagged_words(text):
            words.append((offset, word, flag))
            offset += len(word)
        results = []
        for i, (start, word, flag) in enumerate(words):
            if word in PLACE_WORDS and i > 0 and _proper_name(*words[i - 1][1:]):
                results.append(self.result(words[i - 1][0], start + len(word), SCORE))
            elif _named_place_word(word, flag):
                # a name before it belongs to it: 宏达 + 东方广场
                first = words[i - 1][0] if i > 0 and _proper_name(*words[i - 1][1:]) else start
                results.append(self.result(first, start + len(word), SCORE))
        return results


def _proper_name(word: str, flag: str) -> bool:
    return flag in PROPER_NOUNS and len(word) >= MIN_NAME and word[0] not in _NUMERALS


def _named_place_word(word: str, flag: str) -> bool:
    return (flag in NAMES_AND_PLACES and len(word) >= 3 and word.endswith(PLACE_WORDS)
            and word_frequency(word) < COMMON_WORD_FREQUENCY)


@recognizer("cn_named_place", (ENTITY,), ("zh",))
def build(language: str) -> CnNamedPlaceRecognizer:
    return CnNamedPlaceRecognizer(language)
