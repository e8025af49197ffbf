"""Derive the finance pack's rule base, SFT data and eval sets from the hand-written tables in source/.

Run `python domains/finance/make_data.py` after editing source/; the outputs are committed and a test checks they
are up to date. Every fifth rule is held out of the SFT data (it is in the rule base and the eval sets), and the
last six compliant sentences of each language pad only eval documents.
"""

from __future__ import annotations

import random
from pathlib import Path

import yaml

from veritune.jsonl import write_jsonl

HERE = Path(__file__).resolve().parent
SEED = 29
LANGS = ("en", "zh")
SEVERITY_ORDER = ("low", "medium", "high", "critical")
EVAL_ONLY_FILLERS = 6
CATEGORY_NAMES = {
    "en": {"aml": "anti-money laundering", "kyc": "know your customer", "cdd": "customer due diligence",
           "reporting": "large-cash and suspicious-transaction reporting", "suitability": "suitability",
           "disclosure": "disclosure", "marketing": "marketing claims", "insider": "insider dealing and market abuse",
           "data": "data protection"},
    "zh": {"aml": "反洗钱", "kyc": "客户身份识别", "cdd": "客户尽职调查", "reporting": "大额与可疑交易报告",
           "suitability": "适当性管理", "disclosure": "信息披露", "marketing": "营销宣传", "insider": "内幕交易与市场操纵",
           "data": "个人信息保护"},
}
CHECK_PROMPT = {"en": "Check this document for compliance issues:\n{doc}",
                "zh": "请检查以下文件的合规问题：\n{doc}"}
CHECK_RAG_PROMPT = {
    "en": "Rules:\n{evidence}\n\nCheck this document against the rules and cite them as [n]:\n{doc}",
    "zh": "规则：\n{evidence}\n\n请对照上述规则检查以下文件，并以[n]标注引用：\n{doc}",
}
RULE_QA_SFT = {"en": "What does rule {rule} require?", "zh": "规则{rule}有什么要求？"}
# the answer path's grounded QA prompt (retrieval.GROUNDED_QA; a test keeps the two equal): what the apps and the
# eval's lora+rag system send for a rule question
RAG_PROMPT = {"en": "Evidence:\n{evidence}\n\nQuestion: {question}\nAnswer using the evidence and cite it as [n].",
              "zh": "证据：\n{evidence}\n\n问题：{question}\n请依据证据回答，并以[n]标注引用。"}
RULE_QA_RAG_COPIES = 3   # grounded rule questions per SFT rule, each with other distractors and wording
RULE_QA_RAG_SFT = {"en": ("What does rule {rule} require?", "What must a firm do under {rule}?",
                          "Explain the requirement in {rule}."),
                   "zh": ("规则{rule}有什么要求？", "根据{rule}，机构必须做什么？", "请说明{rule}的要求。")}
RULE_QA_EVAL = {"en": "Summarise the obligation set out in {rule}.", "zh": "请概述{rule}规定的义务。"}
NO_FINDINGS = {"en": "Findings: none.\nRisk level: low.", "zh": "发现问题：无。\n风险等级：低。"}
RISK_WORDS = {"en": {s: s for s in SEVERITY_ORDER}, "zh": {"low": "低", "medium": "中", "high": "高", "critical": "严重"}}


def held_out(index: int) -> bool:
    return index % 5 == 4


def kb_entries() -> list[dict]:
    rules = yaml.safe_load((HERE / "source/rules.yaml").read_text(encoding="utf-8"))
    entries = []
    for index, rule in enumerate(rules):
        for lang in LANGS:
            rule_id = f"FIN-{rule['id']}-{lang.upper()}"
            category = CATEGORY_NAMES[lang][rule["category"]]
            entries.append({
                "id": rule_id, "title": f"{rule_id} ({category})", "lang": lang, "domain": "finance",
                "doc_type": "rule", "rule_id": rule_id, "category": rule["category"], "severity": rule["severity"],
                "jurisdiction": rule["jurisdiction"], "held_out": held_out(index), "text": rule[lang],
                "breach": rule[f"breach_{lang}"],
            })
    return entries


def risk_level(violated: list[dict]) -> str:
    if not violated:
        return "low"
    return max((r["severity"] for r in violated), key=SEVERITY_ORDER.index)


def findings_answer(violated: list[dict], lang: str, refs: dict[str, int] | None = None) -> str:
    if not violated:
        return NO_FINDINGS[lang]
    lines = ["Findings:" if lang == "en" else "发现问题："]
    for rule in violated:
        cite = f" [{refs[rule['id']]}]" if refs else ""
        severity = RISK_WORDS[lang][rule["severity"]]
        lines.append(f"- {rule['id']} ({severity}){cite}: \"{rule['breach']}\"" if lang == "en"
                     else f"- {rule['id']}（{severity}）{cite}：“{rule['breach']}”")
    level = RISK_WORDS[lang][risk_level(violated)]
    lines.append(f"Risk level: {level}." if lang == "en" else f"风险等级：{level}。")
    return "\n".join(lines)


