"""Table-driven tests, one table per recognizer: what it must find, and what it must leave alone."""

from __future__ import annotations

import pytest

from desensitize import RECOGNIZERS
from tests.conftest import REPO
from tests.desensitize.conftest import found

# (recognizer, language, text, expected (type, value) pairs — [] means nothing may be found)
CASES = [
    # resident ID: MOD 11-2 check character and a real birth date
    ("cn_resident_id", "zh", "身份证号11010519491231002X，", [("CN_RESIDENT_ID", "11010519491231002X")]),
    ("cn_resident_id", "zh", "证件号码：11010519491231002x", [("CN_RESIDENT_ID", "11010519491231002x")]),
    ("cn_resident_id", "zh", "身份证号110105194912310021", []),           # wrong check character
    ("cn_resident_id", "zh", "身份证号110105194913311235", []),           # month 13, check character right
    ("cn_resident_id", "zh", "编号911010519491231002X7", []),             # inside a longer run
    # mainland phones
    ("cn_phone", "zh", "手机13912345678。", [("CN_PHONE", "13912345678")]),
    ("cn_phone", "zh", "电话+86 139 1234 5678", [("CN_PHONE", "+86 139 1234 5678")]),
    ("cn_phone", "zh", "联系电话139-1234-5678", [("CN_PHONE", "139-1234-5678")]),
    ("cn_phone", "zh", "座机021-62345678，", [("CN_PHONE", "021-62345678")]),
    ("cn_phone", "zh", "随访电话(0755)2345678", [("CN_PHONE", "(0755)2345678")]),
    ("cn_phone", "zh", "编号12345678901", []),                            # 12 is no mobile prefix
    ("cn_phone", "zh", "手机1391234567", []),                             # ten digits
    # bank cards: UnionPay prefix, Luhn, and a context word
    ("cn_bank_card", "zh", "银行卡号6222021234567894，", [("CN_BANK_CARD", "6222021234567894")]),
    ("cn_bank_card", "zh", "收款账户6217 0012 3456 7890 122", [("CN_BANK_CARD", "6217 0012 3456 7890 122")]),
    ("cn_bank_card", "zh", "银行卡号6222021234567895", []),              # fails Luhn
    ("cn_bank_card", "zh", "批次6222021234567894已入库", []),            # Luhn alone is 1 in 10: no context, no hit
    # unified social credit code: GB 32100 check character and a context word
    ("cn_uscc", "zh", "统一社会信用代码91350100M000100Y43，", [("CN_USCC", "91350100M000100Y43")]),
    ("cn_uscc", "zh", "统一社会信用代码91350100M000100Y44", []),
    ("cn_uscc", "zh", "序列91350100M000100Y43已过期", []),
    # passports need the word
    ("cn_passport", "zh", "护照号E12345678，", [("CN_PASSPORT", "E12345678")]),
    ("cn_passport", "zh", "型号E12345678的设备", []),
    # record and insurance numbers by their labels
    ("cn_medical_record_number", "zh", "住院号：123456，", [("MEDICAL_RECORD_NUMBER", "123456")]),
    ("cn_medical_record_number", "zh", "门诊号 A2024001", [("MEDICAL_RECORD_NUMBER", "A2024001")]),
    ("cn_medical_record_number", "zh", "病案号88234511", [("MEDICAL_RECORD_NUMBER", "88234511")]),
    ("cn_medical_record_number", "zh", "编号123456", []),
    ("cn_insurance_number", "zh", "医保卡号YB123456789012。", [("INSURANCE_NUMBER", "YB123456789012")]),
    # names: cues, compound surnames, jieba deciding where a name ends
    ("cn_person", "zh", "患者张伟，男，45岁。", [("PERSON", "张伟")]),
    ("cn_person", "zh", "家属欧阳娜娜的电话", [("PERSON", "欧阳娜娜")]),
    ("cn_person", "zh", "客户李欣购买理财产品", [("PERSON", "李欣")]),
    ("cn_person", "zh", "法定代表人：王建国，", [("PERSON", "王建国")]),
    ("cn_person", "zh", "客户信息必须定期更新", []),
    ("cn_person", "zh", "跨境电汇必须附带完整的汇款人和收款人信息", []),
    ("cn_person", "zh", "高血压患者应低盐饮食", []),
    ("cn_person", "zh", "患者高热，伴寒战", []),
    ("cn_person", "zh", "患者平卧时气短", []),
    ("cn_person", "zh", "患者高军，男", [("PERSON", "高军")]),             # a common surname that is also a word
    ("cn_person", "zh", "家属权玉华电话", [("PERSON", "权玉华")]),
    # names in running text, without a cue: jieba's tagger, a surname, and a given name that is no word
    ("cn_person", "zh", "记者从孙海涛处获悉，该项目已经启动。", [("PERSON", "孙海涛")]),
    ("cn_person", "zh", "连胜三场之后，球队晋级。", []),
    ("cn_person", "zh", "公司副总经理韩立群介绍，项目进展顺利。", [("PERSON", "韩立群")]),  # a role before
    ("cn_person", "zh", "温启明表示，市场仍将波动。", [("PERSON", "温启明")]),  # a verb of saying after
    ("cn_person", "zh", "中锋麦克唐纳完成了绝杀。", [("PERSON", "麦克唐纳")]),  # a transliteration
    ("cn_person", "zh", "代表团成员表示赞同。", []),
    ("cn_person", "zh", "王立新：我觉得地价还会涨。", [("PERSON", "王立新")]),   # an interview turn
    ("cn_person", "zh", "记者问：何时开工？方法：口服。", []),                 # a colon after words, not names
    ("cn_person", "zh", "门诊号：A1023。申请人：见附件。出生地：成都。", []),   # form labels, not speakers
    ("cn_person", "zh", "会后，林国栋说，项目已经启动。", [("PERSON", "林国栋")]),  # 说 after the name
    ("cn_person", "zh", "他说，明天再来。", []),
    ("cn_person", "zh", "这件事小琪最清楚。", [("PERSON", "小琪")]),          # called by a nickname
    ("cn_person", "zh", "小时候他住在乡下。", []),
    ("cn_person", "zh", "请把银行卡交给柜台。", []),                      # a card, not 银 + a given name
    ("cn_person", "zh", "他办了一张白金卡。", []),
    ("cn_person", "zh", "卡卡在比赛中进球了。", [("PERSON", "卡卡")]),
    ("cn_person", "zh", "开幕式隆重举行，气氛热烈。", []),               # a four-character phrase, no name
    # named places: a proper noun and the kind of place it names
    ("cn_named_place", "zh", "他在柳荫路开了一家店。", [("LOCATION", "柳荫路")]),
    ("cn_named_place", "zh", "项目位于宏达东方广场，交通便利", [("LOCATION", "宏达东方广场")]),
    ("cn_named_place", "zh", "申购翠湖苑的经适房", [("LOCATION", "翠湖苑")]),
    ("cn_named_place", "zh", "城市的商务中心和四星酒店", []),                       # generic, no proper noun
    ("cn_named_place", "zh", "小镇和城镇都在发展，古城依山而建", []),               # common words
    # romanised names in Chinese text: listed names the dictionary does not know, names run together, names that a
    # role, a verb of saying or a transliteration beside them marks
    ("cn_latin_person", "zh", "巡展负责人marta女士介绍，", [("PERSON", "marta")]),
    ("cn_latin_person", "zh", "本书由edwardkeane翻译", [("PERSON", "edwardkeane")]),
    ("cn_latin_person", "zh", "首席设计师MarcusHolloway的说法", [("PERSON", "MarcusHolloway")]),
    ("cn_latin_person", "zh", "客户Laura Bennett已签字", [("PERSON", "Laura Bennett")]),
    ("cn_latin_person", "zh", "战队队长Kiro表示，", [("PERSON", "Kiro")]),
    ("cn_latin_person", "zh", "Zhanel说，比赛很艰难", [("PERSON", "Zhanel")]),
    ("cn_latin_person", "zh", "画家雷诺兹（joshreynoldsz）的作品", [("PERSON", "joshreynoldsz")]),
    ("cn_latin_person", "zh", "手机sim卡和Steam平台都支持", []),                     # English words
    ("cn_latin_person", "zh", "游戏Apple Music上线", []),
    ("cn_latin_person", "zh", "股票代码ab12", []),
    # the statistical tagger: names and places no cue or rule reaches; Latin script, single characters and
    # continents are not kept
    ("cn_ner_model", "zh", "据悉，陆文涛昨天在会上宣布辞职。", [("PERSON", "陆文涛")]),
    ("cn_ner_model", "zh", "会后，郑秋萍和同事一起去吃饭。", [("PERSON", "郑秋萍")]),
    ("cn_ner_model", "zh", "这款车的设计师是克里斯托弗·诺兰。", [("PERSON", "克里斯托弗·诺兰")]),
    ("cn_ner_model", "zh", "球队明天飞往乌鲁木齐参加比赛。", [("LOCATION", "乌鲁木齐")]),
    ("cn_ner_model", "zh", "亚洲和欧洲的市场都在下跌。", []),
    ("cn_ner_model", "zh", "美、日两国发表声明。", []),
    ("cn_ner_model", "zh", "今年的销售额增长了百分之五。", []),
    # places without address grammar: jieba's tagger, GeoNames' Chinese names, place endings, units after them
    ("cn_place_name", "zh", "他上周去了重庆出差。", [("LOCATION", "重庆")]),
    ("cn_place_name", "zh", "会议在西昌市太和镇举行。", [("LOCATION", "西昌市太和镇")]),
    ("cn_place_name", "zh", "城市发展很快，公司上市了。", []),
    ("cn_place_name", "zh", "中方表示欢迎，国内反应积极。", []),
    ("cn_place_name", "zh", "下周他从清迈飞往怡保。", [("LOCATION", "清迈"), ("LOCATION", "怡保")]),   # listed cities
    ("cn_place_name", "zh", "现货白银价格上涨，各位来宾请入座。", []),               # cities that are common words
    # addresses: at least two levels
    ("cn_address", "zh", "住址北京市朝阳区建国路88号。", [("LOCATION", "北京市朝阳区建国路88号")]),
    ("cn_address", "zh", "来自广东省深圳市南山区", [("LOCATION", "广东省深圳市南山区")]),
    ("cn_address", "zh", "禁止操纵市场", []),
    ("cn_address", "zh", "上市公司应及时披露", []),
    # the address only: not the words before it, not across a conjunction (jieba's cut bounds the name parts)
    ("cn_address", "zh", "仓库位于浙江省宁波市北仑区", [("LOCATION", "浙江省宁波市北仑区")]),
    ("cn_address", "zh", "样品昨天寄往湖南省常德市武陵区", [("LOCATION", "湖南省常德市武陵区")]),
    ("cn_address", "zh", "他的旧宅就在安徽省黄山市屯溪区老街28号", [("LOCATION", "安徽省黄山市屯溪区老街28号")]),
    ("cn_address", "zh", "会议由山西省文化厅和太原市共同主办", []),
    # companies by legal form
    ("cn_organization", "zh", "工作单位华远软件传媒有限公司，", [("ORGANIZATION", "华远软件传媒有限公司")]),
    ("cn_organization", "zh", "上市公司和保险公司", []),
    # the name only, not the words that lead up to it
    ("cn_organization", "zh", "记者从上海凯明投资咨询有限公司获悉", [("ORGANIZATION", "上海凯明投资咨询有限公司")]),
    ("cn_organization", "zh", "首先要欢迎长江和美地产投资有限公司", [("ORGANIZATION", "长江和美地产投资有限公司")]),
    ("cn_organization", "zh", "资金随即转入南京德胜贸易有限公司", [("ORGANIZATION", "南京德胜贸易有限公司")]),
    ("cn_organization", "zh", "他把北京星辰汽车销售服务有限公司", [("ORGANIZATION", "北京星辰汽车销售服务有限公司")]),
    ("cn_organization", "zh", "工人王明与武汉恒达寄售有限公司", [("ORGANIZATION", "武汉恒达寄售有限公司")]),
    ("cn_organization", "zh", "湖南一鸣律师事务所", [("ORGANIZATION", "湖南一鸣律师事务所")]),
    # card numbers of any brand (Mastercard 2-series included)
    ("card_number", "en", "Card on file: 2223 0000 4841 0010.", [("CREDIT_CARD", "2223 0000 4841 0010")]),
    ("card_number", "en", "Card on file: 2223 0000 4841 0011.", []),
    ("card_number", "en", "Shipment 2223000048410010 arrived", []),
    ("card_number", "en", "What is the limit for card 501864667909?", [("CREDIT_CARD", "501864667909")]),
    # clinical dates, not blood pressures or blood gases
    ("en_clinical_date", "en", "Seen on 7/22 in clinic.", [("DATE_TIME", "7/22")]),
    ("en_clinical_date", "en", "Admitted 7/22/24 with fever.", [("DATE_TIME", "7/22/24")]),
    ("en_clinical_date", "en", "BP 150/95, ABG 7.34/50/95/28/0.", []),
    ("en_clinical_date", "en", "DOB August 14, 1982, seen", [("DATE_TIME", "August 14, 1982")]),
    ("en_clinical_date", "en", "born 14 Aug 1982.", [("DATE_TIME", "14 Aug 1982")]),
    ("en_clinical_date", "en", "DOB: 1998-02-18.", [("DATE_TIME", "1998-02-18")]),
    ("en_clinical_date", "en", "Extubated 4/17. Doing well.", [("DATE_TIME", "4/17")]),
    ("en_clinical_date", "en", "11-02-19 nursing note", [("DATE_TIME", "11-02-19")]),
    ("en_clinical_date", "en", "last drink on june 3 per family", [("DATE_TIME", "june 3")]),
    ("en_clinical_date", "en", "PMH: s/p CABG 2011, stent in 2014.", [("DATE_TIME", "2011"), ("DATE_TIME", "2014")]),
    ("en_clinical_date", "en", "PMH: appendectomy '88, asthma", [("DATE_TIME", "'88")]),
    ("en_clinical_date", "en", "May 5 mg dose, HR 97, pH 7.35/45/80", []),
    ("en_clinical_date", "en", "stent to LAD 11/87, reoccluded in 3/91",
     [("DATE_TIME", "11/87"), ("DATE_TIME", "3/91")]),
    ("en_clinical_date", "en", "weaned to ps 10/peep 5/40% overnight", []),
    # transfers, residences and facility words name places
    ("en_facility", "en", "Pt transferred to Brookhollow 4 this evening.", [("LOCATION", "Brookhollow 4")]),
    ("en_facility", "en", "lives alone in tamsworth, son nearby", [("LOCATION", "tamsworth")]),
    ("en_facility", "en", "Seen at Ridgeline Medical Center for follow up", [("LOCATION", "Ridgeline Medical Center")]),
    ("en_facility", "en", "back to floor after the procedure", []),
    ("en_facility", "en", "PLAN: BRIARWOOD 3 WHEN BED AVAILABLE.", [("LOCATION", "BRIARWOOD 3")]),
    ("en_facility", "en", "increase to 2 and wean to 4 by morning", []),
    ("en_facility", "en", "medflight to MGH for cath.", [("LOCATION", "MGH")]),       # a hospital's abbreviation
    ("en_facility", "en", "rise in LDH, no SAH seen, WITH HIGH output", []),        # lab, bleed, words
    ("en_facility", "en", "belongings sent from briarwood 5. pt aware", [("LOCATION", "briarwood 5")]),
    ("en_facility", "en", "insulin per U Vermont protocol; Univ. of Kentucky consult",
     [("LOCATION", "U Vermont"), ("LOCATION", "Univ. of Kentucky")]),
    ("en_facility", "en", "U wave seen on the EKG, U Bag changed", []),
    ("en_facility", "en", "f/u w/ Briar Creek Heart Center, phone given", [("LOCATION", "Briar Creek Heart Center")]),
    ("en_facility", "en", "lives in a shelter in Halverton area", [("LOCATION", "Halverton")]),
    ("en_facility", "en", "pain in the chest area, then in Lower area", []),
    ("en_facility", "en", "son returned to salt lake city today", [("LOCATION", "salt lake city")]),   # GeoNames
    ("en_facility", "en", "wife returned to fall river tonight, will call", [("LOCATION", "fall river")]),  # prefix
    ("en_facility", "en", "pt returned to bed early tonight, resting", []),
    # pager, beeper and extension numbers: short, so only after their word
    ("en_pager", "en", "Resident on call, beeper number 61842.", [("PHONE_NUMBER", "61842")]),
    ("en_pager", "en", "Pager #4312 after 5pm.", [("PHONE_NUMBER", "4312")]),
    ("en_pager", "en", "extubated at 1200, given 4000 units", []),
    # two-digit years after an event of the history, not counts or durations
    ("en_event_year", "en", "PMHX CVA in 97, stable since.", [("DATE_TIME", "97")]),
    ("en_event_year", "en", "HX OF MI 88 AND HTN.", [("DATE_TIME", "88")]),
    ("en_event_year", "en", "PMHX CVA in 91 and 03 affected (R) side", [("DATE_TIME", "91"), ("DATE_TIME", "03")]),
    ("en_event_year", "en", "TIA 30 min ago", []),
    ("en_event_year", "en", "stent 20 mm, CABG x 3", []),
    # clinicians: an initial and a surname, a name and a credential
    ("en_clinician", "en", "Plan discussed with R. Okonkwo, team aware.", [("PERSON", "R. Okonkwo")]),
    ("en_clinician", "en", "Called Tamsin Vale RN for coverage", [("PERSON", "Tamsin Vale")]),
    ("en_clinician", "en", "Kell-Varga MD performed the tap.", [("PERSON", "Kell-Varga")]),   # double-barrelled
    ("en_clinician", "en", "VENT WEANED TO CPAP 5/5.\n ODILE K. FAIRBANK, RRT\n", [("PERSON", "ODILE K. FAIRBANK")]),
    ("en_clinician", "en", "Family met with Wren Castellan, LICSW today.", [("PERSON", "Wren Castellan")]),
    ("en_clinician", "en", "Renal following, plan for RRT tomorrow.", []),          # renal replacement therapy
    ("en_clinician", "en", "Blood cx grew S. aureus; discussed with covering MD.", []),
    ("en_clinician", "en", "Pt stable overnight, see flowsheet.\n\nleona okafor rn\n", [("PERSON", "leona okafor")]),
    ("en_clinician", "en", "Pt stable overnight.\n\ncontinue to monitor rn\n", []),
    ("en_clinician", "en", "cash verified by nsg (k. o'dowd)", [("PERSON", "k. o'dowd")]),
    ("en_clinician", "en", "pacing per d hammond. groin site c/d/i", [("PERSON", "d hammond")]),   # no full stop
    ("en_clinician", "en", "bp soft, lena dubrov aware. plan: fluids", [("PERSON", "lena dubrov")]),
    ("en_clinician", "en", "PULSES PALP, S. POST OP DAY 2. I. SMALL BM", []),           # all capitals: words
    ("en_clinician", "en", "weaned per s protocol; family aware; will continue aware", []),
    # English medical record numbers by their labels
    ("en_medical_record_number", "en", "MRN 1234567, seen today", [("MEDICAL_RECORD_NUMBER", "1234567")]),
    ("en_medical_record_number", "en", "MRN: #1234567.", [("MEDICAL_RECORD_NUMBER", "1234567")]),
    ("en_medical_record_number", "en", "medical record number 12345678", [("MEDICAL_RECORD_NUMBER", "12345678")]),
    ("en_medical_record_number", "en", "Order 1234567 shipped", []),
    # street addresses
    ("en_street_address", "en", "lives at 12 High Street now", [("LOCATION", "12 High Street")]),
    ("en_street_address", "en", "The office is at Koskikatu 25.", [("LOCATION", "Koskikatu 25")]),
    ("en_street_address", "en", "Home: 8595 Browning Shoals, South Kristenhaven, AS 17441.",
     [("LOCATION", "8595 Browning Shoals, South Kristenhaven, AS 17441")]),
    ("en_street_address", "en", "We saw 12 patients today.", []),
    ("en_street_address", "en", "PT ON 4 WITH GOOD TIDAL VOLUMES 400, ABG OK", []),      # all-capitals settings
    ("en_street_address", "en", "gave 3 LITERS NS FOR MAP 2", []),
    ("en_street_address", "en", "lives at 86036 Rua do Arenque 1634, Goiânia",
     [("LOCATION", "86036 Rua do Arenque 1634"), ("LOCATION", "Goiânia")]),   # the town joins (layout rule)
    ("en_street_address", "en", "Our offices are at USNS Møller\nFPO AA 85844",
     [("LOCATION", "USNS Møller\nFPO AA 85844")]),
    ("en_street_address", "en", "send it to psc 5420, box 2708\napo aa 33879?",
     [("LOCATION", "psc 5420, box 2708\napo aa 33879")]),
    ("en_street_address", "en", "USS Enterprise was a ship.", []),
    ("en_street_address", "en", "The bus station is on P.O. Box 104", [("LOCATION", "P.O. Box 104")]),
    # street lines found by their street-type word, in any case and many languages
    ("en_street_words", "en", "eva kleist lives at 255 hersnapvej 18, københavn k",
     [("LOCATION", "255 hersnapvej 18"), ("LOCATION", "københavn k")]),
    ("en_street_words", "en", "Billing: 31401 ul. Słowicza 10 Apt. 360", [("LOCATION", "31401 ul. Słowicza 10")]),
    ("en_street_words", "en", "The bus drops you off at 518 Árpád fejedelem útja 62. St.",
     [("LOCATION", "518 Árpád fejedelem útja 62.")]),
    ("en_street_words", "en", "The bus station is on Villacher Strasse 89", [("LOCATION", "Villacher Strasse 89")]),
    ("en_street_words", "en", "Megan lives on Via Tasso 129 street.", [("LOCATION", "Via Tasso 129")]),
    ("en_street_words", "en", "The title refers to C/ Señores Curas 88 street", [("LOCATION", "C/ Señores Curas 88")]),
    ("en_street_words", "en", "770 26 rue des lieutenants Thomazo",
     [("LOCATION", "770 26 rue des lieutenants Thomazo")]),
    ("en_street_words", "en", "Given via NG tube 2 times a day.", []),                # 'via' in lower case is a word
    ("en_street_words", "en", "The Rue was closed for the parade.", []),                # no number: no street line
    ("en_street_words", "en", "Boarded at gate 23.", []),                               # a suffix type needs a name
    ("en_street_words", "en", "pt c/o headache 5, c/o dizziness given 2 mg", []),      # c/o: complains of
    ("en_street_words", "en", "C/O BACK PAIN 7 OF 10 AT 0300", []),
    # postcodes by label, towns in capitals or Greek after a cue, the town after a street line
    ("en_place_name", "en", "When: 2005-07-21 | Where: Novo mesto Country Club.",
     [("LOCATION", "Novo mesto Country Club")]),
    ("en_zip_code", "en", "Billing ZIP: 3520, thanks", [("LOCATION", "3520")]),
    ("en_zip_code", "en", "my zip code is 35350.", [("LOCATION", "35350")]),
    ("en_zip_code", "en", "Give 3520 units", []),
    ("en_place_name", "en", "I am in ΛΕΥΚΩΣΙΑ for a trip", [("LOCATION", "ΛΕΥΚΩΣΙΑ")]),
    ("en_place_name", "en", "Where: UPTON SCUDAMORE Country Club", [("LOCATION", "UPTON SCUDAMORE")]),
    # the house number beside the place goes with it (absorb_address_numbers)
    ("en_place_name", "en", "address: 5049 Harjukuja 54, SEINÄJOKI", [("LOCATION", "54"), ("LOCATION", "SEINÄJOKI")]),
    ("en_place_name", "en", "Started on IV fluids in ICU", []),
    # speakers in transcripts, not field labels
    ("en_speaker", "en", "Ubul: What a wife. Halldór: Remember me?", [("PERSON", "Ubul"), ("PERSON", "Halldór")]),
    ("en_speaker", "en", "Plan: admit. Assessment: stable. Indications: pain. Interactions: none.", []),
    # first names from the name lists: capitalised, or anywhere in a record without capitals; full names with an
    # initial or a particle; names that are also words ('Will', 'grace') only with a surname or a cue
    ("en_person_names", "en", "Seen with Elita B Desaulniers today", [("PERSON", "Elita B Desaulniers")]),
    ("en_person_names", "en", "Anna van der Berg will be talking", [("PERSON", "Anna van der Berg")]),
    ("en_person_names", "en", "follow up with patricia desrosiers in a month", [("PERSON", "patricia desrosiers")]),
    ("en_person_names", "en", "COMFORT: PT MEDICATED FOR PAIN.", []),       # a section heading, not a speaker
    ("en_person_names", "en", "Ask Hannah about it.", [("PERSON", "Hannah")]),
    ("en_person_names", "en", "Will you sign here? Grace period ends Monday.", []),
    ("en_person_names", "en", "mika: who are you?", [("PERSON", "mika")]),                   # a speaker, lower case
    ("en_person_names", "en", "the patient will return in may", []),
    ("en_person_names", "en", "Mark the site before surgery.", []),
    ("en_person_names", "en", "Training was completed in January.", []),              # a month, not January Jones
    ("en_person_names", "en", "Seen with April Morales today", [("PERSON", "April Morales")]),
    ("en_person_names", "en", "DOSE HELD. PER MARCUS WILL RECHECK K.", [("PERSON", "MARCUS")]),       # credited
    ("en_person_names", "en", "per protocol, per grace period", []),
    ("en_person_names", "en", "CASE MANAGER CONTACTS LEONA MAE TRUSKOWITZ TODAY.",
     [("PERSON", "LEONA MAE TRUSKOWITZ")]),
    ("en_person_names", "en", "history of bell's palsy", []),                          # an eponym, not a person
    ("en_person_names", "en", "tracy:\"i'm roberto's daughter\"", [("PERSON", "tracy"), ("PERSON", "roberto")]),
    # names after a cue only a name follows
    ("en_person_cue", "en", "my name is vitoria", [("PERSON", "vitoria")]),
    # clinical notes: a title takes a name in any case; kinship words take listed first names only
    ("en_person_cue", "en", "spoke with Dr. ferreira about the plan", [("PERSON", "ferreira")]),
    ("en_person_cue", "en", "PLAN PER DR.MARVELLI THIS AM.", [("PERSON", "MARVELLI")]),      # no space after Dr.
    ("en_person_cue", "en", "NO LABS PER NP Whitcombe. CONSENT IN CHART.", [("PERSON", "Whitcombe")]),
    ("en_person_cue", "en", "PER DR. HOLLOWAY WILL HOLD DOSE. FAMILY AT BEDSIDE AND UPDATED ON PLAN.",
     [("PERSON", "HOLLOWAY")]),
    ("en_person_cue", "en", "Pressure low, NP Ingrid notified.", [("PERSON", "Ingrid")]),
    ("en_person_cue", "en", "daughter maria visited, wife updated by phone", [("PERSON", "maria")]),
    ("en_person_cue", "en", "daughter lives close by", []),
    ("en_person_cue", "en", "per MD order, continue drip", []),
    ("en_person_cue", "en", "bolus given, HO Delacroix notified", [("PERSON", "Delacroix")]),   # house officer
    ("en_person_cue", "en", "K 3.2, MD aware. RN GIVEN REPLETION. MD said ok", []),     # credentials before words
    ("en_person_cue", "en", "PLAN DISCUSSED WITH RN WARM HANDOFF DONE", []),
    ("en_person_cue", "en", "BP 88/40. NP HAZEL MADE AWARE, FLUID ORDERED.", [("PERSON", "HAZEL")]),  # all capitals
    ("en_person_cue", "en", "my name is borna jerković but everyone calls me borna",
     [("PERSON", "borna jerković"), ("PERSON", "borna")]),
    ("en_person_cue", "en", "Name:    Nayla Montero\nAddress: unknown", [("PERSON", "Nayla Montero")]),
    ("en_person_cue", "en", "Hi Victor, I'm writing about my account", [("PERSON", "Victor")]),
    ("en_person_cue", "en", "Hello I moved last week", []),
    ("en_person_cue", "en", "Hi there, my son is unwell", []),
    ("en_person_cue", "en", "Dear Sir, please find attached", []),
    ("en_person_cue", "en", "call me maybe", []),                                     # not a name, not cued enough
    # towns and countries after a place cue, confirmed by GeoNames; capitals pass only with the list's word
    ("en_place_gazetteer", "en", "Ms. Margarot flew to Dordrecht on Saturday.", [("LOCATION", "Dordrecht")]),
    ("en_place_gazetteer", "en", "He grew up in ESPOO.", [("LOCATION", "ESPOO")]),
    ("en_place_gazetteer", "en", "i'm originally from switzerland", [("LOCATION", "switzerland")]),
    ("en_place_gazetteer", "en", "Transferred to ICU, then referred to Cardiology in March.", []),
    ("en_place_gazetteer", "en", "We moved to Mobile last year.", []),   # a city that is also a word: spaCy's call
    # employers after an employment cue
    ("en_employer", "en", "I work for Citigroup", [("ORGANIZATION", "Citigroup")]),
    ("en_employer", "en", "I used to work for Deloitte as a midwife", [("ORGANIZATION", "Deloitte")]),
    ("en_employer", "en", "She works for hours without a break.", []),
    # ages
    ("en_age", "en", "A 79-year-old man", [("AGE", "79")]),
    ("en_age", "en", "patient aged 74 with fever", [("AGE", "74")]),
    # ages over 89 only (Safe Harbor), for packs that keep younger ages
    ("en_age_over_89", "en", "please see flowsheet\n\n97 yo gentleman admitted with CHF", [("AGE_OVER_89", "97")]),
    ("en_age_over_89", "en", "notes reviewed\n93 s/p left hip fx, stable", [("AGE_OVER_89", "93")]),
    ("en_age_over_89", "en", "a 91-year-old woman, aged 102 last week",
     [("AGE_OVER_89", "91"), ("AGE_OVER_89", "102")]),
    ("en_age_over_89", "en", "82 yo man; 95 s/p 5 days; HR 90 s/p bolus", []),
    ("en_age", "en", "Give 75 mg daily", []),
    ("en_age", "en", "My brother just turned 60", [("AGE", "60")]),
    ("en_age", "en", "retired at the age of 61.", [("AGE", "61")]),
    ("en_age", "en", "a man of 65 years of age", [("AGE", "65")]),
    ("en_age", "en", "After a 2-7 year follow-up, 1-year mortality was 25% at 5 years.", []),   # durations
    ("en_age", "en", "adults aged 35 to 65 years and cases aged 80 or older", []),                # cohort bounds
    ("en_age", "en", "clinical diagnosis over age 45", []),
    # organisations by legal form or as partnerships
    ("en_organization", "en", "Employer: Miller LLC.", [("ORGANIZATION", "Miller LLC")]),
    ("en_organization", "en", "Paid to Martin, Johnson and Tapia today",
     [("ORGANIZATION", "Martin, Johnson and Tapia")]),
    ("en_organization", "en", "Access must be limited to staff.", []),
    # Presidio's generic recognizers, kept for both languages where the shape is universal
    ("email", "zh", "邮箱zhang.wei@example.com。", [("EMAIL_ADDRESS", "zhang.wei@example.com")]),
    ("url", "zh", "详见http://t.cn/abc123真相禁区http://t.cn/xyz789。",             # two links, not the title between
     [("URL", "http://t.cn/abc123"), ("URL", "http://t.cn/xyz789")]),
    ("url", "zh", "招商银行（600036.sh）今日上涨", []),                              # a stock code
    ("url", "zh", "登录mail.163.com查看", [("URL", "mail.163.com")]),
    ("iban", "en", "IBAN GB82 WEST 1234 5698 7654 32.", [("IBAN_CODE", "GB82 WEST 1234 5698 7654 32")]),
    ("us_ssn", "en", "SSN 536-90-4399 on file", [("US_SSN", "536-90-4399")]),
    ("us_ssn", "en", "SSN 078-05-1120 on file", []),                     # the Woolworth wallet card: not real
    ("us_phone", "en", "Call (415) 555-0132 today.", [("PHONE_NUMBER", "(415) 555-0132")]),
]


