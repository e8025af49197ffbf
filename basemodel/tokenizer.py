"""A byte-level BPE tokenizer trained on the packs' text, with a ChatML template carrying `{% generation %}` marks
(TRL's assistant-only loss reads them through `return_assistant_tokens_mask`)."""

from __future__ import annotations

from collections.abc import Iterable

from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
from transformers import PreTrainedTokenizerFast

SPECIAL_TOKENS = ["<|endoftext|>", "<|im_start|>", "<|im_end|>", "<|pad|>"]

# ChatML, as Qwen uses; the assistant turn's content and closing tag sit inside {% generation %} so that only
# they count towards the SFT loss.
def chatml_template(default_system: str | None = None) -> str:
    """ChatML with generation marks; `default_system` is the system turn a model's own template adds when a chat
    has none (SmolLM2's does), so a model keeps the prompt format it was tuned on."""
    default = ""
    if default_system:
        escaped = default_system.replace("\\", "\\\\").replace("'", "\\'")
        default = ("{%- if loop.first and messages[0]['role'] != 'system' %}"
                   f"{{{{- '<|im_start|>system\\n{escaped}<|im_end|>\\n' }}}}"
                   "{%- endif %}")
    return (
        "{%- for message in messages %}"
        + default
        + "{%- if message['role'] == 'assistant' %}"
        "{{- '<|im_start|>assistant\\n' }}"
        "{%- generation %}{{- message['content'] + '<|im_end|>' }}{%- endgeneration %}"
        "{{- '\\n' }}"
        "{%- else %}"
        "{{- '<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>\\n' }}"
        "{%- endif %}"
        "{%- endfor %}"
        "{%- if add_generation_prompt %}{{- '<|im_start|>assistant\\n' }}{%- endif %}"
    )


CHAT_TEMPLATE = chatml_template()


def train_tokenizer(texts: Iterable[str], vocab_size: int = 8192) -> PreTrainedTokenizerFast:
    """Train a byte-level BPE: every byte is in the alphabet, so English and Chinese round-trip losslessly."""
    tokenizer = Tokenizer(models.BPE())
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tokenizer.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        min_frequency=2,
        special_tokens=SPECIAL_TOKENS,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tokenizer.train_from_iterator(texts, trainer=trainer)
    wrapped = PreTrainedTokenizerFast(
        tokenizer_object=tokenizer,
        bos_token=None,
        eos_token="<|im_end|>",
        pad_token="<|pad|>",
        unk_token=None,
        additional_special_tokens=["<|im_start|>", "<|endoftext|>"],
        clean_up_tokenization_spaces=False,
    )
    wrapped.chat_template = CHAT_TEMPLATE
    wrapped.model_max_length = 1024
    return wrapped
