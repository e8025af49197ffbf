"""`veritune serve` attacked as the security review did: keyless doors, server files through Gradio's file routes,
quota races, dropped streams, a +rag model asked something off-topic, mixed English/Chinese PII, hostile bodies.
A real uvicorn server on 127.0.0.1, the official openai client, gradio_client and raw HTTP."""

from __future__ import annotations

import json
import logging
import re
import socket
import stat
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest

from tests.apps.conftest import client, new_key
from tests.conftest import REPO, run_cli

openai = pytest.importorskip("openai")
MIXED = "Patient John Smith, SSN 536-22-1234. 患者张伟，电话13812345678，胸痛两小时。"
OFF_TOPIC = "What is the best pizza in Naples?"


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def usage_of(server, name: str) -> dict:
    keys = server["keys"]
    return keys.usage(keys.find(name))


# ---- 1. one door ------------------------------------------------------------------------------------------------
KEYLESS = [("GET", "/v1/models"), ("GET", "/v1/usage"), ("POST", "/v1/chat/completions"), ("GET", "/docs"),
           ("GET", "/openapi.json"), ("GET", "/ui/medical/"), ("GET", "/ui/medical/config"),
           ("GET", "/ui/medical/gradio_api/info"), ("POST", "/ui/medical/gradio_api/call/ask"),
           ("POST", "/ui/finance/gradio_api/call/upload"), ("POST", "/ui/medical/gradio_api/queue/join"),
           ("GET", "/ui/finance/gradio_api/upload_progress"), ("POST", "/ui/finance/gradio_api/upload"),
           ("GET", "/no/such/route")]


@pytest.mark.parametrize(("method", "path"), KEYLESS)
def test_every_route_but_health_needs_a_key(server, method: str, path: str) -> None:
    response = httpx.request(method, server["url"] + path, json={"data": []})
    assert response.status_code == 401, path
    assert response.json()["error"]["code"] == "missing_api_key"
    wrong = httpx.request(method, server["url"] + path, headers=bearer("vt-forged"), json={"data": []})
    assert wrong.status_code == 401 and wrong.json()["error"]["code"] == "invalid_api_key"
    assert httpx.get(server["url"] + "/health").status_code == 200


def test_a_browser_logs_in_once_and_keeps_a_session_cookie(server) -> None:
    key = new_key(server, "browser-user")
    page = httpx.get(server["url"] + "/ui/medical/", headers={"Accept": "text/html"})
    assert page.status_code == 401 and '<form method="post" action="/login">' in page.text
    command = re.search(r"<code>veritune ([a-z ]+)</code> makes one", page.text).group(1).split()
    assert run_cli(*command, "--help").returncode == 0   # the page names a command that exists
    with httpx.Client(base_url=server["url"]) as browser:
        refused = browser.post("/login", data={"key": "vt-wrong", "next": "/ui/medical/"})
        assert refused.status_code == 401 and "veritune_session" not in refused.headers.get("set-cookie", "")
        login = browser.post("/login", data={"key": key, "next": "https://evil.example/ui/"})
        assert login.status_code == 303 and login.headers["location"] == "/ui/"          # never an open redirect
        cookie = login.headers["set-cookie"].lower()
        assert "httponly" in cookie and "samesite=strict" in cookie and key.lower() not in cookie
        app_page = browser.get("/ui/medical/")
        assert app_page.status_code == 200 and "veritune" in app_page.text
        assert browser.get("/v1/models").json()["data"]                                  # the same key's rights
    server["keys"].revoke("browser-user")
    with httpx.Client(base_url=server["url"], cookies=browser.cookies) as after:
        assert after.get("/ui/medical/").status_code == 401                             # revocation holds


def test_pages_forbid_framing_and_sniffing(server) -> None:
    key = new_key(server, "headers")
    for path in ("/ui/medical/", "/v1/models", "/health"):
        headers = httpx.get(server["url"] + path, headers=bearer(key)).headers
        assert headers["x-frame-options"] == "DENY" and "frame-ancestors 'none'" in headers["content-security-policy"]
        assert headers["x-content-type-options"] == "nosniff"


def gradio_call(base: str, api: str, data: list, headers: dict[str, str]) -> str:
    """Gradio's two-step HTTP API as curl would use it: POST the call, then read its event stream."""
    posted = httpx.post(f"{base}gradio_api/call/{api}", json={"data": data}, headers=headers, timeout=30)
    assert posted.status_code == 200, posted.text
    event = posted.json()["event_id"]
    return httpx.get(f"{base}gradio_api/call/{api}/{event}", headers=headers, timeout=120).text


