"""Chinese person names: a surname from the list below plus one or two given-name characters, found after a cue
(患者, 姓名, 家属, 客户, 法定代表人, ...) or tagged `nr` by jieba. jieba alone misses about one name in five
(it splits unseen names), so the cue rule leads and jieba decides where a name ends; names jieba tags without a
cue count too, when they read as names (a surname and a given name that is no common word)."""

from __future__ import annotations

import logging
import re

import jieba

from desensitize.presidio_api import LocalRecognizer, NlpArtifacts, RecognizerResult
from desensitize.recognizers._base import jieba_tagger, tagged_spans, tagged_words, word_frequency
from desensitize.registry import recognizer

ENTITY = "PERSON"
COMPOUND_SURNAMES = ("欧阳", "司马", "上官", "诸葛", "东方", "皇甫", "尉迟", "公孙", "慕容", "长孙", "宇文", "司徒",
                     "夏侯", "令狐", "轩辕", "端木", "独孤", "南宫", "西门", "百里")
SURNAMES = set(
    "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡余杜叶程苏魏吕丁任沈姚卢姜崔钟"
    "谭陆汪范金石廖贾夏韦付方白邹孟熊秦邱江尹薛闫段雷侯龙史陶黎贺顾毛郝龚邵万钱严覃武戴莫孔向汤常温康施文牛樊葛邢"
    "安齐易乔伍庞颜倪庄聂章鲁岳翟殷詹申欧耿关兰焦俞左柳甘祝包宁尚符舒阮柯纪梅童凌毕单季裴霍涂成苗谷盛曲翁冉骆蓝路"
    "游辛靳管柴蒙鲍华喻祁蒲房滕屈饶解牟艾尤阳时穆农司卓古吉缪简车项连芦麦褚娄窦戚岑景党宫费卜冷晏席卫米柏宗瞿桂全"
    "佟应臧闵苟邬边卞姬师仇栾隋商刁沙荣巫寇桑郎甄丛仲虞敖巩明佘池查麻苑迟邝官封谈匡鞠惠荆乐冀郁胥南班储原栗燕楚"
    "鄢劳谌奚皮粟冼蔺楼盘满闻位厉伊仝区郜海阚花权强帅屠豆朴盖练廉禹井祖漆巴丰支卿国狄平计索宣晋相初门云容敬来扈晁"
    "芮都普阙浦戈伏鹿薄邸雍辜羊阿乌母裘亓修邰赫杭况那宿鲜印逯隆茹诸战慕危玉银亢嵇公哈湛宾戎勾茅利於呼居揭干但尉冶"
    "斯元束檀衣信展阴昝智幸奉植衡富尧闭由萧赖傅洪"
)
# Surnames that are also common words right after a cue (患者应低盐饮食, 客户都应, 汇款人和收款人, 患者平卧): a
# name starting with one needs more evidence (see _ambiguous_name_confirmed).
AMBIGUOUS_SURNAMES = set("应时向都来全平信但那由区门海强花权国相初公利於呼居揭干元衣展阴智幸奉富闭阿母印"
                         "战危玉支丰巴计宣普修况宿鲜隆慕哈宾斯束和于高常连")
_BOUNDARY = set("，。、；：,.;:）)！？!?（( \n")
_FOLLOW_CUES = ("的电话", "电话", "手机", "身份证", "先生", "女士", "同志", "家属")
CUES = ("患者", "病人", "姓名", "家属", "客户", "法定代表人", "法人代表", "联系人", "申请人", "投保人", "被保险人",
        "受益人", "经办人", "户名", "持卡人", "收款人", "汇款人", "委托人", "监护人", "记录：")
TAGGED_SCORE = 0.6   # above the analysis threshold: real text names people without a cue ('孙海涛认为，...')
# function characters that follow a name far more often than they end one (家属张伟的电话 -> 张伟)
_NOT_IN_NAMES = set("的在是和与及于因已被将向说等到从对把给让请为也都副")
_HAN = r"[\u4e00-\u9fa5]"
_SURNAME = "(?:" + "|".join(COMPOUND_SURNAMES) + "|[" + "".join(sorted(SURNAMES)) + "])"
_CUED = re.compile(rf"(?:{'|'.join(CUES)})\s*[:：]?\s*(?P<value>{_SURNAME}{_HAN}{{1,2}})")
_TITLED = re.compile(rf"(?P<value>{_SURNAME}{_HAN}{{0,2}})(?=先生|女士|医生|大夫|护士|老师|经理)")
# News writes a person's role right before the name ('副主任韩立群介绍', '分析师温启明表示') and a verb of saying right
# after it; jieba splits many such names ('张/q 新生/n').
ROLES = ("记者", "主任", "专家", "经理", "主席", "总裁", "董事长", "总经理", "教授", "分析师", "秘书长", "局长", "部长",
         "市长", "省长", "院长", "校长", "老师", "医生", "律师", "主编", "编剧", "导演", "演员", "歌手", "作家", "画家",
         "发言人", "负责人", "书记", "总监", "研究员", "工程师", "队长", "教练", "球员", "选手", "主持人", "创始人",
         "通讯员", "实习生", "代表", "委员", "厅长", "处长", "科长", "行长", "总理", "大使", "法官", "检察官", "警官")
