"""A small world for the apps and the API: the session's tiny base, a 2-step adapter, and an index per domain over
part of each pack's knowledge base (the tests check plumbing, not answer quality)."""

from __future__ import annotations

import json
import os
import socket
import threading
import time
from pathlib import Path

import pytest

from apps.config import AssistantSettings, ModelEntry
from tests.conftest import DOMAINS, REPO, train_tiny_adapter
from veritune.jsonl import read_jsonl
from veritune.packs import load_pack

KB_FILES = {"medical": DOMAINS / "medical/kb/kb.jsonl", "finance": DOMAINS / "finance/kb/rules.jsonl"}
DOCS_PER_DOMAIN = 40


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture(scope="session")
def app_adapter(tiny_base: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    rows = read_jsonl(DOMAINS / "medical/sft/train.jsonl")[:8] + read_jsonl(DOMAINS / "finance/sft/train.jsonl")[:8]
    return train_tiny_adapter(tiny_base, tmp_path_factory.mktemp("app_ft"), rows)


@pytest.fixture(scope="session")
def app_indexes(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    from retrieval import IndexSettings, build_index

    folder = tmp_path_factory.mktemp("app_index")
    out = {}
    for domain, kb in KB_FILES.items():
        docs = folder / f"{domain}.jsonl"
        docs.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in read_jsonl(kb)[:DOCS_PER_DOMAIN]))
        findings = load_pack(domain).dev_files().get("findings")   # as the demo builds it: finance scores findings
        out[domain] = build_index(docs, folder / domain, IndexSettings(domain=domain), allow_raw=True,
                                  findings_on=findings)
    return out


@pytest.fixture(scope="session")
def app_settings(request: pytest.FixtureRequest) -> dict[str, AssistantSettings]:
    """The test world; with VERITUNE_APPS_FROM_DEMO=1, what `make demo` built (for README screenshots)."""
    if os.environ.get("VERITUNE_APPS_FROM_DEMO") == "1":
        from apps.config import demo_settings

        return {domain: demo_settings(domain, root=REPO / "runs/demo") for domain in KB_FILES}
    tiny_base = request.getfixturevalue("tiny_base")
    app_adapter = request.getfixturevalue("app_adapter")
    app_indexes = request.getfixturevalue("app_indexes")
    # fp32 pinned: 'auto' means bf16 on CPUs with AMX only, and the tiny random model's answers would then depend
    # on the machine (the precision choice has its own test, tests/finetune). A stronger repetition penalty: at the
    # default 1.15 the random model can loop on one newline token and answer nothing, as it did once the packs'
    # SFT text (which its tokenizer is trained on) changed
    return {domain: AssistantSettings(domain=domain, model=str(tiny_base), adapter=str(app_adapter),
                                      index=str(index), max_new_tokens=24, bf16="off", repetition_penalty=1.5)
            for domain, index in app_indexes.items()}


@pytest.fixture(scope="session")
def shared_resources():
    from apps.engine import ModelPool, SharedNlp

    return ModelPool(), SharedNlp()


@pytest.fixture(scope="session")
def model_entries(app_settings: dict[str, AssistantSettings]) -> list[ModelEntry]:
    entries = []
    for domain, settings in app_settings.items():
        entries.append(ModelEntry(id=f"t-{domain}", rag=False, **settings.model_dump()))
        entries.append(ModelEntry(id=f"t-{domain}+rag", rag=True, **settings.model_dump()))
    return entries


@pytest.fixture(scope="session")
def running_apps(app_settings, shared_resources, tmp_path_factory):
    from apps.launch import build_app, launch_kwargs, offline_gradio_env

    offline_gradio_env(tmp_path_factory.mktemp("gradio"))
    pool, nlp = shared_resources
    urls, demos = {}, []
    for name in ("medical", "finance"):
        demo = build_app(name, app_settings[name], pool, nlp)
        demo.queue(max_size=8)
        port = free_port()
        demo.launch(server_name="127.0.0.1", server_port=port, prevent_thread_lock=True, quiet=True,
                    share=False, **launch_kwargs())
        urls[name] = f"http://127.0.0.1:{port}/"
        demos.append(demo)
    yield urls
    for demo in demos:
        demo.close()


@pytest.fixture(scope="session")
def server(model_entries, app_settings, shared_resources, tmp_path_factory):
    """`veritune serve` on a real uvicorn server on 127.0.0.1, with both apps mounted behind the door."""
    import uvicorn

    from apps.config import ServeConfig
    from apps.keys import KeyStore
    from apps.launch import build_app, offline_gradio_env
    from apps.server import MountedApp, build_assistants, create_api

    offline_gradio_env(tmp_path_factory.mktemp("gradio"))
    pool, nlp = shared_resources
    keys_path = tmp_path_factory.mktemp("serve") / "keys.sqlite"
    config = ServeConfig(keys=str(keys_path), models=model_entries, default_max_tokens=8, max_body_bytes=4096)
    keys = KeyStore(keys_path)
    apps = {name: MountedApp(lambda meter, name=name: build_app(name, app_settings[name], pool, nlp, meter=meter))
            for name in ("medical", "finance")}
    api = create_api(config, keys, build_assistants(model_entries, pool, nlp), apps)
    port = free_port()
    uv = uvicorn.Server(uvicorn.Config(api, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=uv.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 60
    while not uv.started:
        assert time.monotonic() < deadline, "server did not start"
        time.sleep(0.05)
    yield {"url": f"http://127.0.0.1:{port}", "keys": keys, "keys_path": keys_path}
    uv.should_exit = True
    thread.join(timeout=30)


def client(server, key: str):
    """The official openai client (max_retries=0: it retries 429s by default)."""
    import openai

    return openai.OpenAI(base_url=server["url"] + "/v1", api_key=key, max_retries=0, timeout=120)


def new_key(server, name: str, **options) -> str:
    key, _ = server["keys"].add(name, **options)
    return key