@pytest.mark.parametrize(("name", "lang", "text", "expected"), CASES, ids=[f"{c[0]}-{i}" for i, c in enumerate(CASES)])
def test_recognizer(only, name: str, lang: str, text: str, expected: list[tuple[str, str]]) -> None:
    assert found(only(name), text, lang) == expected


def test_every_registered_recognizer_has_a_table() -> None:
    tested = {case[0] for case in CASES}
    untested = set(RECOGNIZERS.names()) - tested - {"spacy_ner", "date", "ip_address", "url", "credit_card"}
    assert not untested, f"recognizers without table tests: {sorted(untested)}"


@pytest.mark.parametrize(
    "text",
    [
        "PT to follow up with GU clinic. ABG 7.34/50/95/28/0 today. Started lasix, foley placed.",
        "BP 150/95, HR 102, SpO2 94% RA. CXR and CBC ordered. NPO, IV fluids.",
        "Wells score is high; consider Cushing syndrome.",
        "Fever is a red flag in Atopic eczema; seizures are a red flag in Pre-eclampsia.",   # inside KB titles
        "Give anti-D when Rh negative. What is Insulin glargine used for?",
        # shorthand no name or date hides in: ventilator settings, shifts, fractions, strength and pain scores
        "Vent 500x10x35x5, shift 1900-0700. 1/2 NS at 100cc/hr. Strength 5/5, pain 4/10 on Monday.",
        "pt oob to chair, abd soft, neo gtt weaned. transfer to micu. back to floor.",
        "PT OOB TO CHAIR. WEAN AS TOLERATED. FAMILY PRESENT AT BEDSIDE. TRANSFER TO CATH LAB.",
    ],
)
def test_clinical_text_without_pii_stays_untouched(text: str) -> None:
    from desensitize import DesensitizeConfig, Detector
    from desensitize.records import detector_settings

    medical = Detector(detector_settings(DesensitizeConfig(domain="medical")))
    assert found(medical, text, "en") == []


