"""`veritune base upcycle`: a real dense Llama-family model turned into a Mixtral-architecture MoE by sparse
upcycling (Komatsuzaki et al., "Sparse Upcycling", ICLR 2023; how Qwen1.5-MoE-A2.7B was built).

Attention, norms and embeddings are copied; every layer's MLP is copied into E experts (Mixtral's fused
`experts.gate_up_proj` [E, 2I, H] = cat(gate, up) and `experts.down_proj` [E, H, I]) behind a new top-k router.
Because top-k weights are renormalised to sum to one and all experts are equal at the start, the MoE computes the
dense model's function exactly, whatever the router: the result is checked on the packs' text (max logit
difference within the tolerance, else no folder is written). A k-means router (centroids of the hidden states
that reach each MLP) gives the experts distinct traffic from the first step. The result is a plain
`save_pretrained` Mixtral folder that transformers, vLLM and llama.cpp load.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import importlib.util
import re
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from basemodel.build import parameter_counts
from basemodel.config import UpcycleConfig
from basemodel.layout import MOE_LAYOUTS
from veritune.errors import VerituneError
from veritune.hashing import sha256_file
from veritune.logs import get_logger
from veritune.packs import load_all_packs, load_pack
from veritune.runs import open_run

log = get_logger("base")
LLAMA_FAMILY = ("llama", "mistral")    # dense decoders whose layers map 1:1 onto Mixtral's
CALIBRATION_TOKENS = 128               # tokens per calibration text


@dataclass
class Source:
    """Where the dense model comes from, and what its model card should say about it."""

    name: str                          # what the user passed
    folder: str                        # what from_pretrained takes (a folder or a hub name)
    gguf_file: str | None = None
    sha256: dict[str, str] = field(default_factory=dict)
    licence: str = "unknown (see the source's model card)"


def resolve_source(source: str) -> Source:
    """A .gguf file, a model folder, an installed package that ships a .gguf (found without importing it: a
    package may need other tools to import), or else a hub name."""
    path = Path(source)
    if path.is_file():
        if path.suffix != ".gguf":
            raise VerituneError("a model file must be .gguf (or pass its folder)", path=path, field="source")
        return _gguf_source(source, path)
    if path.is_dir():
        ggufs = sorted(path.glob("*.gguf"))
        if (path / "config.json").is_file():
            weights = sorted(path.glob("*.safetensors")) or sorted(path.glob("*.bin"))
            return Source(source, str(path), sha256={w.name: sha256_file(w) for w in weights})
        if len(ggufs) == 1:
            return _gguf_source(source, ggufs[0])
        raise VerituneError("holds neither a config.json nor exactly one .gguf file", path=path, field="source")
    spec = importlib.util.find_spec(source.replace("-", "_")) if source.replace("-", "_").isidentifier() else None
    if spec is not None and spec.submodule_search_locations:
        folder = Path(next(iter(spec.submodule_search_locations)))
        ggufs = sorted(folder.glob("*.gguf"))
        if not ggufs:
            raise VerituneError(f"the package {source!r} ships no .gguf file", path=folder, field="source")
        found = _gguf_source(source, ggufs[0])
        found.licence = _package_licence(source) or found.licence
        return found
    return Source(source, source)      # a hub name: from_pretrained says clearly when it cannot be had


def _gguf_source(name: str, file: Path) -> Source:
    from gguf import GGUFReader

    licence = "unknown (see the source's model card)"
    field_ = GGUFReader(file).fields.get("general.license")
    if field_ is not None:
        licence = str(field_.contents())
    return Source(name, str(file.parent), file.name, {file.name: sha256_file(file)}, licence)


def _package_licence(name: str) -> str | None:
    try:
        meta = importlib.metadata.metadata(name)
    except importlib.metadata.PackageNotFoundError:
        return None
    return meta.get("License-Expression") or meta.get("License")


def load_dense(source: Source, max_layers: int | None = None) -> tuple[Any, Any]:
    """(dense model in fp32, eval mode; tokenizer). GGUF weights are dequantized by transformers."""
    from transformers import AutoConfig, AutoModelForCausalLM, AutoTokenizer

    kwargs = {"gguf_file": source.gguf_file} if source.gguf_file else {}
    try:
        config = AutoConfig.from_pretrained(source.folder, **kwargs)
    except (OSError, ValueError) as exc:
        raise VerituneError(f"cannot read the model's config ({str(exc).splitlines()[0][:160]})",
                            path=source.name, field="source") from None
    if config.model_type not in LLAMA_FAMILY:
        raise VerituneError(f"the source is a {config.model_type!r} model; upcycling takes a Llama-family dense "
                            f"model ({', '.join(LLAMA_FAMILY)})", path=source.name, field="source")
    if getattr(config, "attention_bias", False) or getattr(config, "mlp_bias", False):
        raise VerituneError("the source has attention or MLP biases, which Mixtral's layers do not hold",
                            path=source.name, field="source")
    if max_layers is not None and max_layers < config.num_hidden_layers:
        config.num_hidden_layers = max_layers
    try:
        model = AutoModelForCausalLM.from_pretrained(source.folder, config=config, dtype=torch.float32, **kwargs)
        tokenizer = AutoTokenizer.from_pretrained(source.folder, **kwargs)
    except (OSError, ValueError, RuntimeError, NotImplementedError) as exc:
        raise VerituneError(f"cannot load the model ({str(exc).splitlines()[0][:160]}); a GGUF must use a "
                            "quantization transformers can dequantize", path=source.name, field="source") from None
    return model.eval(), tokenizer


SAMPLE_CHATS = [
    [{"role": "user", "content": "Hi"}],
    [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hi"}],
    [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hello."}, {"role": "user", "content": "?"}],
]


def trainable_chat_template(tokenizer: Any) -> bool:
    """Give a ChatML tokenizer the same template with `{% generation %}` marks (TRL's assistant-only loss needs
    them; most released templates lack them), checked to render every sample chat exactly as the source's does.
    True when the template was replaced."""
    from basemodel.tokenizer import chatml_template

    template = tokenizer.chat_template or ""
    if re.search(r"{%-?\s*generation\s*-?%}", template):
        return False
    if "<|im_start|>" not in template:
        raise VerituneError("the source's chat template is not ChatML, so veritune cannot add the {% generation %} "
                            "marks its SFT loss needs", field="source")
    default = re.search(r"<\|im_start\|>system\n(.*?)<\|im_end\|>", template, re.DOTALL)
    replacement = chatml_template(default.group(1) if default else None)
    for chat in SAMPLE_CHATS:
        for prompt in (False, True):
            before = tokenizer.apply_chat_template(chat, tokenize=False, add_generation_prompt=prompt,
                                                   chat_template=template)
            after = tokenizer.apply_chat_template(chat, tokenize=False, add_generation_prompt=prompt,
                                                  chat_template=replacement)
            if before != after:
                raise VerituneError("the source's chat template renders chats differently from ChatML; veritune "
                                    "cannot add the {% generation %} marks safely", field="source")
    tokenizer.chat_template = replacement
    return True


def mixtral_config(dense_config: Any, experts: int, top_k: int) -> Any:
    from transformers import MixtralConfig

    dense = dense_config.to_dict()
    keep = ("vocab_size", "hidden_size", "intermediate_size", "num_hidden_layers", "num_attention_heads",
            "num_key_value_heads", "head_dim", "hidden_act", "max_position_embeddings", "rms_norm_eps",
            "rope_parameters", "tie_word_embeddings", "bos_token_id", "eos_token_id", "pad_token_id",
            "attention_dropout")
    return MixtralConfig(**{k: dense[k] for k in keep if k in dense}, num_local_experts=experts,
                         num_experts_per_tok=top_k, output_router_logits=False, router_aux_loss_coef=0.01,
                         sliding_window=None)


def build_moe(dense: Any, experts: int, top_k: int) -> Any:
    """The Mixtral model holding the dense model's weights, each MLP copied into every expert; router zeroed."""
    from transformers import MixtralForCausalLM

    config = mixtral_config(dense.config, experts, top_k)
    moe = MixtralForCausalLM(config)
    state = {}
    for name, tensor in dense.state_dict().items():
        if ".mlp." not in name:
            state[name] = tensor
    layout = MOE_LAYOUTS.get("mixtral")
    for i, layer in enumerate(dense.model.layers):
        mlp = layer.mlp
        gate_up = torch.cat([mlp.gate_proj.weight, mlp.up_proj.weight], dim=0)
        prefix = f"model.layers.{i}."
        gate_up_name, down_name = layout.expert_parameters
        state[f"{prefix}{layout.experts_path}.{gate_up_name}"] = gate_up.unsqueeze(0).repeat(experts, 1, 1).contiguous()
        state[f"{prefix}{layout.experts_path}.{down_name}"] = \
            mlp.down_proj.weight.unsqueeze(0).repeat(experts, 1, 1).contiguous()
        state[f"{prefix}{layout.router_path}.weight"] = torch.zeros(experts, config.hidden_size)
    if "lm_head.weight" not in state:                 # tied embeddings: the head is the embedding matrix
        state["lm_head.weight"] = state["model.embed_tokens.weight"]
    unexpected = sorted(set(state) - set(moe.state_dict()))
    if unexpected:
        raise VerituneError(f"the source holds weights Mixtral has no place for (first: {unexpected[0]})",
                            field="source")
    moe.load_state_dict(state, strict=True)
    if config.tie_word_embeddings:
        moe.tie_weights()
    return moe.eval()