def make_document(violated: list[dict], fillers: list[str], rng: random.Random, lang: str) -> str:
    sentences = rng.sample(fillers, rng.randint(2, 4)) + [rule["breach"] for rule in violated]
    rng.shuffle(sentences)
    return (" " if lang == "en" else "").join(sentences)


def evidence_block(rules: list[dict]) -> str:
    return "\n".join(f"[{n}] ({r['id']}, {r['severity']}) {r['text']}" for n, r in enumerate(rules, start=1))


def chat(user: str, assistant: str) -> list[dict]:
    return [{"role": "user", "content": user}, {"role": "assistant", "content": assistant}]


def check_example(violated: list[dict], pool: list[dict], fillers: list[str], rng: random.Random, lang: str,
                  with_rules: bool) -> tuple[str, str, list[dict]]:
    doc = make_document(violated, fillers, rng, lang)
    if not with_rules:
        return CHECK_PROMPT[lang].format(doc=doc), findings_answer(violated, lang), []
    shown = violated + rng.sample([r for r in pool if r not in violated], 3)
    rng.shuffle(shown)
    refs = {r["id"]: n for n, r in enumerate(shown, start=1)}
    prompt = CHECK_RAG_PROMPT[lang].format(evidence=evidence_block(shown), doc=doc)
    return prompt, findings_answer(violated, lang, refs), shown


def rule_qa_rag_example(rule: dict, pool: list[dict], rng: random.Random, lang: str) -> tuple[str, str]:
    """A rule question over four retrieved-looking passages: the asked rule and three others. The asked rule comes
    first half the time, as the retriever ranks it (hit@1 0.9 on the eval's rule questions), anywhere otherwise,
    so the model learns to find the id rather than to copy passage 1."""
    docs = rng.sample([r for r in pool if r is not rule], 3)
    docs.insert(0 if rng.random() < 0.5 else rng.randint(0, 3), rule)
    evidence = "\n".join(f"[{n}] ({d['id']}) {d['text']}" for n, d in enumerate(docs, start=1))
    ref = docs.index(rule) + 1
    answer = f"{rule['text'].rstrip('.。')} [{ref}]" + ("." if lang == "en" else "。")
    question = rng.choice(RULE_QA_RAG_SFT[lang]).format(rule=rule["id"])
    return RAG_PROMPT[lang].format(evidence=evidence, question=question), answer


def rule_qa_rag_rows(entries: list[dict], rng: random.Random) -> list[dict]:
    rows = []
    for lang in LANGS:
        train_rules = [e for e in entries if e["lang"] == lang and not e["held_out"]]
        for rule in train_rules:
            for _ in range(RULE_QA_RAG_COPIES):
                prompt, answer = rule_qa_rag_example(rule, train_rules, rng, lang)
                rows.append({"task": "rule_qa_rag", "messages": chat(prompt, answer)})
    return rows


def pick_violations(rules: list[dict], rng: random.Random) -> list[dict]:
    roll = rng.random()
    count = 0 if roll < 0.15 else (1 if roll < 0.75 else 2)
    return rng.sample(rules, count)


def sft_rows(entries: list[dict], fillers: dict[str, list[str]], rng: random.Random) -> list[dict]:
    """Rule questions closed-book, compliance checks with their rules shown, and rule questions in the answer
    path's evidence prompt. Closed-book checks are drawn but not kept, so the random stream (and every row) stays
    that of the measured data: with them, 48 steps left the adapter answering rule questions in the findings
    format (unsupported-claim rate 0.55); without them and with the grounded rule questions, 64 steps gave rule QA
    token F1 0.86 and compliance recall 0.25 (20 items each; the closed-book checks only served the `lora`
    system, whose compliance recall was 0.00 either way)."""
    rows = []
    for lang in LANGS:
        train_rules = [e for e in entries if e["lang"] == lang and not e["held_out"]]
        train_fillers = fillers[lang][:-EVAL_ONLY_FILLERS]
        for rule in train_rules:
            answer = f"{rule['text']} [{rule['id']}]"
            rows.append({"task": "rule_qa", "messages": chat(RULE_QA_SFT[lang].format(rule=rule["id"]), answer)})
            for with_rules in (False, True):  # each rule breached at least once with its rules shown
                extra = rng.sample([r for r in train_rules if r is not rule], rng.randint(0, 1))
                prompt, answer, _ = check_example([rule, *extra], train_rules, train_fillers, rng, lang, with_rules)
                if with_rules:
                    rows.append({"task": "check_rag", "messages": chat(prompt, answer)})
        for _ in range(60):
            with_rules = rng.random() < 0.5
            prompt, answer, _ = check_example(pick_violations(train_rules, rng), train_rules, train_fillers, rng,
                                              lang, with_rules)
            if with_rules:
                rows.append({"task": "check_rag", "messages": chat(prompt, answer)})
    rows += rule_qa_rag_rows(entries, random.Random(SEED + 2))   # their own stream: the rows above stay as they were
    return [{"id": f"fin-sft-{i:05d}", **row} for i, row in enumerate(rows)]