SPEECH = "表示|认为|指出|介绍|透露|坦言|强调|告诉|称|说道|提醒|解释|回忆|建议|感叹|说|问|答|直言|承认|补充|回应|笑言"
_ROLE_NAME = re.compile(rf"(?:{'|'.join(ROLES)})(?P<value>{_SURNAME}{_HAN}{{1,2}})")
_SPEAKER = re.compile(rf"(?:^|(?<=[，。；：、“”\s]))(?P<value>{_SURNAME}{_HAN}{{1,2}})(?={SPEECH})")
# Interviews and transcripts put the speaker's name before a colon at the start of a turn ('王立新：我觉得...').
_TURN = re.compile(rf"(?:^|(?<=[。！？!?”\s]))(?P<value>{_SURNAME}{_HAN}{{1,2}})(?<![说问答称道])"
                   r"(?=[：:](?![0-9０-９]))")
# Characters transliterated foreign names are written with (布朗, 奥尼尔, 米开朗琪罗): a name jieba tags that is made
# of them only is a person even without a Chinese surname.
TRANSLITERATION = set("阿埃艾安奥巴贝本比彼波伯布查达德迪蒂丁杜多厄恩尔法菲芬弗福盖甘戈格古哈汉赫亨华霍吉加杰金卡"
                      "凯坎科克库拉莱兰朗劳勒雷里利莉丽林琳卢鲁伦罗洛马玛迈麦曼梅门蒙米姆默穆纳娜内尼妮宁纽诺欧帕"
                      "佩皮普齐乔切琪丘萨塞瑟森沙什史斯索塔泰坦特提汀托瓦威维温沃乌西希夏谢辛休雅亚扬耶伊易英尤约"
                      "泽扎詹珍朱卓兹佐")


COMMON_WORD_FREQUENCY = 50  # jieba counts: 信息 12256, 高热 75 are words; the name 高军 has 3


def common_word(candidate: str) -> bool:
    """jieba knows the candidate as a common word, and not as a person name."""
    tag = jieba_tagger().dt.word_tag_tab.get(candidate)
    return tag is not None and not tag.startswith("nr") and word_frequency(candidate) >= COMMON_WORD_FREQUENCY


def _tags_by_start(text: str) -> dict[int, tuple[str, str]]:
    """Start offset -> (word, jieba part-of-speech flag)."""
    return {start: (word, flag) for start, _, word, flag in tagged_spans(text)}


def _ambiguous_name_confirmed(text: str, start: int, end: int, tags: dict[int, tuple[str, str]]) -> bool:
    """A name that starts with an ambiguous surname stands if punctuation or a follow-up cue ends it, or jieba reads
    a full three-character name there, or the surname alone followed by a given name it tags as a name."""
    if end >= len(text) or text[end] in _BOUNDARY or text.startswith(_FOLLOW_CUES, end):
        return True
    word, flag = tags.get(start, ("", ""))
    if flag.startswith("nr") and len(word) == 3:
        return True
    following = tags.get(start + 1, ("", ""))
    return len(word) == 1 and following[1].startswith("nr") and start + 1 + len(following[0]) == end


# A form's field labels end like this (门诊号：, 申请人：, 出生地：), and speech verbs are no part of a name.
_LABEL_ENDINGS = set("号码名址期间型类式况果量称别位点源因项数率额人地")


def _label_like(candidate: str) -> bool:
    """A field label or a phrase, not a speaker: it ends like a label, or its first two characters are a common
    word jieba does not file as a name (门诊号, 申请人, 高血压)."""
    return candidate[-1] in _LABEL_ENDINGS or common_word(candidate[:2])


def _surname_length(name: str) -> int:
    return 2 if name[:2] in COMPOUND_SURNAMES else 1


