"""The apps' own logic, on hand-made cases: findings, risk, exports, uploads, the evidence summary, badges."""

from __future__ import annotations

import csv
import io
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from apps.compliance import Finding, findings, model_flags, risk_level, to_csv, to_json, triggering_sentence
from apps.engine import InputRejected, Turn
from apps.finance import read_upload
from apps.medical import evidence_summary, section
from apps.ui import badge, usage_line
from retrieval.index import Hit

DOC = ("Quarterly statements were sent on time. The account was opened before the sanctions screening was "
       "completed. The annual fee was not mentioned before signing.")


def hit(doc_id: str, text: str, cosine: float = 0.5, **meta: object) -> Hit:
    return Hit(doc_id + "#0", doc_id, 0.02, cosine, 1.0, text, dict(meta))


RULES = [hit("FIN-AML-001-EN", "Firms must screen every new customer against sanctions lists before opening an "
             "account.", 0.4, severity="high"),
         hit("FIN-DIS-001-EN", "All fees and charges must be disclosed before the client commits.", 0.5,
             severity="medium"),
         hit("FIN-MKT-002-EN", "Promotions must not promise guaranteed returns.", 0.6, severity="critical",
             matched_sentence="Quarterly statements were sent on time.")]


@pytest.mark.parametrize(
    ("explanation", "flagged"),
    [
        ('Findings:\n- FIN-AML-001-EN (high) [1]: "The account was opened before the sanctions screening was '
         'completed."\nRisk level: high.', {"FIN-AML-001-EN"}),
        ("The fee rule [2] is breached.", {"FIN-DIS-001-EN"}),          # by citation number only
        ('- FIN-DIS-001 (medium): "The annual fee was not mentioned."', {"FIN-DIS-001-EN"}),   # suffix left out
        ("Nothing to report [9].", set()),                                 # a citation out of range flags nothing
        ("[3] (FIN-MKT-002-EN, critical) Promotions must not promise guaranteed returns.", set()),  # a copied rule
        ("规则：[1] (FIN-AML-001-EN, high) 机构必须……", set()),
        ("", set()),
    ],
)
def test_model_flags(explanation: str, flagged: set[str]) -> None:
    assert set(model_flags(explanation, RULES)) == flagged


def test_findings_rank_flagged_first_and_find_the_sentence() -> None:
    explanation = '- FIN-DIS-001-EN (medium) [2]: "The annual fee was not mentioned before signing."'
    rows = findings(DOC, RULES, explanation)
    assert [r.rule_id for r in rows] == ["FIN-DIS-001-EN", "FIN-MKT-002-EN", "FIN-AML-001-EN"]
    assert rows[0].flagged_by_model and rows[0].sentence == "The annual fee was not mentioned before signing."
    sanctions = next(r for r in rows if r.rule_id == "FIN-AML-001-EN")  # not flagged: closest sentence by words
    assert sanctions.sentence.startswith("The account was opened") and not sanctions.flagged_by_model
    promotions = next(r for r in rows if r.rule_id == "FIN-MKT-002-EN")  # the sentence whose search found it
    assert promotions.sentence == "Quarterly statements were sent on time." and promotions.score == 0.6
    assert risk_level(rows) == "medium"
    assert risk_level([r for r in rows if not r.flagged_by_model]) == "none flagged"


def test_a_quote_not_in_the_document_is_not_trusted() -> None:
    assert triggering_sentence(DOC, RULES[1].text, ["an invented sentence"]).startswith("The annual fee")


def test_exports_round_trip() -> None:
    rows = [Finding(1, "FIN-AML-001-EN", "high", "s, with a comma", "rule", 0.5, True)]
    assert json.loads(to_json(rows, "high")) == {"risk_level": "high", "findings": [
        {"n": 1, "rule_id": "FIN-AML-001-EN", "severity": "high", "sentence": "s, with a comma", "rule_text": "rule",
         "score": 0.5, "flagged_by_model": True, "finding_score": None}]}
    parsed = list(csv.DictReader(io.StringIO(to_csv(rows))))
    assert parsed[0]["sentence"] == "s, with a comma" and parsed[0]["flagged_by_model"] == "True"
    assert parsed[0]["finding_score"] == ""