SERVER_FILE = {"path": str(REPO / "requirements-models.txt"), "meta": {"_type": "gradio.FileData"},
               "orig_name": "requirements-models.txt"}


def test_file_routes_never_return_a_server_file(server, running_apps) -> None:
    secret = (REPO / "requirements-models.txt").read_text(encoding="utf-8").splitlines()[0]
    key = new_key(server, "reader")
    mounted = gradio_call(server["url"] + "/ui/finance/", "upload", [SERVER_FILE], bearer(key))
    standalone = gradio_call(running_apps["finance"], "upload", [SERVER_FILE], {})
    for answer in (mounted, standalone):
        assert "event: error" in answer and secret not in answer
    assert (REPO / "requirements-models.txt").exists()                                 # and never deleted


def test_app_calls_are_admitted_metered_and_billed_like_api_calls(server) -> None:
    from gradio_client import Client

    key = new_key(server, "app-user", rate="100/minute")
    app = Client(server["url"] + "/ui/medical/", headers=bearer(key), verbose=False)
    *_, usage = app.predict("Central chest pressure and sweating", 2, "fine-tuned", "English", api_name="/ask")
    assert "tokens" in usage
    ledger = usage_of(server, "app-user")
    assert ledger["requests"] == 1 and ledger["by_model"]["ui/medical"]["completion_tokens"] > 0
    api_only = new_key(server, "api-only", models=("t-medical",))
    with pytest.raises(Exception, match="may not use the model 'ui/medical'"):
        Client(server["url"] + "/ui/medical/", headers=bearer(api_only), verbose=False).predict(
            "chest pain", 2, "fine-tuned", "English", api_name="/ask")
    tiny = new_key(server, "app-tiny-quota", quota=20)
    with pytest.raises(Exception, match="quota"):
        Client(server["url"] + "/ui/medical/", headers=bearer(tiny), verbose=False).predict(
            "chest pain", 2, "fine-tuned", "English", api_name="/ask")
    assert usage_of(server, "app-tiny-quota")["total_tokens"] == 0


def test_standalone_app_binds_loopback_by_default() -> None:
    import inspect

    from apps.launch import launch_app

    assert inspect.signature(launch_app).parameters["host"].default == "127.0.0.1"


def test_exposed_host_is_warned_about(caplog) -> None:
    from apps.launch import warn_if_exposed

    logger = logging.getLogger("veritune")
    logger.propagate = True
    with caplog.at_level(logging.WARNING, logger="veritune.serve"):
        warn_if_exposed("127.0.0.1", "x")
        assert not caplog.records
        warn_if_exposed("0.0.0.0", "put TLS in front of it")
    assert "reachable from other machines" in caplog.text


# ---- 2. quotas that hold ----------------------------------------------------------------------------------------
def test_a_600_token_quota_holds_under_30_concurrent_requests(server) -> None:
    key = new_key(server, "racer", quota=600, rate="1000/minute")
    api = client(server, key)

    def one(i: int) -> str:
        try:
            api.chat.completions.create(model="t-medical", max_tokens=40, extra_body={"min_tokens": 40},
                                        messages=[{"role": "user", "content": f"Question {i}: chest pain?"}])
            return "ok"
        except openai.RateLimitError as exc:
            assert exc.code == "insufficient_quota"
            return "refused"

    with ThreadPoolExecutor(max_workers=30) as pool:
        outcomes = list(pool.map(one, range(30)))
    ledger = usage_of(server, "racer")
    assert "ok" in outcomes and "refused" in outcomes
    assert ledger["total_tokens"] <= 600 and ledger["requests"] == outcomes.count("ok")


def test_max_tokens_is_capped_to_what_the_quota_has_left(server) -> None:
    probe = client(server, new_key(server, "probe")).chat.completions.create(
        model="t-medical", messages=QUESTION_SHORT, max_tokens=1)
    quota = probe.usage.prompt_tokens + 10
    api = client(server, new_key(server, "capped", quota=quota))
    answer = api.chat.completions.create(model="t-medical", messages=QUESTION_SHORT, max_tokens=400,
                                         extra_body={"min_tokens": 400})
    assert answer.usage.completion_tokens == 10 and answer.veritune["max_tokens_capped"] == 10
    assert usage_of(server, "capped")["total_tokens"] == quota
    with pytest.raises(openai.RateLimitError, match="quota"):
        api.chat.completions.create(model="t-medical", messages=QUESTION_SHORT, max_tokens=1)
    small = client(server, new_key(server, "small", quota=5))
    with pytest.raises(openai.RateLimitError, match="the prompt alone"):
        small.chat.completions.create(model="t-medical", messages=QUESTION_SHORT, max_tokens=400)
    assert usage_of(server, "small")["total_tokens"] == 0


