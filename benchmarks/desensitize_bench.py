"""Desensitization benchmark: plain Presidio vs veritune, in the same run.

(a) Presidio's AnalyzerEngine + AnonymizerEngine with default recognizers and the same spaCy model
    (en_core_web_md), one document at a time, as its documentation shows;
(b) veritune's `desensitize_file` (tag operator, every recognizer, no domain pack) with worker processes.

On `../shared/data/pii/presidio_research_synth_dataset_v2.json` (presidio-research, MIT): per-entity precision,
recall and F1 (a prediction matches a gold span when they overlap and have the same type, after mapping the
dataset's types onto Presidio's), any-PII precision/recall (overlap, any type), and documents per second.
On veritune's own seeded Chinese synthetic set: recall per type.
On real text (the headline): `../shared/data/deid_physionet/notes.jsonl` (real nursing notes, gold PHI spans) with
the medical pack's settings, and `../shared/data/zh_ner/cluener_train.jsonl` (real Chinese sentences): span-overlap
recall by type, precision, replacements per gold span, characters lost outside any gold entity, speed; Presidio's
defaults on the same texts in the same run. Two checks on the English figures:
- names: veritune's name lists come from Faker, and presidio-research generated its data with Faker too, so PERSON
  recall is also reported for gold names with no word in the lists (what the lists cannot have taught us);
- over-masking: detections per 1,000 words on 300 PubMedQA abstracts (`../shared/data/retrieval`), text without
  personal data where every hit is a false positive or a public fact (a country, a year), for both systems.
Writes benchmarks/results/desensitize.json.

Run: `make bench` or `.venv/bin/python benchmarks/desensitize_bench.py [--workers 2] [--repeat 3]`.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import ROOT, SHARED_DATA, pretty, setup_threads, write_results  # noqa: E402

DATASET = SHARED_DATA / "pii" / "presidio_research_synth_dataset_v2.json"
DEID_NOTES = SHARED_DATA / "deid_physionet" / "notes.jsonl"       # real ICU nursing notes (development split)
ZH_NER = SHARED_DATA / "zh_ner" / "cluener_train.jsonl"           # real Chinese sentences (development split)
ZH_TYPES = {"name": "PERSON", "address": "LOCATION", "company": "ORGANIZATION"}
ABSTRACTS = SHARED_DATA / "retrieval" / "pubmedqa_ori_pqal.json"
ABSTRACT_COUNT = 300
# presidio-research types -> the Presidio types both systems emit. TITLE (Dr., Mrs., job titles) is not personal
# data for either system; it is reported apart and left out of the headline any-PII figures.
TYPE_MAP = {"STREET_ADDRESS": "LOCATION", "GPE": "LOCATION", "ZIP_CODE": "LOCATION", "DOMAIN_NAME": "URL"}
UNSCORED = {"TITLE"}


def gold_spans(doc: dict) -> list[tuple[str, int, int]]:
    return [(TYPE_MAP.get(s["entity_type"], s["entity_type"]), s["start_position"], s["end_position"])
            for s in doc["spans"] if s["entity_type"] not in UNSCORED]


def overlaps(a: tuple[str, int, int], b: tuple[str, int, int]) -> bool:
    return a[1] < b[2] and b[1] < a[2]


def score(golds: list[list[tuple]], preds: list[list[tuple]]) -> dict:
    tp_gold, fn, tp_pred, fp = Counter(), Counter(), Counter(), Counter()
    any_recalled = any_gold = any_correct = any_pred = 0
    for gold, pred in zip(golds, preds, strict=True):
        for g in gold:
            any_gold += 1
            any_recalled += any(overlaps(g, p) for p in pred)
            (tp_gold if any(overlaps(g, p) and p[0] == g[0] for p in pred) else fn)[g[0]] += 1
        for p in pred:
            any_pred += 1
            any_correct += any(overlaps(p, g) for g in gold)
            (tp_pred if any(overlaps(p, g) and p[0] == g[0] for g in gold) else fp)[p[0]] += 1
    per_entity = {}
    for entity in sorted(set(tp_gold) | set(fn) | set(tp_pred) | set(fp)):
        recall = tp_gold[entity] / (tp_gold[entity] + fn[entity]) if tp_gold[entity] + fn[entity] else None
        precision = tp_pred[entity] / (tp_pred[entity] + fp[entity]) if tp_pred[entity] + fp[entity] else None
        f1 = 2 * precision * recall / (precision + recall) if precision and recall else 0.0
        per_entity[entity] = {"precision": _r(precision), "recall": _r(recall), "f1": _r(f1),
                              "gold": tp_gold[entity] + fn[entity], "predicted": tp_pred[entity] + fp[entity]}
    return {"any_pii": {"recall": _r(any_recalled / any_gold), "precision": _r(any_correct / any_pred if any_pred
                                                                                 else 0), "gold": any_gold,
                        "predicted": any_pred}, "per_entity": per_entity}


def _r(value: float | None) -> float | None:
    return None if value is None else round(value, 3)


def person_recall_by_list(docs: list[dict], preds: list[list[tuple]]) -> dict:
    """PERSON recall (same type, overlap) for gold names with a word in veritune's name lists, and without."""
    from desensitize.gazetteers import name_lists

    names = name_lists()
    found, total = Counter(), Counter()
    for doc, pred in zip(docs, preds, strict=True):
        for span in (s for s in doc["spans"] if s["entity_type"] == "PERSON"):
            listed = any(names.is_first_name(w.strip(".")) or names.is_last_name(w.strip("."))
                         for w in span["entity_value"].split())
            group = "in_name_lists" if listed else "outside_name_lists"
            gold = ("PERSON", span["start_position"], span["end_position"])
            total[group] += 1
            found[group] += any(p[0] == "PERSON" and overlaps(gold, p) for p in pred)
    return {group: {"recall": _r(found[group] / total[group]), "gold": total[group]} for group in sorted(total)}