def test_findings_carry_the_finding_score_of_the_sentence_that_found_the_rule() -> None:
    scored = [hit("FIN-AML-001-EN", RULES[0].text, 0.4, severity="high", finding_score=0.91,
                  matched_sentence="The account was opened before the sanctions screening was completed.")]
    quoting_another = '- FIN-AML-001-EN (high) [1]: "The annual fee was not mentioned before signing."'
    (row,) = findings(DOC, scored, quoting_another)
    assert row.finding_score == 0.91 and row.flagged_by_model
    assert row.sentence.startswith("The account was opened")   # the scored sentence that found it, not the quote
    assert json.loads(to_json([row], "none flagged"))["findings"][0]["finding_score"] == 0.91


def test_exports_live_in_gradios_temp_folder_and_go_at_exit(tmp_path: Path) -> None:
    script = ("from pathlib import Path; from apps.finance import exports_folder; f = exports_folder(); "
              "(f / 'findings-x.json').write_text('{}'); print(f)")
    env = {**os.environ, "GRADIO_TEMP_DIR": str(tmp_path)}
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=env, timeout=120)
    folder = Path(done.stdout.strip())
    assert done.returncode == 0 and folder.parent == tmp_path and folder.name.startswith("veritune-findings-")
    assert not folder.exists()


@pytest.mark.parametrize(
    ("sentence", "written"),
    [
        ('=HYPERLINK("http://x.example","click")', '\'=HYPERLINK("http://x.example","click")'),
        ("@SUM(A1:A9)", "'@SUM(A1:A9)"),
        ("+1 555 0100", "'+1 555 0100"),
        ("-2+3", "'-2+3"),
        ("\t=1", "'\t=1"),
        ("A plain sentence = fine.", "A plain sentence = fine."),
    ],
)
def test_csv_cells_that_a_spreadsheet_would_evaluate_are_escaped(sentence: str, written: str) -> None:
    rows = [Finding(1, "FIN-AML-001-EN", "high", sentence, "rule", 0.5, True)]
    assert list(csv.DictReader(io.StringIO(to_csv(rows))))[0]["sentence"] == written


@pytest.mark.parametrize(
    ("name", "content", "error"),
    [
        ("doc.txt", "plain text 中文".encode(), None),
        ("doc.md", b"# heading", None),
        ("doc.pdf", b"%PDF-1.7", "only .txt and .md"),
        ("doc.txt", b"\x00\x01binary", "binary file"),
        ("doc.txt", b"x" * 500, "too large"),
        ("doc.txt", b"\xff\xfe latin", "not UTF-8"),
    ],
)
def test_uploads(tmp_path: Path, name: str, content: bytes, error: str | None) -> None:
    path = tmp_path / name
    path.write_bytes(content)
    if error is None:
        assert read_upload(str(path), max_chars=100) == content.decode()
    else:
        with pytest.raises(InputRejected, match=error):
            read_upload(str(path), max_chars=100)


def test_an_upload_outside_the_upload_folder_is_refused(tmp_path: Path) -> None:
    uploads = tmp_path / "uploads"
    (uploads / "abc").mkdir(parents=True)
    (uploads / "abc" / "memo.txt").write_text("fine", encoding="utf-8")
    (tmp_path / "server-file.txt").write_text("secret", encoding="utf-8")
    assert read_upload(str(uploads / "abc" / "memo.txt"), 100, uploads) == "fine"
    for path in (tmp_path / "server-file.txt", uploads / ".." / "server-file.txt"):
        with pytest.raises(InputRejected, match="only a file uploaded in this session"):
            read_upload(str(path), 100, uploads)


@pytest.mark.parametrize(
    ("text", "labels", "expected"),
    [
        ("Asthma. Red flags: cannot speak, blue lips. Key tests: peak flow. Department: Respiratory medicine.",
         ("Red flags",), "cannot speak, blue lips"),
        ("哮喘。危险信号：无法说话、口唇发绀。关键检查：峰流速。就诊科室：呼吸内科。", ("危险信号",),
         "无法说话、口唇发绀"),
        ("Asthma. Department: Respiratory medicine.", ("Department",), "Respiratory medicine"),
        ("Metformin. Indications: diabetes.", ("Red flags",), ""),
    ],
)
def test_section(text: str, labels: tuple[str, ...], expected: str) -> None:
    assert section(text, labels) == expected


