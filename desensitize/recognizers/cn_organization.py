"""Chinese company names by their legal-form suffix (有限公司, 股份有限公司, ...). Generic nouns such as 上市公司 or
保险公司 lack a legal form and are left alone."""

from __future__ import annotations

from desensitize.presidio_api import Pattern, PatternRecognizer
from desensitize.registry import recognizer

ENTITY = "ORGANIZATION"
LEGAL_FORMS = r"(?:有限责任公司|股份有限公司|集团有限公司|有限公司|合伙企业|事务所)"
PATTERN = rf"[\u4e00-\u9fa5（）()]{{2,14}}?{LEGAL_FORMS}"
_LABELS = ("工作单位", "对方单位", "单位", "公司名称", "企业名称", "企业客户尽调", "尽调")


class CnOrganizationRecognizer(PatternRecognizer):
    def analyze(self, text, entities, nlp_artifacts=None, regex_flags=None):  # noqa: ANN001, ANN201
        results = super().analyze(text, entities, nlp_artifacts, regex_flags)
        for result in results:  # the lazy pattern can swallow a field label before the name
            prefix = text[result.start:result.end]
            for label in _LABELS:
                if prefix.startswith(label):
                    result.start += len(label)
                    break
        return results


@recognizer("cn_organization", (ENTITY,), ("zh",))
def build(language: str) -> PatternRecognizer:
    return CnOrganizationRecognizer(supported_entity=ENTITY, patterns=[Pattern("cn_company", PATTERN, 0.6)],
                                         supported_language=language, name="cn_organization")
