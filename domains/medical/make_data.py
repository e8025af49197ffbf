"""Derive the medical pack's knowledge base, SFT data and eval sets from the hand-written tables in source/.

Run `python domains/medical/make_data.py` after editing source/; the outputs are committed and a test checks they
are up to date. Every fifth condition and drug is held out: it is in the knowledge base and the eval sets but in
no SFT example, so the eval can show what retrieval adds on evidence the model never trained on.
"""

from __future__ import annotations

import random
from pathlib import Path

import yaml

from veritune.jsonl import write_jsonl

HERE = Path(__file__).resolve().parent
SEED = 13
LANGS = ("en", "zh")

KB_TEMPLATES = {
    "condition": {
        "en": "{name}. Typical symptoms: {symptoms}. Red flags: {red_flags}. Key tests: {tests}. "
              "First-line management: {management}. Department: {dept}.",
        "zh": "{name}。典型症状：{symptoms}。危险信号：{red_flags}。关键检查：{tests}。一线处理：{management}。就诊科室：{dept}。",
    },
    "drug": {
        "en": "{name} ({class}). Indications: {indications}. Contraindications: {contraindications}. "
              "Interactions: {interactions}.",
        "zh": "{name}（{class}）。适应证：{indications}。禁忌证：{contraindications}。相互作用：{interactions}。",
    },
}
FIELD_LABELS = {
    "en": {"red_flags": "Red flags", "tests": "Key tests", "management": "First-line management",
           "indications": "Indications", "contraindications": "Contraindications", "interactions": "Interactions"},
    "zh": {"red_flags": "危险信号", "tests": "关键检查", "management": "一线处理", "indications": "适应证",
           "contraindications": "禁忌证", "interactions": "相互作用"},
}
# SFT and eval ask the same things in different words, so no eval question appears in the SFT data.
SFT_QUESTIONS = {
    "en": {"red_flags": "What are the red flags of {name}?", "tests": "Which tests are key for {name}?",
           "management": "What is the first-line management of {name}?",
           "indications": "What is {name} used for?", "contraindications": "When must {name} not be used?",
           "interactions": "What interactions matter for {name}?"},
    "zh": {"red_flags": "{name}有哪些危险信号？", "tests": "{name}需要做哪些关键检查？", "management": "{name}的一线处理是什么？",
           "indications": "{name}用于什么情况？", "contraindications": "什么情况下禁用{name}？", "interactions": "{name}有哪些重要的相互作用？"},
}
EVAL_QUESTIONS = {
    "en": {"red_flags": "Which warning signs in {name} call for urgent escalation?",
           "tests": "To confirm {name}, what investigations should be arranged?",
           "management": "How should {name} be treated at first?",
           "indications": "In which conditions is {name} prescribed?",
           "contraindications": "Name the contraindications to {name}.",
           "interactions": "Which drug or food interactions should a prescriber of {name} watch for?"},
    "zh": {"red_flags": "出现哪些警示表现时{name}需要紧急处理？", "tests": "为明确{name}应安排哪些检查？",
           "management": "{name}初始应如何治疗？", "indications": "{name}在哪些疾病中使用？",
           "contraindications": "请列出{name}的禁忌证。", "interactions": "开具{name}时应注意哪些药物或食物相互作用？"},
}
TRIAGE_SFT = {"en": "Symptoms: {symptoms}. Which department should see this patient?",
              "zh": "症状：{symptoms}。应该看哪个科室？"}
TRIAGE_EVAL = {"en": "A patient reports the following: {symptoms}. Which department should assess them first?",
               "zh": "患者自述：{symptoms}。应首先到哪个科室就诊？"}
TRIAGE_ANSWER = {"en": "Department: {dept}. This fits {name} [{ref}].",
                 "zh": "就诊科室：{dept}。符合{name}的表现[{ref}]。"}
REDFLAG_SFT = {"en": "A patient with {name} now has {sign}. Is this a red flag?",
               "zh": "{name}患者现在出现{sign}，这是危险信号吗？"}
