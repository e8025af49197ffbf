"""Dynamic batching is exact: each request gets, token for token, what it gets alone."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import pytest

PROMPTS = ["chest pain", "What are the red flags of asthma in children who wheeze at night?", "胸痛出汗",
           "Which department sees kidney stones?", "KYC", "A longer question about suitability assessments for "
           "complex leveraged products sold to retail clients without warnings"]


@pytest.fixture(scope="module")
def answerer(tiny_base):
    from finetune import load_for_inference
    from retrieval import GroundedAnswerer

    return GroundedAnswerer(*load_for_inference(str(tiny_base)))


def ask(answerer, batcher, text: str, max_new_tokens: int, min_new_tokens: int = 0):
    return batcher.submit(answerer.prepare(text, rag=False), max_new_tokens, min_new_tokens)


def test_batched_rows_equal_single_requests(answerer) -> None:
    from apps.batching import Batcher

    alone = Batcher(answerer, max_batch=1)
    singles = [ask(answerer, alone, p, 12).result(timeout=60) for p in PROMPTS]
    together = Batcher(answerer, max_batch=8, wait_ms=200)
    with ThreadPoolExecutor(len(PROMPTS)) as pool:
        futures = list(pool.map(lambda p: ask(answerer, together, p, 12), PROMPTS))
    batched = [future.result(timeout=60) for future in futures]
    assert [b.text for b in batched] == [s.text for s in singles]
    assert [b.completion_tokens for b in batched] == [s.completion_tokens for s in singles]
    assert [b.prompt_tokens for b in batched] == [s.prompt_tokens for s in singles]
    assert together.batches < len(PROMPTS) and max(b.batch_size for b in batched) > 1


def test_min_tokens_and_max_tokens_per_request(answerer) -> None:
    from apps.batching import Batcher

    batcher = Batcher(answerer, max_batch=8, wait_ms=200)
    futures = [ask(answerer, batcher, "chest pain", 20, 20), ask(answerer, batcher, "chest pain", 3),
               ask(answerer, batcher, "chest pain", 20, 5)]
    results = [f.result(timeout=60) for f in futures]
    assert results[0].completion_tokens == 20 and results[1].completion_tokens <= 3
    assert results[2].completion_tokens >= 5


def test_a_failing_batch_reports_to_every_caller(answerer) -> None:
    from apps.batching import Batcher

    batcher = Batcher(answerer, max_batch=4)
    future = ask(answerer, batcher, "x", -5)
    with pytest.raises(ValueError):
        future.result(timeout=60)
    assert ask(answerer, batcher, "x", 2).result(timeout=60).done  # still alive
