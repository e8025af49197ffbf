"""`veritune serve` on a real HTTP server on 127.0.0.1, driven by the official `openai` client (max_retries=0:
the client retries 429s by default) and by raw HTTP for what a client library would never send."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest

from tests.apps.conftest import client, new_key

openai = pytest.importorskip("openai")


QUESTION = [{"role": "user", "content": "Patient Robert Miller has central chest pressure and sweating."}]


def test_plain_and_streaming_answers_agree_and_report_usage(server) -> None:
    api = client(server, new_key(server, "alice", rate="100/minute"))
    plain = api.chat.completions.create(model="t-medical+rag", messages=QUESTION, max_tokens=8)
    usage = plain.usage
    assert 0 < usage.completion_tokens <= 8 and usage.prompt_tokens > 50
    assert usage.total_tokens == usage.prompt_tokens + usage.completion_tokens
    assert plain.choices[0].finish_reason in ("stop", "length")
    assert plain.citations and plain.citations[0]["doc_id"].startswith("MED-")   # passed through by the client
    assert plain.veritune["masked"] == {"PERSON": 1}
    stream = api.chat.completions.create(model="t-medical+rag", messages=QUESTION, max_tokens=8, stream=True,
                                         stream_options={"include_usage": True})
    chunks = list(stream)
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text.strip() == plain.choices[0].message.content          # greedy: the same answer, streamed
    assert chunks[-1].choices == [] and chunks[-1].usage.total_tokens == usage.total_tokens
    assert any(getattr(c, "citations", None) for c in chunks)


MEMO = [{"role": "user", "content": "We promise every client a guaranteed 12% yearly return with no risk at all. "
                                    "The new account was opened before its owner was screened against sanctions."}]


def test_the_compliance_check_returns_the_apps_verdict(server) -> None:
    """t-finance+rag is the finance app's compliance check: beside the model's words it returns the app's verdict,
    every candidate rule as a finding (flagged when the model named or cited it) and the risk level from the
    flagged rules' severities; a stream's last chunk carries the same; a medical answer carries none."""
    from types import SimpleNamespace

    from apps.compliance import SEVERITIES, model_flags

    api = client(server, new_key(server, "checker", rate="100/minute"))
    plain = api.chat.completions.create(model="t-finance+rag", messages=MEMO, max_tokens=24)
    report, cited = plain.veritune["compliance"], [c["doc_id"] for c in plain.citations]
    assert cited and sorted(row["rule_id"] for row in report["findings"]) == sorted(cited)
    flagged = model_flags(plain.choices[0].message.content, [SimpleNamespace(doc_id=d) for d in cited])
    assert {row["rule_id"] for row in report["findings"] if row["flagged_by_model"]} == set(flagged)
    severities = [row["severity"] for row in report["findings"] if row["flagged_by_model"]]
    assert report["risk_level"] == (max(severities, key=SEVERITIES.index) if severities else "none flagged")
    assert all(row["sentence"] in MEMO[0]["content"] and row["severity"] in SEVERITIES for row in report["findings"])
    chunks = list(api.chat.completions.create(model="t-finance+rag", messages=MEMO, max_tokens=24, stream=True))
    assert [c.veritune["compliance"] for c in chunks if getattr(c, "veritune", None)] == [report]
    medical = api.chat.completions.create(model="t-medical+rag", messages=QUESTION, max_tokens=4)
    assert "compliance" not in medical.veritune and medical.citations


def test_models_health_and_model_restrictions(server) -> None:
    key = new_key(server, "finance-only", models=("t-finance", "t-finance+rag"))
    api = client(server, key)
    assert [m.id for m in api.models.list().data] == ["t-finance", "t-finance+rag"]
    with pytest.raises(openai.PermissionDeniedError, match="may not use the model"):
        api.chat.completions.create(model="t-medical", messages=QUESTION)
    answer = api.chat.completions.create(model="t-finance", messages=[{"role": "user", "content": "KYC rules?"}])
    assert answer.usage.completion_tokens <= 8                                   # the server's default max_tokens
    health = httpx.get(server["url"] + "/health").json()
    assert health["status"] == "ok" and "t-medical+rag" in health["models"]
    assert health["apps"] == ["finance", "medical"]
    assert httpx.get(server["url"] + "/ui/medical/", headers={"Authorization": f"Bearer {key}"}).status_code == 200


def test_bad_and_revoked_keys_get_401(server) -> None:
    with pytest.raises(openai.AuthenticationError, match="invalid API key"):
        client(server, "vt-not-a-key").models.list()
    key = new_key(server, "leaver")
    server["keys"].revoke("leaver")
    with pytest.raises(openai.AuthenticationError, match="revoked"):
        client(server, key).chat.completions.create(model="t-medical", messages=QUESTION)
    response = httpx.get(server["url"] + "/v1/models")
    assert response.status_code == 401 and response.json()["error"]["code"] == "missing_api_key"


def test_unknown_model_is_404(server) -> None:
    with pytest.raises(openai.NotFoundError, match="does not exist"):
        client(server, new_key(server, "bob")).chat.completions.create(model="gpt-5", messages=QUESTION)


def test_rate_limit_is_429_with_retry_after(server) -> None:
    api = client(server, new_key(server, "carol", rate="2/minute"))
    for _ in range(2):
        api.chat.completions.create(model="t-medical", messages=QUESTION, max_tokens=2)
    with pytest.raises(openai.RateLimitError) as caught:
        api.chat.completions.create(model="t-medical", messages=QUESTION, max_tokens=2)
    assert 1 <= int(caught.value.response.headers["retry-after"]) <= 60
    assert caught.value.code == "rate_limit_exceeded"


def test_quota_used_up_is_429_insufficient_quota(server) -> None:
    api = client(server, new_key(server, "dave", quota=150))
    with pytest.raises(openai.RateLimitError) as caught:
        for _ in range(10):                                      # each call takes its prompt (> 20) + up to 4
            api.chat.completions.create(model="t-medical", messages=QUESTION, max_tokens=4)
    assert caught.value.code == "insufficient_quota"
    assert server["keys"].usage(server["keys"].find("dave"))["total_tokens"] <= 150


@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        (b"{not json", 400, "invalid_json"),
        (b'{"model": "t-medical"}', 400, "invalid_value"),
        (b'{"model": "t-medical", "messages": [{"role": "user", "content": "  "}]}', 400, "invalid_input"),
        (b'{"model": "t-medical", "messages": [{"role": "robot", "content": "hi"}]}', 400, "invalid_value"),
        (b'{"model": "t-medical", "messages": [{"role": "user", "content": "' + b"x" * 5000 + b'"}]}', 413,
         "body_too_large"),
    ],
)
def test_bad_requests_get_openai_shaped_errors(server, body: bytes, status: int, code: str) -> None:
    if "erin" not in server:
        server["erin"] = new_key(server, "erin", rate="100/minute")
    key = server["erin"]
    response = httpx.post(server["url"] + "/v1/chat/completions", content=body,
                          headers={"Authorization": f"Bearer {key}", "Content-Type": "application/json"})
    assert response.status_code == status
    error = response.json()["error"]
    assert error["code"] == code and error["message"] and error["type"]
    assert httpx.get(server["url"] + "/health").status_code == 200              # still serving everyone


def test_ledger_is_exact_after_50_concurrent_requests(server) -> None:
    from apps.keys import KeyStore

    key = new_key(server, "load", rate="1000/minute")
    api = client(server, key)

    def one(i: int):
        content = f"Question {i}: what are the red flags of chest pain?"
        return api.chat.completions.create(model="t-medical" if i % 2 else "t-medical+rag",
                                           messages=[{"role": "user", "content": content}], max_tokens=4).usage

    with ThreadPoolExecutor(max_workers=50) as pool:
        usages = list(pool.map(one, range(50)))
    ledger = httpx.get(server["url"] + "/v1/usage", headers={"Authorization": f"Bearer {key}"}).json()
    assert ledger["requests"] == 50
    assert ledger["prompt_tokens"] == sum(u.prompt_tokens for u in usages)
    assert ledger["completion_tokens"] == sum(u.completion_tokens for u in usages)
    assert set(ledger["by_model"]) == {"t-medical", "t-medical+rag"} and ledger["cost"] > 0
    reopened = KeyStore(Path(server["keys_path"]))                               # persisted in SQLite
    assert reopened.usage(reopened.find("load"))["total_tokens"] == ledger["total_tokens"]


def test_readme_openai_snippet_runs(server, monkeypatch, capsys) -> None:
    """The README's client snippet, as printed there, against this server (only the URL and model id differ)."""
    from tests.conftest import REPO

    readme = (REPO / "README.md").read_text(encoding="utf-8")
    section = readme[readme.index("## API: OpenAI-compatible"):]
    start = section.index("```python") + len("```python")
    snippet = section[start: section.index("```", start)]
    assert "http://127.0.0.1:8000/v1" in snippet and "veritune-medical+rag" in snippet
    snippet = snippet.replace("http://127.0.0.1:8000/v1", server["url"] + "/v1").replace("veritune-medical+rag",
                                                                                       "t-medical+rag")
    monkeypatch.setenv("VERITUNE_API_KEY", new_key(server, "readme"))
    exec(compile(snippet, "README.md", "exec"), {})  # noqa: S102 - our own documentation
    printed = capsys.readouterr().out
    assert "MED-" in printed and "total_tokens=" in printed