QUESTION_SHORT = [{"role": "user", "content": "Chest pain red flags?"}]


def test_a_dropped_stream_stops_generation_and_is_billed_for_every_token(server) -> None:
    key = new_key(server, "dropper", rate="100/minute")
    body = {"model": "t-medical", "messages": QUESTION_SHORT, "stream": True, "max_tokens": 900, "min_tokens": 900}
    received = 0
    with httpx.stream("POST", server["url"] + "/v1/chat/completions", json=body, headers=bearer(key),
                      timeout=60) as response:
        for line in response.iter_lines():
            received += '"content"' in line
            if received >= 3:
                break                                     # the client goes away mid-answer
    deadline = time.monotonic() + 60
    while usage_of(server, "dropper")["requests"] == 0:
        assert time.monotonic() < deadline, "the dropped stream was never billed"
        time.sleep(0.2)
    billed = usage_of(server, "dropper")["completion_tokens"]
    assert 2 <= billed < 900                              # stopped early, and every generated token counted


# ---- 3. same policy everywhere ----------------------------------------------------------------------------------
def test_rag_models_abstain_on_the_api_as_the_app_does(server) -> None:
    from retrieval import ABSTAIN  # the app's abstention text

    api = client(server, new_key(server, "off-topic", rate="100/minute"))
    plain = api.chat.completions.create(model="t-medical+rag", messages=[{"role": "user", "content": OFF_TOPIC}])
    assert plain.choices[0].message.content == ABSTAIN["en"]
    assert plain.citations == [] and plain.veritune["abstained"] is True
    stream = api.chat.completions.create(model="t-medical+rag", messages=[{"role": "user", "content": OFF_TOPIC}],
                                         stream=True)
    chunks = list(stream)
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == ABSTAIN["en"]
    assert [c.veritune["abstained"] for c in chunks if getattr(c, "veritune", None)] == [True]


# ---- 4. mixed-language text ---------------------------------------------------------------------------------------
def test_mixed_english_and_chinese_pii_is_masked_on_the_api(server) -> None:
    api = client(server, new_key(server, "mixed"))
    answer = api.chat.completions.create(model="t-medical", messages=[{"role": "user", "content": MIXED}],
                                         max_tokens=2)
    masked = answer.veritune["masked"]
    assert masked.get("PERSON") == 2 and masked.get("US_SSN") == 1 and masked.get("CN_PHONE") == 1


def test_mixed_english_and_chinese_pii_is_masked_in_the_app(server) -> None:
    from gradio_client import Client

    app = Client(server["url"] + "/ui/medical/", headers=bearer(new_key(server, "mixed-app")), verbose=False)
    masked, *_ = app.predict(MIXED, 2, "fine-tuned", "English", api_name="/ask")
    assert "`PERSON` × 2" in masked and "`US_SSN` × 1" in masked and "`CN_PHONE` × 1" in masked


# ---- 6. requests ------------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        (b'{"model": "t-medical", "messages": [{"role": "user", "content": "\\ud800 lone"}]}', 400, "invalid_json"),
        (b'{"model": "t-medical", "messages": [{"role": "user", "content": "hi"}], "x": ' + b"[" * 40 + b"]" * 40
         + b"}", 400, "invalid_json"),
        (b"[" * 2000 + b"]" * 2000, 400, "invalid_json"),
        (b'{"model": "t-medical", "messages": [{"role": "user", "content": "hi"}], "max_tokens": "3"}', 400,
         "invalid_value"),
        (b'{"model": "t-medical", "messages": [{"role": "user", "content": "hi"}], "max_tokens": 3.0}', 400,
         "invalid_value"),
        (b'{"model": "t-medical", "messages": [{"role": "user", "content": "hi"}], "max_tokens": 5000}', 400,
         "context_length_exceeded"),
        (b'{"model": "t-medical", "messages": [{"role": "user", "content": "hi"}], "n": 3}', 400,
         "unsupported_value"),
        (b'{"model": "t-medical", "messages": [{"role": "user", "content": 7}]}', 400, "invalid_value"),
    ],
)
def test_hostile_bodies_get_openai_shaped_errors(server, body: bytes, status: int, code: str) -> None:
    if "hostile" not in server:
        server["hostile"] = new_key(server, "hostile", rate="1000/minute")
    response = httpx.post(server["url"] + "/v1/chat/completions", content=body,
                          headers={**bearer(server["hostile"]), "Content-Type": "application/json"})
    assert response.status_code == status, response.text
    assert response.json()["error"]["code"] == code