@pytest.mark.parametrize(
    "text",
    [
        "急性中耳炎有哪些危险信号？",                       # a KB title: the tagger's place '中耳炎' lies inside it
        "符合良性前列腺增生的表现。",                       # a common word running into a KB title ('符合良')
        "一线处理：轻症用阿莫西林、中度加用大环内酯类。",      # the pack's allow list: a severity
        "典型症状：乏力、腹胀、巩膜黄染、易淤青、皮肤瘙痒。",   # a symptom jieba tags as a name
        "避免与利匹韦林合用，对乙酰氨基酚是解热镇痛药。",      # a drug and a drug class
    ],
)
def test_chinese_clinical_text_without_pii_stays_untouched(text: str) -> None:
    from desensitize import DesensitizeConfig, Detector
    from desensitize.records import detector_settings

    medical = Detector(detector_settings(DesensitizeConfig(domain="medical")))
    assert found(medical, text, "zh") == []


def test_a_chinese_allowed_term_keeps_the_name_before_it() -> None:
    from desensitize import Detector, DetectorSettings

    detector = Detector(DetectorSettings(allow_list=["良性"]))
    assert found(detector, "患者张良性格开朗，无不适。", "zh") == [("PERSON", "张良")]   # one character: a surname
    assert found(detector, "符合良性表现。", "zh") == []
    assert found(detector, "患者王建国，急性中耳炎。", "zh") == [("PERSON", "王建国")]