def calibration_batch(tokenizer: Any, texts: list[str]) -> dict[str, torch.Tensor]:
    """Pack texts as one padded batch (right padding; the attention mask marks the real tokens)."""
    if tokenizer.pad_token_id is None:
        tokenizer.pad_token = tokenizer.eos_token
    tokenizer.padding_side = "right"
    return tokenizer(texts, return_tensors="pt", padding=True, truncation=True, max_length=CALIBRATION_TOKENS)



def router(layer: Any) -> Any:
    """The router of one Mixtral decoder layer (where `MOE_LAYOUTS` says it is)."""
    layout = MOE_LAYOUTS.get("mixtral")
    return getattr(getattr(layer, layout.block), layout.router)


@torch.no_grad()
def dense_pass(dense: Any, batch: dict[str, torch.Tensor]) -> tuple[torch.Tensor, list[torch.Tensor]]:
    """One dense forward: its logits, and per layer the hidden states that reach the MLP (real tokens only)."""
    captured: list[torch.Tensor] = []
    mask = batch["attention_mask"].bool()
    hooks = [layer.mlp.register_forward_pre_hook(lambda _m, args: captured.append(args[0][mask].float()))
             for layer in dense.model.layers]
    try:
        logits = dense(**batch).logits
    finally:
        for hook in hooks:
            hook.remove()
    return logits, captured