def test_evidence_summary_cites_condition_entries_only() -> None:
    hits = [hit("MED-D001-EN", "Metformin. Indications: diabetes.", doc_type="drug", title="Metformin"),
            hit("MED-C003-EN", "Asthma. Red flags: blue lips. Key tests: peak flow. Department: Respiratory.",
                doc_type="condition", title="Asthma")]
    summary = evidence_summary(hits, "en")
    assert "**Asthma** [2] — Department: Respiratory" in summary
    assert "Red flags: blue lips [2]" in summary and "Tests to consider: peak flow [2]" in summary
    assert "Metformin" not in summary
    assert evidence_summary(hits[:1], "en") == ""


def test_badge_and_usage_follow_the_turn() -> None:
    turn = Turn("q", "en", {}, gpu_hour_price=3.6)
    assert "Waiting" in badge(turn, "en") and usage_line(turn, "en") == ""
    turn.done, turn.abstained = True, True
    assert "Abstained" in badge(turn, "en")
    turn.completion_tokens, turn.seconds = 10, 2.0
    assert turn.cost == pytest.approx(0.002) and turn.cost_per_1k_tokens == pytest.approx(0.2)
    assert "10 tokens in 2.00 s" in usage_line(turn, "en") and "词元" in usage_line(turn, "zh")



def test_the_badge_says_when_an_answer_makes_no_claim() -> None:
    from retrieval import GroundingVerifier

    turn = Turn("q", "en", {}, gpu_hour_price=3.6)
    turn.done = True
    turn.verification = GroundingVerifier().check("MED-C001-EN [n]", ["Asthma. Red flags: blue lips."],
                                                  ids=["MED-C001-EN"])
    assert "No claim to check" in badge(turn, "en") and "没有可核查" in badge(turn, "zh")
    turn.verification = GroundingVerifier().check("Red flags: blue lips [1].", ["Asthma. Red flags: blue lips."])
    assert "Grounded" in badge(turn, "en") and "100%" in badge(turn, "en")


def test_the_app_prompts_rules_as_the_sft_data_does() -> None:
    from apps.compliance import rules_prompt

    prompt = rules_prompt("The fee was hidden.", RULES[:2], "en")
    assert prompt == ("Rules:\n[1] (FIN-AML-001-EN, high) " + RULES[0].text + "\n[2] (FIN-DIS-001-EN, medium) "
                      + RULES[1].text + "\n\nCheck this document against the rules and cite them as [n]:\n"
                      "The fee was hidden.")
    assert rules_prompt.prefix("en") == "Findings:" and rules_prompt.prefix("zh") == "发现问题："   # the answer's start
    assert rules_prompt.listed_ids_only   # a rule id the model writes is one of the candidates it was shown


def test_the_sentence_report_says_which_citations_the_verifier_added_or_corrected() -> None:
    from apps.ui import sentence_report
    from retrieval.verifier import GroundingVerifier

    evidence = ["Asthma. Red flags: unable to speak in sentences, silent chest.",
                "Gout. Key tests: serum urate, joint aspiration."]
    answer = "Key tests: serum urate, joint aspiration [1]. Red flags: silent chest. It cures everything [2]."
    turn = Turn(question="q", lang="en", text=answer, done=True,
                verification=GroundingVerifier().check(answer, evidence, attribute=True))
    report = sentence_report(turn).splitlines()
    assert report == ["- ✅ Key tests: serum urate, joint aspiration [2]. — citation corrected by the verifier "
                      "(the model cited another passage)",
                      "- ✅ Red flags: silent chest [1]. — citation added by the verifier (the model did not cite)",
                      "- ⚠️ It cures everything [2]. — not backed by the cited evidence"]
    assert "引用由核查更正" in sentence_report(turn, "zh")