def test_full_detector_on_mixed_records(detector) -> None:
    text = "Patient John Smith (MRN 1234567) called from (415) 555-0132; email john.smith@example.com."
    assert {t for t, _ in found(detector, text, "en")} >= {"PERSON", "MEDICAL_RECORD_NUMBER", "PHONE_NUMBER",
                                                          "EMAIL_ADDRESS"}
    zh = "患者张伟，身份证号11010519491231002X，手机13912345678，住址北京市朝阳区建国路88号。"
    assert found(detector, zh, "zh") == [("PERSON", "张伟"), ("CN_RESIDENT_ID", "11010519491231002X"),
                                         ("CN_PHONE", "13912345678"), ("LOCATION", "北京市朝阳区建国路88号")]


@pytest.mark.parametrize(
    ("text", "place", "absorbed"),
    [
        ("ESPOO > Finland 23221", "Finland", ["23221"]),
        ("Costamezzana 43015 in its mission", "Costamezzana", ["43015"]),
        ("580 60 Balsham Road", "60 Balsham Road", ["580"]),
        ("Mill Village NS B0J 2H0", "NS", []),                    # letters: a postcode recognizer's job
        ("Boston 2019-05-01", "Boston", []),                      # a date, not a postcode
        ("Paris 13812345678", "Paris", []),                       # a phone number, not a postcode
        ("room 12 at Kyoto", "Kyoto", []),                        # words between: not the same address
    ],
)
def test_numbers_beside_a_place_are_part_of_the_address(text: str, place: str, absorbed: list[str]) -> None:
    from presidio_analyzer import RecognizerResult

    from desensitize.filters import absorb_address_numbers

    start = text.index(place)
    results = absorb_address_numbers(text, [RecognizerResult("LOCATION", start, start + len(place), 0.85)])
    assert [text[r.start:r.end] for r in results[1:]] == absorbed