def kmeans_router(hidden: torch.Tensor, experts: int, seed: int, iterations: int = 25) -> torch.Tensor:
    """Router rows from k-means centroids of `hidden` (cosine k-means on normalised states): each token then
    prefers the expert whose centroid it is closest to. Scaled so the router's logits spread like a trained
    router's (a few units), not like a dot product of raw states (hundreds)."""
    generator = torch.Generator().manual_seed(seed)
    points = torch.nn.functional.normalize(hidden, dim=-1)
    centroids = points[torch.randperm(points.shape[0], generator=generator)[:experts]].clone()
    for _ in range(iterations):
        assignment = (points @ centroids.T).argmax(dim=-1)
        for e in range(experts):
            members = points[assignment == e]
            if len(members):
                centroids[e] = torch.nn.functional.normalize(members.mean(dim=0), dim=-1)
    scale = 4.0 / hidden.norm(dim=-1).mean().clamp(min=1e-6)
    return centroids * scale


def expert_load(router_logits: tuple[torch.Tensor, ...], mask: torch.Tensor, top_k: int,
                experts: int) -> list[list[float]]:
    """Per layer, the share of real tokens each expert receives among its top-k choices."""
    loads = []
    for logits in router_logits:
        chosen = logits[mask.reshape(-1)].topk(top_k, dim=-1).indices.reshape(-1)
        counts = torch.bincount(chosen, minlength=experts).float()
        loads.append([round(float(x), 4) for x in counts / counts.sum()])
    return loads


@torch.no_grad()
def compare(dense_logits: torch.Tensor, moe: Any, batch: dict[str, torch.Tensor]) -> tuple[float, list[list[float]]]:
    """One MoE forward: the largest logit difference to the dense model on real tokens, and the expert load."""
    mask = batch["attention_mask"].bool()
    out = moe(**batch, output_router_logits=True)
    difference = float((dense_logits[mask] - out.logits[mask]).abs().max())
    return difference, expert_load(out.router_logits, mask, moe.config.num_experts_per_tok,
                                   moe.config.num_local_experts)


