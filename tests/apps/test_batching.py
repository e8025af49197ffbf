"""Dynamic batching is exact: each request gets, token for token, what it gets alone."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import pytest

PROMPTS = ["chest pain", "What are the red flags of asthma in children who wheeze at night?", "胸痛出汗",
           "Which department sees kidney stones?", "KYC", "A longer question about suitability assessments for "
           "complex leveraged products sold to retail clients without warnings"]


@pytest.fixture(scope="module")
def model_and_tokenizer(tiny_base):
    from finetune.inference import load_for_inference

    return load_for_inference(str(tiny_base))


def test_batched_rows_equal_single_requests(model_and_tokenizer) -> None:
    from apps.batching import Batcher

    model, tokenizer = model_and_tokenizer
    alone = Batcher(model, tokenizer, max_batch=1)
    singles = [alone.submit([{"role": "user", "content": p}], max_new_tokens=12).result(timeout=60) for p in PROMPTS]
    together = Batcher(model, tokenizer, max_batch=8, wait_ms=200)
    with ThreadPoolExecutor(len(PROMPTS)) as pool:
        futures = list(pool.map(lambda p: together.submit([{"role": "user", "content": p}], max_new_tokens=12),
                                PROMPTS))
    batched = [future.result(timeout=60) for future in futures]
    assert [b.text for b in batched] == [s.text for s in singles]
    assert [b.completion_tokens for b in batched] == [s.completion_tokens for s in singles]
    assert [b.prompt_tokens for b in batched] == [s.prompt_tokens for s in singles]
    assert together.batches < len(PROMPTS) and max(b.batch_size for b in batched) > 1


def test_min_tokens_and_max_tokens_per_request(model_and_tokenizer) -> None:
    from apps.batching import Batcher

    model, tokenizer = model_and_tokenizer
    batcher = Batcher(model, tokenizer, max_batch=8, wait_ms=200)
    message = [{"role": "user", "content": "chest pain"}]
    futures = [batcher.submit(message, max_new_tokens=20, min_new_tokens=20),
               batcher.submit(message, max_new_tokens=3), batcher.submit(message, max_new_tokens=20, min_new_tokens=5)]
    results = [f.result(timeout=60) for f in futures]
    assert results[0].completion_tokens == 20 and results[1].completion_tokens <= 3
    assert results[2].completion_tokens >= 5


def test_a_failing_batch_reports_to_every_caller(model_and_tokenizer) -> None:
    from apps.batching import Batcher

    model, tokenizer = model_and_tokenizer
    batcher = Batcher(model, tokenizer, max_batch=4)
    future = batcher.submit([{"role": "user", "content": "x"}], max_new_tokens=-5)
    with pytest.raises(ValueError):
        future.result(timeout=60)
    assert batcher.submit([{"role": "user", "content": "x"}], max_new_tokens=2).result(timeout=60)  # still alive