@pytest.mark.parametrize(
    ("text", "lang", "expected"),
    [
        ("Patient John Smith, SSN 536-22-1234. 患者张伟，电话13812345678。", "zh",
         [("PERSON", "John Smith"), ("US_SSN", "536-22-1234"), ("PERSON", "张伟"), ("CN_PHONE", "13812345678")]),
        ("The patient, Robert Miller, was seen today; his wife (家属王芳) was told, phone 13812345678.", "en",
         [("PERSON", "Robert Miller"), ("PERSON", "王芳"), ("CN_PHONE", "13812345678")]),
    ],
)
def test_mixed_script_records_are_read_by_both_languages(detector, text: str, lang: str, expected: list) -> None:
    from desensitize.lang import detect_language

    assert detect_language(text) == lang
    found_spans = found(detector, text, lang)
    assert [item for item in expected if item not in found_spans] == []


@pytest.mark.parametrize(
    ("text", "language", "runs"),
    [
        ("患者张伟，SSN 536-22-1234。", "en", ["，SSN 536-22-1234。"]),
        ("Patient John. 患者张伟，电话138。", "zh", [". 患者张伟，电话138。"]),
        ("No Chinese here at all.", "zh", []),
        ("只有中文，电话 13812345678。", "en", []),
        ("患者用了 X 光。", "en", []),                      # one Latin letter is no English passage
    ],
)
def test_other_script_runs(text: str, language: str, runs: list[str]) -> None:
    from desensitize.detector import other_script_runs

    assert [text[start:end] for start, end in other_script_runs(text, language)] == runs