REDFLAG_EVAL = {"en": "Someone known to have {name} develops {sign}. Should this be treated as an emergency warning sign?",
                "zh": "已知{name}的患者出现{sign}，是否应视为紧急警示信号？"}
REDFLAG_YES = {"en": "Yes. {sign} is a red flag in {name}; seek urgent care [{ref}].",
               "zh": "是。{sign}是{name}的危险信号，应立即就医[{ref}]。"}
REDFLAG_NO = {"en": "No. {sign} is a typical symptom of {name}, not a red flag; arrange routine review [{ref}].",
              "zh": "否。{sign}是{name}的典型症状，不属于危险信号，可常规就诊[{ref}]。"}
RAG_PROMPT = {"en": "Evidence:\n{evidence}\n\nQuestion: {question}\nAnswer using the evidence and cite it as [n].",
              "zh": "证据：\n{evidence}\n\n问题：{question}\n请依据证据回答，并以[n]标注引用。"}


def split_items(text: str, lang: str) -> list[str]:
    separator = "、" if lang == "zh" else ", "
    return [part.strip() for part in text.split(separator) if part.strip()]


def held_out(entry_id: str) -> bool:
    return int(entry_id[1:]) % 5 == 0


def kb_entries() -> list[dict]:
    departments = yaml.safe_load((HERE / "source/departments.yaml").read_text(encoding="utf-8"))
    entries = []
    for doc_type, file in (("condition", "conditions.yaml"), ("drug", "drugs.yaml")):
        for item in yaml.safe_load((HERE / "source" / file).read_text(encoding="utf-8")):
            for lang in LANGS:
                fields = dict(item[lang])
                meta = {}
                if doc_type == "condition":
                    fields["dept"] = departments[item["dept"]][lang]
                    meta = {"department": item["dept"], "department_name": fields["dept"]}
                entries.append({
                    "id": f"MED-{item['id']}-{lang.upper()}", "title": fields["name"], "lang": lang,
                    "domain": "medical", "doc_type": doc_type, "source_id": item["id"],
                    "held_out": held_out(item["id"]), **meta,
                    "text": KB_TEMPLATES[doc_type][lang].format(**fields), "fields": item[lang],
                })
    return entries


def evidence_block(docs: list[dict]) -> str:
    return "\n".join(f"[{n}] ({d['id']}) {d['text']}" for n, d in enumerate(docs, start=1))


def grounded_evidence(entry: dict, pool: list[dict], rng: random.Random) -> tuple[list[dict], int]:
    """The entry's passage among two distractors of its language, shuffled (as the prompt lists them, [1] first),
    and the entry's number [n] among them."""
    # held-out entries never appear in SFT, not even as distractor evidence
    candidates = [d for d in pool if d["lang"] == entry["lang"] and d["id"] != entry["id"] and not d["held_out"]]
    docs = rng.sample(candidates, 2) + [entry]
    rng.shuffle(docs)
    return docs, docs.index(entry) + 1


def rag_example(entry: dict, field: str, questions: dict, pool: list[dict],
                rng: random.Random) -> tuple[str, str, list[dict]]:
    """A grounded question on one field of `entry`: the prompt, the answer citing [n], and the passages shown."""
    lang = entry["lang"]
    docs, ref = grounded_evidence(entry, pool, rng)
    question = questions[lang][field].format(name=entry["title"])
    prompt = RAG_PROMPT[lang].format(evidence=evidence_block(docs), question=question)
    answer = f"{FIELD_LABELS[lang][field]}{'：' if lang == 'zh' else ': '}{entry['fields'][field]} [{ref}]."
    return prompt, answer.replace("].", "]。") if lang == "zh" else answer, docs


def closed_answer(entry: dict, field: str) -> str:
    lang = entry["lang"]
    colon = "：" if lang == "zh" else ": "
    end = "。" if lang == "zh" else "."
    return f"{FIELD_LABELS[lang][field]}{colon}{entry['fields'][field]} [{entry['id']}]{end}"


def chat(user: str, assistant: str) -> list[dict]:
    return [{"role": "user", "content": user}, {"role": "assistant", "content": assistant}]


