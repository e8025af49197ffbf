"""Presidio's analyzer is imported in one place, without torch and transformers, and leaves both importable;
jieba's tagger waits for Chinese text."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _run(code: str) -> list[str]:
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT)
    return done.stdout.split()


def test_only_presidio_api_imports_the_analyzer() -> None:
    offenders = []
    for path in sorted((ROOT / "desensitize").rglob("*.py")):
        if path.name == "presidio_api.py":
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names = [node.module or ""] if isinstance(node, ast.ImportFrom) else [
                a.name for a in node.names] if isinstance(node, ast.Import) else []
            offenders += [f"{path.relative_to(ROOT)}:{node.lineno}" for n in names
                          if n.split(".")[0] == "presidio_analyzer"]
    assert offenders == []


def test_detector_loads_without_torch_and_torch_still_imports_after() -> None:
    code = ("import sys; import desensitize.detector; print('torch' in sys.modules, 'transformers' in sys.modules); "
            "import torch, transformers; print(torch.zeros(2).sum().item(), transformers.__version__ is not None)")
    assert _run(code) == ["False", "False", "0.0", "True"]


def test_torch_imported_first_is_left_alone() -> None:
    code = ("import sys, torch; t = sys.modules['torch']; from desensitize.detector import Detector; "
            "print(sys.modules['torch'] is t, Detector().analyze('Call 415-555-0132 now.', 'en')[0].entity_type)")
    assert _run(code) == ["True", "PHONE_NUMBER"]


def test_english_text_never_loads_jieba_and_chinese_never_loads_the_english_model() -> None:
    """jieba's part-of-speech table (0.6 s to parse) and dictionary (1 s) load with the first Chinese text, the
    English spaCy model (2 s) with the first English one, not before."""
    code = ("import sys, jieba; from desensitize.detector import Detector; d = Detector(); "
            "state = lambda: print('jieba.posseg' in sys.modules, jieba.dt.initialized, "
            "'+'.join(d.engine.nlp_engine.nlp.built()) or '-', sep='|'); state(); "
            "d.analyze('Call John Carter at 415-555-0132.', 'en'); state(); "
            "print(','.join(s.entity_type for s in d.analyze('患者张伟，男，45岁。', 'zh'))); state(); "
            "z = Detector(); z.analyze('患者张伟，男，45岁。', 'zh'); print('+'.join(z.engine.nlp_engine.nlp.built()))")
    assert _run(code) == ["False|False|-", "False|False|en", "PERSON", "True|True|en+zh", "zh"]