def abstracts() -> list[str]:
    if not ABSTRACTS.is_file():
        return []
    records = json.loads(ABSTRACTS.read_text(encoding="utf-8"))
    return [" ".join(record["CONTEXTS"]) for record in list(records.values())[:ABSTRACT_COUNT]]


def over_masking(texts: list[str], preds: list[list[tuple]]) -> dict:
    words = sum(len(text.split()) for text in texts)
    by_type = Counter(p[0] for pred in preds for p in pred)
    return {"documents": len(texts), "words": words, "detections": sum(by_type.values()),
            "per_1000_words": round(1000 * sum(by_type.values()) / words, 1), "by_type": dict(sorted(by_type.items()))}


def presidio_engines():
    from presidio_analyzer import AnalyzerEngine
    from presidio_analyzer.nlp_engine import NlpEngineProvider
    from presidio_anonymizer import AnonymizerEngine

    from desensitize.nlp import english_model_path

    models = [{"lang_code": "en", "model_name": english_model_path()}]
    provider = NlpEngineProvider(nlp_configuration={"nlp_engine_name": "spacy", "models": models})
    return AnalyzerEngine(nlp_engine=provider.create_engine()), AnonymizerEngine()


def run_presidio(texts: list[str]) -> tuple[list[list[tuple]], float]:
    analyzer, anonymizer = presidio_engines()
    analyzer.analyze(texts[0], language="en")  # warm-up
    preds = []
    started = time.perf_counter()
    for text in texts:
        results = analyzer.analyze(text=text, language="en")
        anonymizer.anonymize(text=text, analyzer_results=results)
        preds.append([(r.entity_type, r.start, r.end) for r in results])
    return preds, time.perf_counter() - started


def run_veritune(texts: list[str], workers: int, repeat: int, tmp: Path) -> tuple[list[list[tuple]], dict]:
    """Predictions from veritune's detector (the one `desensitize_file` runs), and the throughput of the whole
    file pipeline (read, detect, replace, write, manifest) over `repeat` passes, worker start-up included."""
    from desensitize import DesensitizeConfig, Detector, desensitize_file

    detector = Detector()
    preds = [[(s.entity_type, s.start, s.end) for s in spans] for spans in detector.analyze_batch(texts, "en")]
    timings = {}
    for label, count, n_workers in (("parallel", repeat, workers), ("single_process", 1, 1)):
        source = tmp / f"{label}.jsonl"
        source.write_text("".join(json.dumps({"text": t}) + "\n" for t in texts * count), encoding="utf-8")
        started = time.perf_counter()
        desensitize_file(source, tmp / f"{label}.out.jsonl", DesensitizeConfig(workers=n_workers), show_progress=False)
        timings[label] = len(texts) * count / (time.perf_counter() - started)
    return preds, timings


def presidio_on(texts: list[str]) -> list[list[tuple]]:
    analyzer, _ = presidio_engines()
    return [[(r.entity_type, r.start, r.end) for r in analyzer.analyze(text=t, language="en")] for t in texts]


def veritune_on(texts: list[str]) -> list[list[tuple]]:
    from desensitize import Detector

    return [[(s.entity_type, s.start, s.end) for s in spans] for spans in Detector().analyze_batch(texts, "en")]


