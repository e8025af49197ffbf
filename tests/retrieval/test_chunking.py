import pytest

from retrieval.chunking import chunk_text, estimate_tokens, split_sentences


@pytest.mark.parametrize(
    ("text", "sentences"),
    [
        ("First one. Second one! Third?", ["First one.", "Second one!", "Third?"]),
        ("胸痛2小时。伴出汗！是否心梗？", ["胸痛2小时。", "伴出汗！", "是否心梗？"]),
        ("BP 150/95 at 7.34 today. Next.", ["BP 150/95 at 7.34 today.", "Next."]),  # no split inside numbers
    ],
)
def test_sentences(text: str, sentences: list[str]) -> None:
    assert split_sentences(text) == sentences


def test_chunks_respect_the_limit_sentences_and_overlap() -> None:
    sentences = [f"Sentence number {i} talks about chest pain and the ECG." for i in range(40)]
    chunks = chunk_text(" ".join(sentences), max_tokens=60, overlap=1)
    assert len(chunks) > 3
    assert all(estimate_tokens(c.text) <= 60 for c in chunks)
    assert all(c.text.endswith(".") for c in chunks)  # whole sentences only
    for first, second in zip(chunks, chunks[1:], strict=False):
        assert first.text.split(". ")[-1].rstrip(".") in second.text  # the last sentence opens the next chunk


def test_sections_start_new_chunks_and_chinese_is_counted_by_character() -> None:
    text = "# Intro\nShort part.\n\n# Next\nAnother part."
    assert [c.section for c in chunk_text(text)] == [0, 1]
    zh = "。".join(["胸痛伴出汗" * 10] * 12) + "。"
    chunks = chunk_text(zh, max_tokens=128, overlap=0)
    assert len(chunks) >= 4 and all(estimate_tokens(c.text) <= 128 for c in chunks)


def test_a_sentence_longer_than_the_limit_is_cut() -> None:
    chunks = chunk_text("word " * 500, max_tokens=100, overlap=0)
    assert len(chunks) >= 6 and all(estimate_tokens(c.text) <= 100 for c in chunks)