class CnPersonRecognizer(LocalRecognizer):
    def __init__(self, language: str = "zh") -> None:
        logging.getLogger("jieba").setLevel(logging.ERROR)
        jieba.setLogLevel(logging.ERROR)
        super().__init__(supported_entities=[ENTITY], supported_language=language, name="cn_person")

    def load(self) -> None:
        """Nothing up front: jieba loads its dictionary on the first Chinese text it cuts (see `jieba_tagger`)."""

    def analyze(self, text: str, entities: list[str], nlp_artifacts: NlpArtifacts | None = None
                ) -> list[RecognizerResult]:
        if entities and ENTITY not in entities:
            return []
        words = self._word_starts(text)
        found = []
        tags = None
        for match in _CUED.finditer(text):
            start = match.start("value")
            end = self._name_end(match.group("value"), start, words)
            if common_word(text[start:end]):  # 客户信息, 客户利益: a word, not a name
                continue
            if text[start] in AMBIGUOUS_SURNAMES:
                tags = tags if tags is not None else _tags_by_start(text)
                if not _ambiguous_name_confirmed(text, start, end, tags):
                    continue
            found.append(RecognizerResult(ENTITY, start, end, 0.85))
        found += [RecognizerResult(ENTITY, m.start("value"), m.end("value"), 0.6) for m in _TITLED.finditer(text)
                  if m.end("value") - m.start("value") >= 2
                  and not any(ch in _NOT_IN_NAMES for ch in m.group("value")[1:])]     # 公司副总经理: no 司副总
        found += self._role_and_speaker_names(text, words)
        found += self._tagged_names(text)
        return found

    @staticmethod
    def _word_starts(text: str) -> dict[int, int]:
        """Start offset -> length of each multi-character jieba word."""
        starts: dict[int, int] = {}
        offset = 0
        for word in jieba.cut(text, HMM=True):
            if len(word) >= 2:
                starts[offset] = len(word)
            offset += len(word)
        return starts

    @staticmethod
    def _name_end(name: str, start: int, words: dict[int, int]) -> int:
        """Stop a name before a following word that jieba reads as one (客户李欣购买 -> 李欣)."""
        given_start = start + _surname_length(name)
        for cut in range(given_start + 1, start + len(name)):
            if cut in words or name[cut - start] in _NOT_IN_NAMES:
                return cut
        return start + len(name)

    def _role_and_speaker_names(self, text: str, words: dict[int, int]) -> list[RecognizerResult]:
        found = []
        for pattern in (_ROLE_NAME, _SPEAKER, _TURN):
            for match in pattern.finditer(text):
                start = match.start("value")
                end = self._name_end(match.group("value"), start, words) if pattern is _ROLE_NAME else match.end()
                if end - start < 2 or common_word(text[start:end]):
                    continue
                if pattern is _TURN and _label_like(text[start:end]):
                    continue
                found.append(RecognizerResult(ENTITY, start, end, 0.7))
        return found

    @staticmethod
    def _tagged_names(text: str) -> list[RecognizerResult]:
        """Names without a cue, as jieba's tagger reads them (`nr`: a name; `nrfg`/`nrt`: foreign and
        transliterated names): a surname and a given name that is no common word ('孙海涛认为'), or a
        transliteration of three characters or more. jieba also tags 查体 or 阿莫西林 as names; a domain's allow list
        (drug names, examination terms) removes those."""
        results = []
        offset = 0
        for word, flag in tagged_words(text):
            if flag.startswith("nr") and _tagged_name(word, flag):
                results.append(RecognizerResult(ENTITY, offset, offset + len(word), TAGGED_SCORE))
            offset += len(word)
        return results


NICKNAME_PREFIXES = set("小老阿")
COMMON_NAME_FREQUENCY = 200  # a two-character 'name' jieba counts this often is a word it mis-tags (晋级, 连胜)


def _tagged_name(word: str, flag: str) -> bool:
    if not 2 <= len(word) <= 4 or any(ch in _NOT_IN_NAMES for ch in word[1:]) or not re.fullmatch(f"{_HAN}+", word):
        return False
    if common_word(word) or (len(word) == 2 and word_frequency(word) >= COMMON_NAME_FREQUENCY):
        return False
    if len(word) == 2 and word[0] in NICKNAME_PREFIXES:       # 小李, 老周, 阿强: how people are called
        return True
    surname = _surname_length(word) if word[:2] in COMPOUND_SURNAMES or word[0] in SURNAMES else 0
    if word[-1] == "卡" != word[0] and (len(word) == 2 or common_word(word[:-1])):   # 金卡, 银行卡: cards
        return False
    if surname:
        # a one-character surname with a three-character given name is rare; four such characters are mostly an
        # idiom jieba has not listed (隆重举行, 任重道远), unless jieba reads a foreign name (麦克唐纳)
        if len(word) - surname == 3 and flag == "nr" and not all(ch in TRANSLITERATION for ch in word):
            return False
        return len(word) > surname and not (word[0] in AMBIGUOUS_SURNAMES and len(word) == 2)
    return flag in ("nrfg", "nrt") or all(ch in TRANSLITERATION for ch in word)     # 贝克汉姆, 布朗, 奥尼尔


@recognizer("cn_person", (ENTITY,), ("zh",))
def build(language: str) -> CnPersonRecognizer:
    return CnPersonRecognizer(language)