def test_eval_harness_measures_the_endpoint_as_a_system(server, monkeypatch, tmp_path: Path) -> None:
    import json

    from eval.harness import EvalConfig, run_eval
    from veritune.errors import VerituneError

    config = EvalConfig(tasks=["medical_qa"], model="unused", systems=["api"], endpoint=server["url"] + "/v1",
                        api_models={"medical": "t-medical+rag"}, limit=4)
    monkeypatch.delenv("VERITUNE_API_KEY", raising=False)
    with pytest.raises(VerituneError, match=r"VERITUNE_API_KEY, which is not set"):
        run_eval(config, tmp_path / "no-key")
    monkeypatch.setenv("VERITUNE_API_KEY", new_key(server, "eval"))
    results = json.loads((run_eval(config, tmp_path / "eval") / "results.json").read_text())
    api = results["tasks"]["medical_qa"]["systems"]["api"]
    assert {"token_f1", "rouge_l", "hit_at_k", "mrr", "pii_leak"} <= set(api)   # retrieval scored from citations
    assert results["speed"]["api:t-medical+rag"]["tokens"] > 0
    mc = EvalConfig(tasks=["medical_triage_mc"], model="unused", systems=["api"], endpoint=server["url"] + "/v1",
                    api_models={"medical": "t-medical"}, limit=2)
    with pytest.raises(VerituneError, match="log-likelihood"):
        run_eval(mc, tmp_path / "mc")


def test_build_server_mounts_an_app_per_domain(model_entries, tmp_path: Path) -> None:
    from apps.config import ServeConfig
    from apps.server import build_server

    door = build_server(ServeConfig(keys=str(tmp_path / "keys.sqlite"), models=model_entries))
    paths = {getattr(route, "path", "") for route in door.app.routes}
    assert {"/ui/medical", "/ui/finance", "/v1/chat/completions", "/v1/usage", "/health"} <= paths