def raw_post(server, key: str, framing: str, chunks: list[bytes]) -> str:
    """A POST on a raw socket that sends only `chunks` of its body, then reads what the server answers."""
    url = urlsplit(server["url"])
    with socket.create_connection((url.hostname, url.port), timeout=30) as sock:
        sock.sendall(f"POST /v1/chat/completions HTTP/1.1\r\nHost: {url.hostname}\r\nAuthorization: Bearer {key}\r\n"
                     f"Content-Type: application/json\r\n{framing}\r\n\r\n".encode())
        for chunk in chunks:
            sock.sendall(chunk)
        reply = b""
        while b"}}" not in reply and (data := sock.recv(65536)):     # headers and the JSON error, or closed
            reply += data
        return reply.decode("latin-1")


def test_an_oversized_body_is_refused_before_it_is_read_whole(server) -> None:
    """The 413 arrives while the client still owes most of the body: after 8 KB of a chunked body that claims no
    length, and at once for a declared 150 MB."""
    key = new_key(server, "big-body", rate="100/minute")
    chunked = raw_post(server, key, "Transfer-Encoding: chunked", [b"400\r\n" + b"x" * 1024 + b"\r\n"] * 8)
    assert chunked.startswith("HTTP/1.1 413") and "body_too_large" in chunked
    declared = raw_post(server, key, f"Content-Length: {150 * 2**20}", [b"{"])
    assert declared.startswith("HTTP/1.1 413") and "body_too_large" in declared


def test_every_authenticated_route_is_rate_limited(server) -> None:
    api = client(server, new_key(server, "lister", rate="3/minute"))
    for _ in range(3):
        api.models.list()
    with pytest.raises(openai.RateLimitError):
        api.models.list()
    assert httpx.get(server["url"] + "/v1/usage", headers=bearer(api.api_key)).status_code == 429


def test_refusals_are_logged_without_content(server, caplog) -> None:
    logging.getLogger("veritune").propagate = True
    key = new_key(server, "logged", models=("t-finance",))
    with caplog.at_level(logging.WARNING, logger="veritune.serve"):
        httpx.get(server["url"] + "/v1/models", headers=bearer("vt-forged-secret-value"))
        httpx.post(server["url"] + "/v1/chat/completions", headers=bearer(key),
                   json={"model": "t-medical", "messages": [{"role": "user", "content": "Robert Miller"}]})
    lines = [r.getMessage() for r in caplog.records if r.name == "veritune.serve"]
    assert any("status=401" in line and "invalid_api_key" in line for line in lines)
    assert any("status=403" in line and "key=logged" in line for line in lines)
    assert not any("forged-secret" in line or "Robert" in line or key in line for line in lines)


def test_key_store_and_its_wal_are_owner_only(server) -> None:
    path = Path(server["keys_path"])
    for file in (path, path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm")):
        if file.exists():
            assert stat.S_IMODE(file.stat().st_mode) == 0o600, file.name
    assert path.exists()


def test_health_stays_open_and_says_nothing_private(server) -> None:
    health = httpx.get(server["url"] + "/health").json()
    assert set(health) == {"status", "models", "apps"}
    assert json.dumps(health).count("vt-") == 0


def test_serve_prints_its_url_only_once_the_port_accepts_connections(model_entries, tmp_path: Path) -> None:
    """`veritune serve --port 0` as a user runs it: the printed URL answers at once (no retry, no sleep)."""
    import os
    import subprocess
    import sys

    import yaml

    config = {"keys": str(tmp_path / "keys.sqlite"), "mount_apps": False,
              "models": [entry.model_dump() for entry in model_entries[:1]]}
    (tmp_path / "serve.yaml").write_text(yaml.safe_dump(config), encoding="utf-8")
    exe = Path(sys.executable).parent / "veritune"
    process = subprocess.Popen([str(exe), "serve", "--config", str(tmp_path / "serve.yaml"), "--port", "0"],
                               stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
                               env={**os.environ, "COLUMNS": "200"})
    try:
        line = ""
        deadline = time.monotonic() + 240
        while "API on " not in line:
            assert time.monotonic() < deadline and process.poll() is None, "serve never said where it listens"
            line = process.stdout.readline()
        url = line.split("API on ", 1)[1].split("/v1", 1)[0]
        assert httpx.get(url + "/health", timeout=5).json()["status"] == "ok"
        assert httpx.get(url + "/v1/models", timeout=5).status_code == 401
    finally:
        process.terminate()
        process.wait(timeout=30)