def test_the_other_language_never_cuts_a_span_the_main_pass_found_whole(detector) -> None:
    text = "企业客户尽调：统一社会信用代码91440300MA5G8K3T0W，法定代表人王伟。"
    uscc = [s for s in detector.analyze(text, "zh") if s.entity_type == "CN_USCC"]
    assert [text[s.start:s.end] for s in uscc] == ["91440300MA5G8K3T0W"]


@pytest.mark.parametrize(("text", "value"), [("医保号 YB20230001234 已登记。", "YB20230001234"),
                                             ("医保卡号：YB023397037024。主诉气短。", "YB023397037024")])
def test_the_other_language_does_not_retype_a_span_of_the_same_extent(detector, text: str, value: str) -> None:
    """English NER reads the number as a place at the same score (in the second, with the full stop after it)."""
    assert [(s.entity_type, text[s.start:s.end]) for s in detector.analyze(text, "zh")] == [
        ("INSURANCE_NUMBER", value)]


def _camel(name: str) -> str:
    return "".join(part.capitalize() for part in name.split("_")) + "Recognizer"


@pytest.mark.parametrize("name", sorted(RECOGNIZERS.names()))
def test_file_registry_name_class_and_result_name_agree(name: str) -> None:
    """One name per recognizer: its file's stem (Presidio's own, configured in presidio_generic.py, excepted), the
    registry entry, the class when the file defines one, and the name its results carry (what filters read)."""
    import inspect
    import sys

    spec = RECOGNIZERS.get(name)
    module = sys.modules[spec.factory.__module__]
    built = spec.build(spec.languages[0])
    assert built.name == name
    if module.__name__.endswith(".presidio_generic"):
        return
    assert module.__name__.rsplit(".", 1)[1] == name
    own = [cls.__name__ for _, cls in inspect.getmembers(module, inspect.isclass) if cls.__module__ == module.__name__]
    assert own in ([], [_camel(name)]), own