def sft_rows(entries: list[dict], rng: random.Random) -> list[dict]:
    rows = []
    for entry in (e for e in entries if not e["held_out"]):
        lang, name, fields = entry["lang"], entry["title"], entry["fields"]
        topics = ("red_flags", "tests", "management") if entry["doc_type"] == "condition" else (
            "indications", "contraindications", "interactions")
        for field in topics:
            question = SFT_QUESTIONS[lang][field].format(name=name)
            rows.append({"task": "qa", "messages": chat(question, closed_answer(entry, field))})
            prompt, answer, _ = rag_example(entry, field, SFT_QUESTIONS, entries, rng)
            rows.append({"task": "qa_rag", "messages": chat(prompt, answer)})
        if entry["doc_type"] != "condition":
            continue
        rows.append({"task": "triage", "messages": chat(
            TRIAGE_SFT[lang].format(symptoms=fields["symptoms"]),
            TRIAGE_ANSWER[lang].format(dept=entry["department_name"], name=name, ref=entry["id"]))})
        sign = rng.choice(split_items(fields["red_flags"], lang))
        rows.append({"task": "redflag", "messages": chat(REDFLAG_SFT[lang].format(name=name, sign=sign),
                                                         REDFLAG_YES[lang].format(sign=sign, name=name,
                                                                                  ref=entry["id"]))})
        symptom = rng.choice(split_items(fields["symptoms"], lang))
        rows.append({"task": "redflag", "messages": chat(REDFLAG_SFT[lang].format(name=name, sign=symptom),
                                                         REDFLAG_NO[lang].format(sign=symptom, name=name,
                                                                                 ref=entry["id"]))})
    for index, row in enumerate(rows):
        row["id"] = f"med-sft-{index:05d}"
    return [{"id": r["id"], "task": r["task"], "messages": r["messages"]} for r in rows]


def triage_rag_rows(entries: list[dict], rng: random.Random, first: int) -> list[dict]:
    """Triage questions in the grounded prompt, the condition's passage among two distractors, answered with its
    department and cited as [n]: the apps and the eval's lora+rag system ask triage questions with evidence, and
    without these rows the adapter answered them in the QA format ('First-line management: ...'). Measured on the
    demo (48 steps, two seeds, 40 items): triage multiple choice with retrieval 0.25 -> 0.35 and 0.58, generated
    triage 0.08 -> 0.73 and 0.13, QA token F1 0.29 -> 0.29 and 0.36 -> 0.21 (README)."""
    rows = []
    for entry in (e for e in entries if not e["held_out"] and e["doc_type"] == "condition"):
        lang = entry["lang"]
        docs, ref = grounded_evidence(entry, entries, rng)
        question = TRIAGE_SFT[lang].format(symptoms=entry["fields"]["symptoms"])
        answer = TRIAGE_ANSWER[lang].format(dept=entry["department_name"], name=entry["title"], ref=ref)
        prompt = RAG_PROMPT[lang].format(evidence=evidence_block(docs), question=question)
        rows.append({"id": f"med-sft-{first + len(rows):05d}", "task": "triage_rag", "messages": chat(prompt, answer)})
    return rows


def preference_rows(entries: list[dict], rng: random.Random) -> list[dict]:
    """DPO pairs on the grounded-QA prompts: the chosen answer takes the asked condition's evidence and cites it;
    the rejected one answers from a distractor passage in the same evidence block (fluent, cited, and wrong)."""
    rows = []
    for entry in (e for e in entries if not e["held_out"] and e["doc_type"] == "condition"):
        lang = entry["lang"]
        for field in ("red_flags", "tests", "management"):
            prompt, chosen, shown = rag_example(entry, field, SFT_QUESTIONS, entries, rng)
            wrong = [(n, doc) for n, doc in enumerate(shown, start=1) if doc is not entry and field in doc["fields"]]
            if not wrong:  # both distractors are drugs: no condition passage to answer wrongly from
                continue
            number, other = wrong[0]
            colon, end = ("：", "。") if lang == "zh" else (": ", ".")
            rejected = f"{FIELD_LABELS[lang][field]}{colon}{other['fields'][field]} [{number}]{end}"
            rows.append({"id": f"med-pref-{len(rows):05d}", "prompt": [{"role": "user", "content": prompt}],
                         "chosen": [{"role": "assistant", "content": chosen}],
                         "rejected": [{"role": "assistant", "content": rejected}]})
    return rows


