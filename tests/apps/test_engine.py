"""The assistant behind the apps and the API, with the real stages: Presidio, FAISS + BM25, a tiny MoE."""

from __future__ import annotations

import pytest

from apps.engine import Assistant, InputRejected


@pytest.fixture(scope="module")
def medical(app_settings, shared_resources) -> Assistant:
    pool, nlp = shared_resources
    return Assistant(app_settings["medical"], pool=pool, nlp=nlp)


def test_ask_masks_retrieves_streams_and_verifies(medical: Assistant) -> None:
    question = "Patient Robert Miller (phone 415-555-0134) has central chest pressure spreading to the left arm."
    turns = []
    for turn in medical.ask(question, k=3):
        turns.append((turn.text, turn.done, len(turn.hits)))
    final = turn
    assert "Robert" not in final.question and "415-555-0134" not in final.question
    assert final.masked.get("PERSON") == 1 and final.masked.get("PHONE_NUMBER") == 1
    assert turns[0] == ("", False, 3)                        # evidence first, before any token
    assert len(turns) > 3 and final.done and not turns[-2][1]  # streamed in pieces, then finished
    assert final.hits[0].doc_id.startswith("MED-") and final.verification is not None
    assert final.completion_tokens > 0 and final.prompt_tokens > final.completion_tokens
    assert (final.groundedness is None or 0.0 <= final.groundedness <= 1.0) and final.cost > 0  # None: no claim


def test_chinese_question(medical: Assistant) -> None:
    final = medical.answer("患者张伟，手机13812345678，胸骨后压榨样疼痛并出汗。")
    assert final.lang == "zh" and "13812345678" not in final.question and final.masked
    assert all(hit.metadata["lang"] == "zh" for hit in final.hits)


def test_abstains_when_the_index_has_nothing_close(medical: Assistant) -> None:
    final = medical.answer("Quarterly dividend reinvestment for offshore bond funds")
    assert final.abstained and final.done and final.completion_tokens == 0
    assert final.text.startswith("Not enough evidence")


@pytest.mark.parametrize(("value", "message"), [("", "empty"), ("   ", "empty"), (None, "empty"),
                                                ("x" * 7000, "limit is 6000"), ("a\x00b", "not text")])
def test_bad_input_is_rejected_before_any_work(medical: Assistant, value, message: str) -> None:
    with pytest.raises(InputRejected, match=message):
        next(medical.ask(value))


def test_chat_desensitizes_every_message_and_counts_exactly(medical: Assistant) -> None:
    messages = [{"role": "system", "content": "You are careful."},
                {"role": "user", "content": "I am Robert Miller. What tests for chest pain?"}]
    *_, final = medical.chat(messages, rag=True, max_new_tokens=6, min_new_tokens=6)
    assert final.completion_tokens == 6 and final.hits and "Robert" not in final.question
    with pytest.raises(InputRejected, match="end with a user message"):
        next(medical.chat([{"role": "assistant", "content": "hi"}], rag=False))


def test_closing_a_stream_stops_generation_and_counts_every_token(medical: Assistant) -> None:
    prepared = medical.prepare([{"role": "user", "content": "Red flags of chest pain?"}], rag=False)
    stream = medical.stream(prepared, max_new_tokens=400, min_new_tokens=400)
    seen = [next(stream).completion_tokens for _ in range(3)]
    stream.close()                                               # what the Stop button and a dropped client do
    final = prepared.turn.completion_tokens
    assert seen[-1] <= final < 400                                # stopped early, and the last tokens are counted