def chinese_recall() -> dict:
    from desensitize import Detector
    from desensitize.lang import detect_language
    from veritune.synth import generate_records

    records = []
    for domain in ("medical", "finance"):
        records += [r for r in generate_records(ROOT / "domains" / domain / "raw_templates.yaml", 400, seed=2024,
                                                domain=domain) if r["lang"] == "zh"]
    detector = Detector()
    found, total = Counter(), Counter()
    for record in records:
        spans = detector.analyze(record["text"], detect_language(record["text"]))
        for gold in record["pii"]:
            total[gold["type"]] += 1
            found[gold["type"]] += any(s.entity_type == gold["type"] and s.start < gold["end"] and gold["start"] <
                                       s.end for s in spans)
    return {"documents": len(records), "recall": {t: round(found[t] / total[t], 3) for t in sorted(total)},
            "spans": dict(sorted(total.items()))}


def _overlap_recall(golds: list[list[tuple]], preds: list[list[tuple]]) -> dict:
    """Recall by gold type (a gold span counts when any prediction overlaps it, whatever its type: a replaced name
    is gone either way), precision (predictions overlapping a gold span) and replacements per gold span."""
    found, total = Counter(), Counter()
    correct = sum(any(overlaps(p, g) for g in gold) for gold, pred in zip(golds, preds, strict=True) for p in pred)
    for gold, pred in zip(golds, preds, strict=True):
        for g in gold:
            total[g[0]] += 1
            found[g[0]] += any(overlaps(g, p) for p in pred)
    predicted = sum(len(pred) for pred in preds)
    return {"recall": _r(sum(found.values()) / max(sum(total.values()), 1)),
            "precision": _r(correct / predicted if predicted else 0.0),
            "replacements_per_gold_span": _r(predicted / max(sum(total.values()), 1)),
            "recall_by_type": {t: {"recall": _r(found[t] / total[t]), "gold": total[t]} for t in sorted(total)}}


def clinical_notes() -> dict | None:
    """Real nursing notes: veritune with the medical pack's settings (its allow list) beside Presidio's defaults."""
    if not DEID_NOTES.is_file():
        print(f"real clinical notes skipped: {DEID_NOTES} is absent")
        return None
    from desensitize import DesensitizeConfig, Detector, detector_settings

    notes = [json.loads(line) for line in DEID_NOTES.read_text(encoding="utf-8").splitlines() if line.strip()]
    texts = [n["text"] for n in notes]
    golds = [[(g["type"], g["start"], g["end"]) for g in n["phi"]] for n in notes]
    detector = Detector(detector_settings(DesensitizeConfig(domain="medical")))
    detector.analyze(texts[0], "en")
    started = time.perf_counter()
    ours = [[(s.entity_type, s.start, s.end) for s in spans] for spans in detector.analyze_batch(texts, "en")]
    our_seconds = time.perf_counter() - started
    presidio, presidio_seconds = run_presidio(texts)
    return {"dataset": str(DEID_NOTES.relative_to(ROOT.parent)), "notes": len(texts),
            "gold_spans": sum(len(g) for g in golds),
            "veritune": {**_overlap_recall(golds, ours), "docs_per_second": round(len(texts) / our_seconds, 1)},
            "baseline_presidio": {**_overlap_recall(golds, presidio),
                                  "docs_per_second": round(len(texts) / presidio_seconds, 1)},
            "targets": {"recall": ">= 0.95", "replacements_per_gold_span": "<= 1.5", "speed_vs_presidio": ">= 5"}}


def _zh_gold(row: dict) -> tuple[list[tuple], list[tuple]]:
    """(scored spans: name, address, company; every labelled span, for the characters outside entities)."""
    every = [(t, s, e + 1) for t, spans in row["label"].items() for locs in spans.values() for s, e in locs]
    return [span for span in every if span[0] in ZH_TYPES], every