def eval_sets(entries: list[dict], rng: random.Random) -> dict[str, list[dict]]:
    triage, qa, redflag = [], [], []
    for entry in entries:
        lang, name, fields = entry["lang"], entry["title"], entry["fields"]
        seen = not entry["held_out"]
        if entry["doc_type"] == "condition":
            symptoms = split_items(fields["symptoms"], lang)
            rng.shuffle(symptoms)
            joiner = "；" if lang == "zh" else "; "
            triage.append({"question": TRIAGE_EVAL[lang].format(symptoms=joiner.join(symptoms)),
                           "label": entry["department"], "answer": entry["department_name"],
                           "evidence_ids": [entry["id"]], "lang": lang, "seen_in_training": seen})
            sign = rng.choice(split_items(fields["red_flags"], lang))
            redflag.append({"question": REDFLAG_EVAL[lang].format(name=name, sign=sign), "label": "yes",
                            "evidence_ids": [entry["id"]], "lang": lang, "seen_in_training": seen})
            symptom = rng.choice(symptoms)
            redflag.append({"question": REDFLAG_EVAL[lang].format(name=name, sign=symptom), "label": "no",
                            "evidence_ids": [entry["id"]], "lang": lang, "seen_in_training": seen})
        if not seen:  # free-text gold answers only for held-out entries: they must not appear in the SFT data
            topics = ("red_flags", "tests", "management") if entry["doc_type"] == "condition" else (
                "indications", "contraindications", "interactions")
            for field in topics:
                qa.append({"question": EVAL_QUESTIONS[lang][field].format(name=name), "answer": fields[field],
                           "evidence_ids": [entry["id"]], "lang": lang, "seen_in_training": False})
    named = {"triage": triage, "qa": qa, "redflag": redflag}
    for name, rows in named.items():
        for index, row in enumerate(rows):
            row["id"] = f"med-{name}-{index:04d}"
    return {name: [{"id": r.pop("id"), **r} for r in rows] for name, rows in named.items()}


def retrieval_dev(entries: list[dict]) -> list[dict]:
    """Questions for tuning the retriever's fusion weights: from SFT entries only, asked by red flags and tests
    (the eval sets ask by symptoms), so tuning never sees an eval question."""
    rows = []
    for entry in (e for e in entries if not e["held_out"] and e["doc_type"] == "condition"):
        lang, fields = entry["lang"], entry["fields"]
        question = (f"Which condition has these red flags: {fields['red_flags']}?" if lang == "en"
                    else f"哪种疾病的危险信号是：{fields['red_flags']}？")
        rows.append({"id": f"med-dev-{len(rows):04d}", "question": question, "evidence_ids": [entry["id"]],
                     "lang": lang})
    return rows


def main(out: Path = HERE) -> None:
    rng = random.Random(SEED)
    entries = kb_entries()
    write_jsonl(out / "kb/kb.jsonl", [{k: v for k, v in e.items() if k != "fields"} for e in entries])
    sft = sft_rows(entries, rng)
    # its own random stream, so that the rows before it kept their draws
    write_jsonl(out / "sft/train.jsonl", sft + triage_rag_rows(entries, random.Random(SEED + 2), first=len(sft)))
    for name, rows in eval_sets(entries, rng).items():
        write_jsonl(out / f"eval/{name}.jsonl", rows)
    write_jsonl(out / "dev/retrieval.jsonl", retrieval_dev(entries))
    # its own random stream, so that adding pairs left the other files as they were
    write_jsonl(out / "sft/preferences.jsonl", preference_rows(entries, random.Random(SEED + 1)))


if __name__ == "__main__":
    main()
