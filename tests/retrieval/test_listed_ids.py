"""Ids the answer writes are ids it was shown: the logits processor, table-driven, then through the answer path."""

from __future__ import annotations

import pytest
import torch

from retrieval import AnswerConstraints, AnswerSettings, EvidencePrompt, GroundedAnswerer
from retrieval.listed_ids import ListedIdsProcessor, id_heads

LISTED = ["FIN-AML-001-EN", "FIN-AML-002-EN", "FIN-KYC-003-EN"]


@pytest.fixture(scope="module")
def model_and_tokenizer(tiny_base):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    return AutoModelForCausalLM.from_pretrained(tiny_base), AutoTokenizer.from_pretrained(tiny_base)


@pytest.mark.parametrize(("written", "continues"), [
    ("Findings:\n- FIN", {"FIN-AML-001-EN", "FIN-AML-002-EN", "FIN-KYC-003-EN"}),   # an id begun: any listed one
    ("- FIN-AML-00", {"FIN-AML-001-EN", "FIN-AML-002-EN"}),                         # only those it can still become
    ("- FIN-KYC-003-E", {"FIN-KYC-003-EN"}),
    ("- FIN-KYC-003-EN (high)", set()),                                             # finished: free again
    ("- FIN-XYZ", set()),                                                           # no listed id starts so: free
    ("Findings: none.", set()),                                                     # no id begun
])
def test_only_tokens_that_continue_a_listed_id_are_allowed(model_and_tokenizer, written: str,
                                                           continues: set[str]) -> None:
    _, tokenizer = model_and_tokenizer
    processor = ListedIdsProcessor(tokenizer, [AnswerConstraints(listed_ids=tuple(LISTED))], prompt_width=0)
    tail = tokenizer(written, add_special_tokens=False)["input_ids"]
    allowed = processor.allowed(tail, LISTED, id_heads(LISTED))
    begun = written[written.rfind("FIN"):] if "FIN" in written else ""
    reached = {doc_id for doc_id in LISTED for token in allowed
               if doc_id.startswith(begun + tokenizer.decode([token]))}
    assert reached == continues and (not continues or allowed)


def test_the_processor_completes_a_begun_id_to_a_listed_one(model_and_tokenizer) -> None:
    """Whatever the scores, following the processor from 'FIN' ends on a listed id; other rows stay untouched."""
    _, tokenizer = model_and_tokenizer
    prompt = tokenizer("Rules: ...", add_special_tokens=False)["input_ids"]
    answer = tokenizer("- FIN", add_special_tokens=False)["input_ids"]
    processor = ListedIdsProcessor(tokenizer, [AnswerConstraints(listed_ids=tuple(LISTED)), AnswerConstraints()],
                                   prompt_width=len(prompt))
    generator = torch.Generator().manual_seed(0)
    for _ in range(3):
        ids = [prompt + answer, prompt + answer]
        while True:
            scores = torch.randn(2, len(tokenizer), generator=generator)
            free = scores[1].clone()
            masked = processor(torch.tensor(ids), scores)
            assert torch.equal(masked[1], free)            # a row without listed ids is never constrained
            if torch.isinf(masked[0]).sum() == 0:           # the id is finished: nothing masked
                break
            ids[0].append(int(masked[0].argmax()))
            ids[1].append(int(masked[1].argmax()))
        text = tokenizer.decode(ids[0][len(prompt):])
        assert any(text.endswith(doc_id) for doc_id in LISTED), text


def test_the_answer_path_writes_only_listed_ids(index, model_and_tokenizer) -> None:
    """Through GroundedAnswerer, batched and streamed alike: an answer whose written start ends inside an id ('- MED')
    continues to one of its listed passages' ids, which this random model would never write by itself."""
    model, tokenizer = model_and_tokenizer
    answerer = GroundedAnswerer(model, tokenizer, index, AnswerSettings(k=2, max_new_tokens=16, attribute=False))
    question = "What tests are key for acute coronary syndrome?"
    listed = EvidencePrompt({"en": "Evidence:\n{evidence}\n\n{input}"}, answer_prefix={"en": "- MED"},
                            listed_ids_only=True)
    prepared = answerer.prepare(question, prompt=listed)
    assert prepared.listed_ids == [hit.doc_id for hit in prepared.hits] and len(prepared.listed_ids) == 2
    [batched] = answerer.generate([prepared])
    assert any(batched.text.startswith("- " + doc_id) for doc_id in prepared.listed_ids), batched.text
    *_, streamed = answerer.stream(answerer.prepare(question, prompt=listed))
    assert streamed.text == batched.text
    free = EvidencePrompt(listed.templates, answer_prefix={"en": "- MED"})
    [unconstrained] = answerer.generate([answerer.prepare(question, prompt=free)])
    assert unconstrained.listed_ids == [] and not unconstrained.text.startswith("- MED-")   # the model alone


def test_constraints_hold_per_row_in_one_padded_batch(model_and_tokenizer) -> None:
    """generate_batch takes one AnswerConstraints per row: a constrained row beside a free one in the same padded
    batch ends on its listed id, and the free row's text is what it gets alone (nothing leaks across rows)."""
    from retrieval import AnswerConstraints, chat_ids, generate_batch

    model, tokenizer = model_and_tokenizer
    settings = AnswerSettings(max_new_tokens=12)
    held = AnswerConstraints(prefix="- MED", listed_ids=("MED-C013-EN", "MED-D002-EN"))
    constrained = chat_ids(tokenizer, [{"role": "user", "content": "Which entry?"},
                                       {"role": "assistant", "content": held.prefix}])
    free = chat_ids(tokenizer, "A longer question, so that this row is not padded the same way as the other one.")
    rows = generate_batch(model, tokenizer, [constrained, free], settings, constraints=[held, AnswerConstraints()])
    assert any(rows[0].text.startswith("- " + doc_id) for doc_id in held.listed_ids), rows[0].text
    [alone] = generate_batch(model, tokenizer, [free], settings)
    assert rows[1].text == alone.text