def preference_rows(entries: list[dict], fillers: dict[str, list[str]], rng: random.Random) -> list[dict]:
    """DPO pairs on rule-grounded checks of a document that breaches one rule. Chosen: the right finding, citing
    the rule. Rejected, in turn: the breach missed ("no findings", the costly error) or pinned on another rule
    shown in the same block."""
    rows = []
    for lang in LANGS:
        train_rules = [e for e in entries if e["lang"] == lang and not e["held_out"]]
        train_fillers = fillers[lang][:-EVAL_ONLY_FILLERS]
        for index, rule in enumerate(train_rules):
            prompt, chosen, shown = check_example([rule], train_rules, train_fillers, rng, lang, with_rules=True)
            refs = {r["id"]: n for n, r in enumerate(shown, start=1)}
            if index % 2 == 0:
                rejected = findings_answer([], lang)
            else:
                wrong = next(r for r in shown if r is not rule)
                rejected = findings_answer([{**wrong, "breach": rule["breach"]}], lang, refs)
            rows.append({"id": f"fin-pref-{len(rows):05d}", "prompt": [{"role": "user", "content": prompt}],
                         "chosen": [{"role": "assistant", "content": chosen}],
                         "rejected": [{"role": "assistant", "content": rejected}]})
    return rows


def eval_sets(entries: list[dict], fillers: dict[str, list[str]], rng: random.Random) -> dict[str, list[dict]]:
    compliance, rule_qa = [], []
    for lang in LANGS:
        rules = [e for e in entries if e["lang"] == lang]
        eval_fillers = fillers[lang][-EVAL_ONLY_FILLERS:]
        for rule in rules:  # one document breaching each rule, seen or held out
            doc = make_document([rule], eval_fillers, rng, lang)
            compliance.append({"document": doc, "rule_ids": [rule["id"]], "risk_level": rule["severity"],
                               "lang": lang, "seen_in_training": not rule["held_out"]})
        for _ in range(8):  # clean documents: nothing to find
            doc = make_document([], eval_fillers, rng, lang)
            compliance.append({"document": doc, "rule_ids": [], "risk_level": "low", "lang": lang,
                               "seen_in_training": True})
        for rule in (r for r in rules if r["held_out"]):
            rule_qa.append({"question": RULE_QA_EVAL[lang].format(rule=rule["id"]), "answer": rule["text"],
                            "evidence_ids": [rule["id"]], "lang": lang, "seen_in_training": False})
    return {
        "compliance": [{"id": f"fin-compliance-{i:04d}", **r} for i, r in enumerate(compliance)],
        "rule_qa": [{"id": f"fin-rule_qa-{i:04d}", **r} for i, r in enumerate(rule_qa)],
    }


def retrieval_dev(entries: list[dict]) -> list[dict]:
    """Questions for tuning the retriever's fusion weights: the breach sentence of each SFT rule, as a compliance
    check would search for it (held-out rules never appear)."""
    rows = [{"question": e["breach"], "evidence_ids": [e["id"]], "lang": e["lang"]} for e in entries
            if not e["held_out"]]
    return [{"id": f"fin-dev-{i:04d}", **row} for i, row in enumerate(rows)]


def findings_dev(entries: list[dict], fillers: dict[str, list[str]]) -> list[dict]:
    """Labelled sentences for the index's finding scorer (`retrieval.findings`): each SFT rule's breach sentence
    (finding) and the training filler sentences, compliant statements on the same topics (clean). Held-out rules
    and the eval-only fillers never appear."""
    rows = [{"text": e["breach"], "label": "finding", "lang": e["lang"]} for e in entries if not e["held_out"]]
    rows += [{"text": text, "label": "clean", "lang": lang} for lang in LANGS
             for text in fillers[lang][:-EVAL_ONLY_FILLERS]]
    return [{"id": f"fin-finding-{i:04d}", **row} for i, row in enumerate(rows)]


def main(out: Path = HERE) -> None:
    rng = random.Random(SEED)
    entries = kb_entries()
    fillers = yaml.safe_load((HERE / "source/compliant.yaml").read_text(encoding="utf-8"))
    write_jsonl(out / "kb/rules.jsonl", [{k: v for k, v in e.items() if k != "breach"} for e in entries])
    write_jsonl(out / "sft/train.jsonl", sft_rows(entries, fillers, rng))
    for name, rows in eval_sets(entries, fillers, rng).items():
        write_jsonl(out / f"eval/{name}.jsonl", rows)
    write_jsonl(out / "dev/retrieval.jsonl", retrieval_dev(entries))
    write_jsonl(out / "dev/findings.jsonl", findings_dev(entries, fillers))
    # its own random stream, so that adding pairs left the other files as they were
    write_jsonl(out / "sft/preferences.jsonl", preference_rows(entries, fillers, random.Random(SEED + 1)))


if __name__ == "__main__":
    main()
