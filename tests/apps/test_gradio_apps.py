"""Both Gradio apps on a free 127.0.0.1 port, driven by gradio_client as a remote user would: streaming, errors,
uploads and exports. Jobs are awaited with a deadline (iterating a job the queue rejected would hang)."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import pytest

DEADLINE_S = 120


def finished(job):
    """The job's result, waiting at most DEADLINE_S."""
    started = time.monotonic()
    while not job.done():
        assert time.monotonic() - started < DEADLINE_S, f"job still running: {job.status()}"
        time.sleep(0.1)
    return job.result(timeout=5)


def test_medical_streams_a_masked_cited_answer(running_apps) -> None:
    from gradio_client import Client

    app = Client(running_apps["medical"], verbose=False)
    question = "Patient Robert Miller reports central chest pressure spreading to the left arm and sweating."
    job = app.submit(question, 3, "fine-tuned", "English", api_name="/ask")
    masked, grounded, answer, summary, sentences, evidence, usage = finished(job)
    assert "`PERSON` × 1" in masked and "Robert" not in json.dumps(job.outputs())
    assert len(job.outputs()) > 3                                     # streamed: many partial renders
    assert 'id="groundedness"' in grounded and "Waiting" not in grounded
    assert answer and evidence["data"] and evidence["data"][0][0] == "[1]"
    assert evidence["data"][0][1].startswith("MED-")
    assert "tokens in" in usage and "GPU-hour" in usage


def test_medical_base_variant_and_chinese_interface(running_apps) -> None:
    from gradio_client import Client

    app = Client(running_apps["medical"], verbose=False)
    *_, usage = finished(app.submit("胸骨后压榨样疼痛并放射至左臂", 2, "base", "中文", api_name="/ask"))
    assert "词元" in usage


@pytest.mark.parametrize(("question", "message"), [("", "empty"), ("word " * 2000, "limit is 6000")])
def test_medical_bad_input_is_a_clear_error(running_apps, question: str, message: str) -> None:
    from gradio_client import Client
    from gradio_client.exceptions import AppError

    app = Client(running_apps["medical"], verbose=False)
    with pytest.raises(AppError, match=message):
        finished(app.submit(question, 3, "fine-tuned", "English", api_name="/ask"))
    assert finished(app.submit("chest pain", 2, "fine-tuned", "English", api_name="/ask"))  # still serving


def test_finance_findings_risk_and_exports(running_apps) -> None:
    from gradio_client import Client

    app = Client(running_apps["finance"], verbose=False)
    document = ("Contact: Jane Wilson, jane.wilson@example.com. The account was opened before the sanctions "
                "screening of the beneficial owner was completed. Quarterly statements were sent on time.")
    outputs = finished(app.submit(document, 4, "fine-tuned", "English", api_name="/check"))
    masked, risk, grounded, table, explanation, sentences, usage, json_file, csv_file = outputs
    assert "`PERSON`" in masked and "`EMAIL_ADDRESS`" in masked
    assert "Risk level:" in risk and table["data"]
    rules = {row[1] for row in table["data"]}
    assert all(rule.startswith("FIN-") for rule in rules)
    assert all(row[3] in document.replace("Jane Wilson", "<PERSON_1>") or row[3].startswith("Contact")
               for row in table["data"])
    exported = json.loads(Path(json_file).read_text(encoding="utf-8"))
    assert {f["rule_id"] for f in exported["findings"]} == rules and "risk_level" in exported
    assert "jane.wilson" not in Path(json_file).read_text() + Path(csv_file).read_text()
    assert Path(csv_file).read_text(encoding="utf-8").startswith("n,rule_id,severity,sentence")


def test_finance_upload(running_apps, tmp_path: Path) -> None:
    from gradio_client import Client, handle_file
    from gradio_client.exceptions import AppError

    app = Client(running_apps["finance"], verbose=False)
    text_file = tmp_path / "memo.md"
    text_file.write_text("The fee was not disclosed before signing.\n", encoding="utf-8")
    assert app.predict(handle_file(str(text_file)), api_name="/upload").startswith("The fee was not disclosed")
    cached = list(Path(os.environ["GRADIO_TEMP_DIR"]).rglob("memo.md"))
    assert cached == []                                          # the raw upload is not kept in Gradio's cache
    binary = tmp_path / "memo.txt"
    binary.write_bytes(b"\x89PNG\x00\x00binary")
    with pytest.raises(AppError, match="binary file"):
        app.predict(handle_file(str(binary)), api_name="/upload")
