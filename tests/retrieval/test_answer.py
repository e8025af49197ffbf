from __future__ import annotations

import threading

from retrieval.answer import ABSTAIN, answer, build_prompt, retrieve, stream_generate


def test_prompt_numbers_the_evidence(index) -> None:
    hits, weak = retrieve(index, "chest pressure spreading to the left arm", k=2)
    prompt = build_prompt("chest pressure spreading to the left arm", hits, "en")
    assert not weak and prompt.startswith("Evidence:\n[1] (MED-C001-EN) Acute coronary syndrome.")
    assert "[2] (" in prompt and prompt.endswith("cite it as [n].")


def test_answer_streams_and_is_verified(index, tiny_base) -> None:
    from transformers import AutoModelForCausalLM, AutoTokenizer

    model, tokenizer = AutoModelForCausalLM.from_pretrained(tiny_base), AutoTokenizer.from_pretrained(tiny_base)
    pieces = list(stream_generate(model, tokenizer, "Evidence:\n[1] x\n\nQuestion: y", max_new_tokens=12))
    assert len(pieces) >= 2  # streamed in pieces, not one block
    result = answer("What tests are key for acute coronary syndrome?", index, model, tokenizer, k=2,
                    max_new_tokens=16)
    assert not result.abstained and result.completion_tokens > 0 and result.verification is not None
    assert 0.0 <= result.groundedness <= 1.0 and len(result.hits) == 2


def test_stop_event_ends_generation_early(tiny_base) -> None:
    from transformers import AutoModelForCausalLM, AutoTokenizer

    model, tokenizer = AutoModelForCausalLM.from_pretrained(tiny_base), AutoTokenizer.from_pretrained(tiny_base)
    stop = threading.Event()
    stop.set()
    text = "".join(stream_generate(model, tokenizer, "hello", max_new_tokens=200, stop=stop))
    assert len(tokenizer(text)["input_ids"]) <= 2


def test_abstains_when_evidence_is_weak(index, tiny_base) -> None:
    from transformers import AutoModelForCausalLM, AutoTokenizer

    model, tokenizer = AutoModelForCausalLM.from_pretrained(tiny_base), AutoTokenizer.from_pretrained(tiny_base)
    result = answer("zzkx qwpf vbnm lorem ipsum dolor", index, model, tokenizer)
    assert result.abstained and result.text == ABSTAIN["en"] and result.completion_tokens == 0