def _calibration_texts(cfg: UpcycleConfig) -> list[str]:
    """Knowledge-base passages, evenly spaced over the packs (their SFT messages too only when the passages are
    fewer than `calibration_texts`). Drawn from the whole corpus, the sample moved whenever a pack's SFT file grew,
    so a change to one pack's training data re-initialised every router, and both packs' figures moved with it."""
    packs = [load_pack(d) for d in cfg.domains] if cfg.domains else load_all_packs()
    texts = [text for pack in packs for text in pack.kb_texts() if text.strip()]
    if len(texts) < cfg.calibration_texts:
        texts = [text for pack in packs for text in pack.corpus_texts() if text.strip()]
    if len(texts) < 4:
        raise VerituneError("the packs hold too little text to calibrate on", field="domains")
    step = max(1, len(texts) // cfg.calibration_texts)
    return texts[::step][: cfg.calibration_texts]


def calibration_sha256(cfg: UpcycleConfig) -> str:
    """The digest of the texts `upcycle` calibrates on with `cfg` (its manifest records it): a base with the same
    settings and another digest was calibrated on other text, so its router is not the one `cfg` builds today."""
    return _digest(_calibration_texts(cfg))


def _digest(texts: list[str]) -> str:
    return hashlib.sha256("\0".join(texts).encode("utf-8")).hexdigest()


def _check_memory(dense_params: int, experts: int, mlp_params: int) -> None:
    import psutil

    # both models in fp64 for the exactness check (8 bytes a weight), and as much again for loading and activations
    needed = 8 * (2 * dense_params + (experts - 1) * mlp_params) * 2
    available = psutil.virtual_memory().available
    if needed > available:
        raise VerituneError(f"upcycling needs about {needed / 2**30:.1f} GiB of memory in fp32 and "
                            f"{available / 2**30:.1f} GiB is available", field="experts")


def upcycle(cfg: UpcycleConfig) -> Path:
    """Write the upcycled base to `cfg.out` and return its path; nothing is written when the check fails."""
    if cfg.top_k > cfg.experts:
        raise VerituneError(f"top_k {cfg.top_k} is more than the {cfg.experts} experts", field="top_k")
    started = time.perf_counter()
    source = resolve_source(cfg.source)
    texts = _calibration_texts(cfg)
    dense, tokenizer = load_dense(source, cfg.max_layers)
    retemplated = trainable_chat_template(tokenizer)
    dense_params = sum(p.numel() for p in dense.parameters())
    mlp_params = sum(p.numel() for n, p in dense.named_parameters() if ".mlp." in n)
    _check_memory(dense_params, cfg.experts, mlp_params)
    log.info("upcycling %s (%s parameters, %d layers) into %d experts, top-%d", cfg.source, f"{dense_params:,}",
             dense.config.num_hidden_layers, cfg.experts, cfg.top_k)
    batch = calibration_batch(tokenizer, texts)
    log.info("calibrating on %d pack texts (%d tokens)", len(texts), int(batch["attention_mask"].sum()))
    dense_logits, hidden = dense_pass(dense, batch)
    moe = build_moe(dense, cfg.experts, cfg.top_k)
    generator = torch.Generator().manual_seed(cfg.seed)
    for i, layer in enumerate(moe.model.layers):
        rows = (kmeans_router(hidden[i], cfg.experts, cfg.seed + i) if cfg.router == "kmeans" else
                torch.randn(cfg.experts, moe.config.hidden_size, generator=generator) * cfg.router_std)
        router(layer).weight.data.copy_(rows)
    del hidden
    log.info("checking the MoE against the dense model (fp32, then fp64)")
    difference_fp32, load = compare(dense_logits, moe, batch)
    # in fp32, top-k weights that are not powers of two (a k-means router's) round differently from the dense
    # MLP's single pass, and 30 layers add that up (1.5e-4 on SmolLM2); fp64 shows whether the mapping is exact
    with torch.no_grad():
        dense_logits = dense.double()(**batch).logits
    kernel = moe.config._experts_implementation
    moe.set_experts_implementation("eager")            # grouped_mm takes no fp64
    difference, _ = compare(dense_logits, moe.double(), batch)
    del dense_logits, dense                            # the dense model is done with (a GGUF one cannot be cast back)
    moe.float()
    if kernel:
        moe.set_experts_implementation(kernel)
    if not difference <= cfg.tolerance:
        raise VerituneError(f"the MoE's logits differ from the dense model's by {difference:.2e} at init in fp64 "
                            f"(tolerance {cfg.tolerance:.0e}): upcycling went wrong, nothing was written",
                            field="source")
    counts = parameter_counts(moe, moe.config)
    facts = {"source": source, "difference": difference, "difference_fp32": difference_fp32, "counts": counts,
             "load": load,
             "dense_params": dense_params, "texts": len(texts), "retemplated": retemplated,
             "calibration_sha256": _digest(texts)}
    with open_run(cfg.out, kind="base_model", config=cfg.model_dump(), seed=cfg.seed) as run:
        moe.save_pretrained(run.path)
        tokenizer.save_pretrained(run.path)
        (run.path / "README.md").write_text(model_card(cfg, facts), encoding="utf-8")
        run.stats.update(parameters=counts, max_logit_difference=difference,
                         max_logit_difference_fp32=difference_fp32, expert_load_at_init=load,
                         source={"name": cfg.source, "sha256": source.sha256, "licence": source.licence},
                         calibration_sha256=facts["calibration_sha256"],
                         seconds=round(time.perf_counter() - started, 2))
    log.info("upcycled base (%s params, %s active; max logit difference %.1e) written to %s",
             f"{counts['total']:,}", f"{counts['active_per_token']:,}", difference, cfg.out)
    return Path(cfg.out)


def model_card(cfg: UpcycleConfig, facts: dict[str, Any]) -> str:
    source: Source = facts["source"]
    counts, load = facts["counts"], facts["load"]
    spread = [max(layer) - min(layer) for layer in load]
    rows = [
        ("source", f"`{cfg.source}`" + (f" (`{source.gguf_file}`, dequantized to fp32)" if source.gguf_file else "")),
        ("source licence", source.licence),
        ("source sha256", "<br>".join(f"`{name}` {digest}" for name, digest in source.sha256.items()) or "–"),
        ("dense parameters", f"{facts['dense_params']:,}"),
        ("total parameters", f"{counts['total']:,}"),
        ("active parameters per token", f"{counts['active_per_token']:,} (top-{cfg.top_k} of {cfg.experts} experts)"),
        ("layers", str(len(load)) + (f" (first {cfg.max_layers} of the source's)" if cfg.max_layers else "")),
        ("router initialisation", cfg.router + (" (k-means of the MLP inputs on the packs' text)"
                                                if cfg.router == "kmeans" else f" (std {cfg.router_std})")),
        ("max logit difference to the dense model at init",
         f"{facts['difference']:.2e} in fp64 (tolerance {cfg.tolerance:.0e}), {facts['difference_fp32']:.2e} in "
         f"fp32, on {facts['texts']} pack texts"),
        ("calibration text", f"{facts['texts']} texts (knowledge-base passages unless the packs hold too few), "
                             f"sha256 `{facts['calibration_sha256'][:16]}…`"),
        ("expert load at init (top-k share, max - min per layer)", f"mean {sum(spread) / len(spread):.3f}"),
        ("chat template", "the source's ChatML, with {% generation %} marks added for assistant-only SFT loss "
                          "(renders every chat as the source's did)" if facts["retemplated"] else "the source's"),
        ("seed", str(cfg.seed)),
    ]
    table = "\n".join(f"| {name} | {value} |" for name, value in rows)
    return f"""# veritune upcycled base: {cfg.experts}-expert Mixtral from {cfg.source}

A Mixture-of-Experts model made by `veritune base upcycle` (sparse upcycling): the dense model's attention, norms
and embeddings, and {cfg.experts} copies of each layer's MLP behind a top-{cfg.top_k} router. At init it computes
the dense model's function (checked below); fine-tuning makes the experts diverge. It keeps the source's licence.

| | |
|---|---|
{table}

Load it with `AutoModelForCausalLM.from_pretrained(DIR)` and `AutoTokenizer.from_pretrained(DIR)`; it is a plain
Mixtral folder, so vLLM and llama.cpp's converter read it too.
"""