def test_filters_read_declared_attributes_not_class_names() -> None:
    from desensitize import filters

    declared = {name: (s.case_aware, s.list_confirmed, s.statistical) for name in RECOGNIZERS.names()
                for s in [RECOGNIZERS.get(name)]}
    assert declared["en_person_names"][0] and declared["en_person_cue"][0] and declared["en_place_gazetteer"][1]
    assert declared["cn_latin_person"][0] and declared["cn_ner_model"][0]      # lower-case romanised names
    assert declared["spacy_ner"][2] and sum(any(v) for v in declared.values()) == 8
    assert "Recognizer\"" not in (REPO / "desensitize/filters.py").read_text(encoding="utf-8")
    assert filters.spec_of({"recognizer_name": "en_person_names"}) is RECOGNIZERS.get("en_person_names")
    assert filters.spec_of({"recognizer_name": "NameList"}) is None          # added by a filter, not a recognizer


PHONE_TEXTS = [
    "Daughter's cell (415) 555-0132, call after 5pm. Lasix 40 mg at 0800, K 3.9, 1000u/hr heparin.",
    "pager 415.555.0176 ext 12; vent AC 500x12x40% peep 5; wt 81.2 kg",
    "UK number +44 20 7946 0321 or 020 7946 0788; CI 2.1, SVR 1100-1300",
    "BP 112/64 HR 88 sats 97% on RA, no phone numbers here 12 14 16",
]


@pytest.mark.parametrize("text", PHONE_TEXTS)
def test_phone_matcher_around_digit_runs_finds_what_it_finds_over_the_whole_text(text: str) -> None:
    from desensitize.presidio_api import PhoneRecognizer
    from desensitize.recognizers.presidio_generic import PHONE_REGIONS, FocusedPhoneRecognizer

    def phones(recognizer: PhoneRecognizer) -> list[tuple[int, int, float]]:
        # the detector keeps phone results of seven digits or more (the phone filter): those must agree
        return sorted((r.start, r.end, r.score) for r in recognizer.analyze(text, ["PHONE_NUMBER"])
                      if sum(c.isdigit() for c in text[r.start:r.end]) >= 7)

    settings = {"supported_language": "en", "supported_regions": PHONE_REGIONS, "leniency": 0}
    assert phones(FocusedPhoneRecognizer(**settings)) == phones(PhoneRecognizer(**settings))
    assert bool(phones(PhoneRecognizer(**settings))) is ("BP" not in text)   # the table is not vacuous