def chinese_real() -> dict | None:
    """Real Chinese sentences: person, address and company recall, and the characters replaced outside every
    labelled entity (what over-masking costs a reader), veritune beside Presidio's defaults on the same pipeline."""
    if not ZH_NER.is_file():
        print(f"real Chinese text skipped: {ZH_NER} is absent")
        return None
    from presidio_analyzer import AnalyzerEngine

    from desensitize import Detector
    from desensitize.nlp import build_nlp_engine

    rows = [json.loads(line) for line in ZH_NER.read_text(encoding="utf-8").splitlines() if line.strip()]
    texts = [r["text"] for r in rows]
    golds = [_zh_gold(r) for r in rows]
    detector = Detector()
    detector.analyze(texts[0], "zh")
    started = time.perf_counter()
    ours = [[(s.entity_type, s.start, s.end) for s in spans] for spans in detector.analyze_batch(texts, "zh")]
    our_seconds = time.perf_counter() - started
    presidio = AnalyzerEngine(nlp_engine=build_nlp_engine(("zh",)), supported_languages=["zh"])
    started = time.perf_counter()
    baseline = [[(r.entity_type, r.start, r.end) for r in presidio.analyze(text=t, language="zh")] for t in texts]
    presidio_seconds = time.perf_counter() - started
    characters = sum(len(t) for t in texts)

    def report(preds: list[list[tuple]], seconds: float) -> dict:
        scored = _overlap_recall([g for g, _ in golds], preds)
        outside = lost = 0
        for text, (_, every), pred in zip(texts, golds, preds, strict=True):
            inside = {i for _, s, e in every for i in range(s, e)}
            outside += len(text) - len(inside)
            lost += len({i for _, s, e in pred for i in range(s, e)} - inside)
        return {**scored, "characters_lost_outside_entities": _r(lost / max(outside, 1)),
                "characters_per_second": round(characters / seconds)}

    return {"dataset": str(ZH_NER.relative_to(ROOT.parent)), "sentences": len(texts),
            "scored_types": {k: v for k, v in ZH_TYPES.items()},
            "veritune": report(ours, our_seconds), "baseline_presidio": report(baseline, presidio_seconds),
            "targets": {"name_recall": ">= 0.90", "address_recall": ">= 0.85",
                        "characters_lost_outside_entities": "<= 0.02"}}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--repeat", type=int, default=3, help="passes over the data for veritune's timing")
    parser.add_argument("--limit", type=int, default=None, help="documents to use (default: all)")
    args = parser.parse_args()
    threads = setup_threads()
    if not DATASET.is_file():
        print(f"skipped: {DATASET} is absent (it lives in ../shared/data beside the project root)")
        return 0
    docs = json.loads(DATASET.read_text(encoding="utf-8"))[: args.limit]
    texts = [d["full_text"] for d in docs]
    golds = [gold_spans(d) for d in docs]
    print(f"{len(texts)} documents, {threads} torch/BLAS thread(s) per process, veritune workers={args.workers}")
    presidio_preds, presidio_seconds = run_presidio(texts)
    with tempfile.TemporaryDirectory() as tmp:
        veritune_preds, rates = run_veritune(texts, args.workers, args.repeat, Path(tmp))
    baseline = {"docs_per_second": round(len(texts) / presidio_seconds, 1), **score(golds, presidio_preds),
                "person_recall_by_name_lists": person_recall_by_list(docs, presidio_preds)}
    ours = {"docs_per_second": round(rates["parallel"], 1),
            "docs_per_second_single_process": round(rates["single_process"], 1), **score(golds, veritune_preds),
            "person_recall_by_name_lists": person_recall_by_list(docs, veritune_preds)}
    abstract_texts = abstracts()
    if abstract_texts:
        baseline["over_masking_pubmedqa_abstracts"] = over_masking(abstract_texts, presidio_on(abstract_texts))
        ours["over_masking_pubmedqa_abstracts"] = over_masking(abstract_texts, veritune_on(abstract_texts))
    else:
        print(f"over-masking check skipped: {ABSTRACTS} is absent")
    results = {
        "dataset": str(DATASET.relative_to(ROOT.parent)), "documents": len(texts),
        "threads_per_process": threads, "veritune_workers": args.workers,
        "type_mapping": TYPE_MAP, "unscored_gold_types": sorted(UNSCORED),
        "baseline_presidio": baseline, "veritune": ours,
        "speedup": round(ours["docs_per_second"] / baseline["docs_per_second"], 2),
        "chinese_synthetic": chinese_recall(),
        "real_clinical_notes": clinical_notes(),
        "real_chinese_text": chinese_real(),
        "targets": {"any_pii_recall": ">= 0.95", "any_pii_precision": ">= 0.85", "speedup": ">= 5",
                    "chinese_id_phone_card_uscc_recall": "1.00", "chinese_person_recall": ">= 0.95"},
    }
    path = write_results("desensitize", results)
    print(pretty({k: results[k] for k in ("speedup", "chinese_synthetic", "real_clinical_notes", "real_chinese_text")}))
    for label, system in (("presidio", baseline), ("veritune", ours)):
        print(f"{label} any-PII:", system["any_pii"], f"{system['docs_per_second']} docs/s;",
              "PERSON recall by name lists:", system["person_recall_by_name_lists"], "; abstracts:",
              system.get("over_masking_pubmedqa_abstracts", {}).get("per_1000_words"), "detections/1000 words")
    print(f"results written to {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
