from __future__ import annotations

import threading

import pytest

from retrieval import ABSTAIN, AnswerSettings, GroundedAnswerer, build_prompt, retrieve, stream_generate


@pytest.fixture(scope="module")
def model_and_tokenizer(tiny_base):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    return AutoModelForCausalLM.from_pretrained(tiny_base), AutoTokenizer.from_pretrained(tiny_base)


def test_prompt_numbers_the_evidence(index) -> None:
    hits, weak = retrieve(index, "chest pressure spreading to the left arm", k=2)
    prompt = build_prompt("chest pressure spreading to the left arm", hits, "en")
    assert not weak and prompt.startswith("Evidence:\n[1] (MED-C001-EN) Acute coronary syndrome.")
    assert "[2] (" in prompt and prompt.endswith("cite it as [n].")


def test_answer_streams_and_is_verified(index, model_and_tokenizer) -> None:
    model, tokenizer = model_and_tokenizer
    pieces = list(stream_generate(model, tokenizer, "Evidence:\n[1] x\n\nQuestion: y", max_new_tokens=12))
    assert len(pieces) >= 2  # streamed in pieces, not one block
    answerer = GroundedAnswerer(model, tokenizer, index, AnswerSettings(k=2, max_new_tokens=16))
    result = answerer.answer("What tests are key for acute coronary syndrome?")
    assert not result.abstained and result.completion_tokens > 0 and result.verification is not None
    assert result.groundedness is None or 0.0 <= result.groundedness <= 1.0  # None: the answer made no claim
    assert len(result.hits) == 2
    assert result.messages[-1]["content"] == build_prompt(result.question, result.hits, "en")


def test_streamed_and_batched_answers_are_the_same(index, model_and_tokenizer) -> None:
    model, tokenizer = model_and_tokenizer
    answerer = GroundedAnswerer(model, tokenizer, index, AnswerSettings(max_new_tokens=20))
    questions = ["What tests are key for acute coronary syndrome?", "Which drugs treat asthma attacks?",
                 "What are the red flags of a headache?"]
    *_, streamed = answerer.stream(answerer.prepare(questions[0]))
    batched = answerer.generate([answerer.prepare(q) for q in questions])
    assert batched[0].text == streamed.text and batched[0].completion_tokens == streamed.completion_tokens
    assert batched[0].prompt_tokens == streamed.prompt_tokens
    assert batched[0].batch_size == sum(not a.abstained for a in batched) >= 2
    assert answerer.tokens == streamed.completion_tokens + sum(a.completion_tokens for a in batched)