@pytest.mark.parametrize(("value", "phone"), [
    ("(415) 555-0132", True), ("415.555.0132", True), ("+1 415 555 0132", True), ("415-555-0132 x12", True),
    ("1900-0700", False),          # a shift
    ("500x10x35x5", False),        # ventilator settings
    ("7.38-41-96", False),         # a blood gas
    ("31.2- 30.8- 29.9", False),   # daily weights
])
def test_phone_filter_keeps_phones_and_drops_clinical_numbers(value: str, phone: bool) -> None:
    from desensitize.filters import _phone_without_lab_separators

    assert _phone_without_lab_separators("PHONE_NUMBER", value) is phone


@pytest.mark.parametrize(("value", "date"), [("7/22", True), ("3/9", True), ("1/2", False), ("5/5", False),
                                              ("6/10", False), ("Monday", False), ("0700-1900", False),
                                              ("'95", True), ("June 3", True)])
def test_date_filter_drops_fractions_scores_weekdays_and_shifts(value: str, date: bool) -> None:
    from desensitize.filters import _date_shaped

    assert _date_shaped("DATE_TIME", value) is date


@pytest.mark.parametrize(("entity", "value", "caseless", "dropped"), [
    ("PERSON", "Tamsin Vale", False, False),         # written as names are: spaCy's guess stands
    ("PERSON", "mg IV", False, True),                # lower case and capitals in a record with both
    ("PERSON", "THICK SECRETIONS", False, True),
    ("PERSON", "THICK SECRETIONS", True, True),      # an all-capitals record: only a listed name keeps a guess
    ("PERSON", "MARGARET", True, False),
    ("LOCATION", "EXTREMITIES", True, True),
    ("LOCATION", "BOSTON", True, False),             # a GeoNames place
])
def test_spacy_guesses_not_written_as_names_need_a_list(entity: str, value: str, caseless: bool,
                                                        dropped: bool) -> None:
    from desensitize.filters import _unconfirmed_guess

    assert _unconfirmed_guess(entity, value, caseless) is dropped


@pytest.mark.parametrize(("text", "people"), [
    ("被告人张某于去年盗窃，李某某报警。", []),                       # names the text already withholds
    ("张伟和王某某一起去了医院。", ["张伟"]),
])
def test_a_withheld_chinese_name_is_no_pii(detector, text: str, people: list[str]) -> None:
    assert [value for entity, value in found(detector, text, "zh") if entity == "PERSON"] == people


@pytest.mark.parametrize(("text", "date"), [("scheduled for the OR on 7/14 9am.", "7/14"),
                                            ("last dialysis 3/12; next on Friday", "3/12")])
def test_a_short_date_inside_a_longer_date_span_is_kept(detector, text: str, date: str) -> None:
    """spaCy reads '7/14 9am' as '7/14 9' (no date shape) and Presidio drops the contained '7/14': the filter
    narrows spaCy's span to the date instead of losing both."""
    assert ("DATE_TIME", date) in found(detector, text, "en")



@pytest.fixture(scope="module")
def strict():
    from desensitize import strict_detector

    return strict_detector()


@pytest.mark.parametrize(("name", "lang", "text"), [c[:3] for c in CASES],
                         ids=[f"{c[0]}-{i}" for i, c in enumerate(CASES)])
def test_verify_is_at_least_as_strict_as_the_main_pass(detector, strict, name: str, lang: str, text: str) -> None:
    """On every recognizer's table, everything the main pass replaces, verify's strict pass finds too."""
    from desensitize import scan_text

    found = scan_text(text, strict, lang)
    for span in detector.analyze(text, lang):
        assert any(s < span.end and span.start < e for _, s, e in found), (name, span.entity_type)


def test_verify_reads_a_mixed_record_in_both_languages(strict) -> None:
    from desensitize import scan_text

    text = "Patient John Carter called from (415) 555-0132. 家属张伟，手机13912345678，住址北京市朝阳区建国路88号。"
    found = scan_text(text, strict, "en")
    for value in ("John Carter", "555-0132", "张伟", "13912345678", "北京市朝阳区建国路88号"):
        start = text.index(value)
        assert any(s < start + len(value) and start < e for _, s, e in found), value


def test_overlapping_results_of_one_type_become_one_span(detector) -> None:
    """Two recognizers read one address from different starts: the union is replaced, no part left behind."""
    text = "客户住址澳门特别行政区长宁县望江区临江路88号，请核实。"
    [(entity, value)] = found(detector, text, "zh")
    assert entity == "LOCATION" and "澳门特别行政区长宁县望江区临江路88号" in value


URL_TEXTS = ["See https://WWW.Example.COM/path?q=1 now", "site: example.org\nnext line www2.test.co.uk/a",
             "Quoted 'http://a.b.example.net/x' and \"shop.example.io\"", "no url: 3.5 mg, e.g. i.e.",
             "多行\n访问 https://银行.example.cn/路径 或 www.bank.com.cn", "EMAIL.ME at Portal.Health.GOV today"]


@pytest.mark.parametrize("text", URL_TEXTS)
def test_url_recognizer_without_flags_finds_what_presidio_default_flags_find(text: str) -> None:
    from desensitize.presidio_api import UrlRecognizer
    from desensitize.recognizers.presidio_generic import url

    ours = url("en")
    assert ours.global_regex_flags == 0  # reuses Presidio's import-time compile
    reference = UrlRecognizer(supported_language="en")
    assert reference.global_regex_flags != 0

    def spans(recognizer) -> list[tuple[int, int, float]]:  # noqa: ANN001
        return sorted((r.start, r.end, r.score) for r in recognizer.analyze(text, ["URL"]))

    assert spans(ours) == spans(reference)
    assert bool(spans(ours)) == ("no url" not in text)


@pytest.mark.parametrize(("pattern", "free"), [("(?i)a[.]b\\.c", True), ("(?i)a.b", False), ("a[.]b", False),
                                               ("(?i)^ab", False), ("(?i)ab$", False), ("(?i)[^.$]b", True)])
def test_flag_free_patterns(pattern: str, free: bool) -> None:
    from desensitize.recognizers.presidio_generic import flag_free

    assert flag_free(pattern) is free
