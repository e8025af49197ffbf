"""One grounded-answer path: the app, the API's +rag model and the eval's lora+rag system give the same answer to
the same question with the same settings (the tiny base is random, so equal text means equal tokens)."""

from __future__ import annotations

import json
from pathlib import Path

from tests.apps.conftest import client, new_key
from veritune.jsonl import read_jsonl


def test_app_api_and_eval_give_the_same_grounded_answer(server, app_settings, shared_resources, tmp_path: Path,
                                                        monkeypatch) -> None:
    from apps.engine import Assistant
    from eval import EvalConfig, get_task, run_eval

    settings = app_settings["medical"]
    [item] = get_task("medical_qa").items(limit=1)
    pool, nlp = shared_resources

    app = Assistant(settings, pool=pool, nlp=nlp).answer(item["question"])
    assert app.question == item["question"] and not app.abstained and app.hits   # nothing masked, evidence found
    assert app.text and app.completion_tokens > 0

    response = client(server, new_key(server, "one-path")).chat.completions.create(
        model="t-medical+rag", messages=[{"role": "user", "content": item["question"]}],
        max_tokens=settings.max_new_tokens)
    api = response.model_dump()

    monkeypatch.delenv("VERITUNE_API_KEY", raising=False)
    config = EvalConfig(tasks=["medical_qa"], model=settings.model, adapters={"medical": settings.adapter},
                        indexes={"medical": settings.index}, systems=["lora+rag"], limit=1,
                        answer=settings.answer_settings())
    [sample] = read_jsonl(run_eval(config, tmp_path / "eval") / "samples.jsonl")

    assert api["choices"][0]["message"]["content"] == app.text == sample["output"]
    assert [c["doc_id"] for c in api["citations"]] == [h.doc_id for h in app.hits] == sample["evidence"]
    assert api["usage"]["completion_tokens"] == app.completion_tokens
    groundedness = json.loads((tmp_path / "eval" / "results.json").read_text())["tasks"]["medical_qa"]["systems"]
    assert groundedness["lora+rag"]["groundedness"]["mean"] == app.groundedness