def test_stop_strings_end_the_answer(model_and_tokenizer) -> None:
    model, tokenizer = model_and_tokenizer
    free = GroundedAnswerer(model, tokenizer, settings=AnswerSettings(max_new_tokens=24)).answer("hello", rag=False)
    assert len(free.text) > 4
    stop = free.text[len(free.text) // 2:][:3]
    stopped = GroundedAnswerer(model, tokenizer, settings=AnswerSettings(max_new_tokens=24, stop=[stop]))
    batched = stopped.answer("hello", rag=False)
    *_, streamed = stopped.stream(stopped.prepare("hello", rag=False))
    assert stop not in batched.text and free.text.startswith(batched.text) and streamed.text == batched.text


def test_cancel_ends_generation_early(model_and_tokenizer) -> None:
    model, tokenizer = model_and_tokenizer
    cancel = threading.Event()
    cancel.set()
    text = "".join(stream_generate(model, tokenizer, "hello", max_new_tokens=200, cancel=cancel))
    assert len(tokenizer(text)["input_ids"]) <= 2


def test_abstains_when_evidence_is_weak(index, model_and_tokenizer) -> None:
    answerer = GroundedAnswerer(*model_and_tokenizer, index)
    result = answerer.answer("zzkx qwpf vbnm lorem ipsum dolor")
    assert result.abstained and result.text == ABSTAIN["en"] and result.completion_tokens == 0
    assert answerer.tokens == 0 and result.messages == []
    strict = GroundedAnswerer(*model_and_tokenizer, index, AnswerSettings(abstain_below={"en": 0.99}))
    assert strict.answer("What tests are key for acute coronary syndrome?").abstained


@pytest.mark.parametrize(("settings", "prompt_attributes", "cited"), [
    (AnswerSettings(k=2), True, True),
    (AnswerSettings(k=2, attribute=False), True, False),          # the setting turns attribution off
    (AnswerSettings(k=2), False, False),                          # so does a prompt whose citations are verdicts
])
def test_the_answer_path_attributes_uncited_sentences(index, model_and_tokenizer, settings: AnswerSettings,
                                                      prompt_attributes: bool, cited: bool) -> None:
    from retrieval import GROUNDED_QA, EvidencePrompt

    model, tokenizer = model_and_tokenizer
    prompt = EvidencePrompt(GROUNDED_QA.templates, attribute=prompt_attributes)
    answerer = GroundedAnswerer(model, tokenizer, index, settings, prompt=prompt)
    answer = answerer.prepare("What tests are key for acute coronary syndrome?")
    n = next(n for n, hit in enumerate(answer.hits, start=1) if hit.doc_id == "MED-C001-EN")
    answer.text = "Key tests: 12-lead ECG within 10 minutes, serial high-sensitivity troponin, chest X-ray."
    answerer.verify(answer)
    assert answer.text.endswith(f"chest X-ray [{n}].") is cited
    assert answer.verification.sentences[0].attributed is cited and answer.groundedness == float(cited)


def test_per_sentence_retrieval_finds_each_sentence_its_passage(index) -> None:
    from retrieval import RETRIEVERS

    document = ("The account was opened before the sanctions screening of its beneficial owner was done. "
                "Our new fund flyer promises guaranteed returns with no risk at all.")
    hits, weak = RETRIEVERS.get("per_sentence")(index, document, k=2, filters={"lang": "en"})
    matched = {hit.doc_id: hit.metadata.get("matched_sentence") for hit in hits}
    assert not weak and matched["FIN-AML-001-EN"].startswith("The account was opened")
    assert matched["FIN-MKT-002-EN"].startswith("Our new fund flyer")
    assert len(hits) == len({hit.doc_id for hit in hits}) <= 8          # deduplicated, capped


def test_repetition_penalty_leaves_the_prompt_out_unless_asked(model_and_tokenizer) -> None:
    from retrieval.generation import _decoding

    model, tokenizer = model_and_tokenizer
    quiet = _decoding(model, tokenizer, AnswerSettings(repetition_penalty=1.3), 8, 0, prompt_width=37)
    (processor,) = quiet["logits_processor"]
    assert quiet["repetition_penalty"] == 1.0 and processor.prompt_ignore_length == 37 and processor.penalty == 1.3
    loud = _decoding(model, tokenizer, AnswerSettings(repetition_penalty=1.3, penalize_prompt=True), 8, 0, 37)
    assert loud["repetition_penalty"] == 1.3 and "logits_processor" not in loud
    # the first answer token has no earlier answer token to be penalized for: the same as without any penalty
    prompt = "Evidence:\n[1] chest pain chest pain chest pain\n\nQuestion: chest pain?"
    plain, penalized = (GroundedAnswerer(model, tokenizer, settings=AnswerSettings(max_new_tokens=1,
                                                                                repetition_penalty=p))
                        .answer(prompt, rag=False) for p in (1.0, 2.0))
    assert plain.completion_tokens == penalized.completion_tokens == 1 and plain.text == penalized.text


def test_an_answer_prefix_is_written_for_the_model_and_starts_the_answer(index, model_and_tokenizer) -> None:
    """The prompt's answer_prefix is a prefilled assistant turn: in the prompt's tokens (after the generation
    prompt, before anything the model writes), at the start of the answer's text, the same streamed and batched."""
    from retrieval import EvidencePrompt, chat_ids

    model, tokenizer = model_and_tokenizer
    prompt = EvidencePrompt({"en": "Rules:\n{evidence}\n\nCheck:\n{input}"}, answer_prefix={"en": "Findings:"})
    answerer = GroundedAnswerer(model, tokenizer, index, AnswerSettings(k=2, max_new_tokens=12))
    question = "What tests are key for acute coronary syndrome?"
    prepared = answerer.prepare(question, prompt=prompt)
    assert not prepared.abstained
    user_turn = chat_ids(tokenizer, prepared.messages[:-1])
    prefix_ids = tokenizer("Findings:", add_special_tokens=False)["input_ids"]
    assert prepared.messages[-1] == {"role": "assistant", "content": "Findings:"}
    assert prepared.prompt_ids[:len(user_turn)] == user_turn
    assert prepared.prompt_ids[-len(prefix_ids):] == prefix_ids
    assert prepared.prompt_tokens == len(prepared.prompt_ids)
    *_, streamed = answerer.stream(answerer.prepare(question, prompt=prompt))
    [batched] = answerer.generate([answerer.prepare(question, prompt=prompt)])
    assert streamed.text.startswith("Findings:") and batched.text == streamed.text
    assert batched.completion_tokens == streamed.completion_tokens > 0   # the prefix is prompt, not completion
    plain = answerer.prepare(question, prompt=EvidencePrompt(prompt.templates))
    assert plain.messages[-1]["role"] == "user" and plain.prefix == "" and plain.text == ""
    assert answerer.prepare(question, prompt=prompt, rag=False).messages[-1]["role"] == "user"  # no evidence prompt
