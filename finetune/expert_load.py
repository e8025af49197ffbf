"""Tokens routed to each expert per layer: recorded by forward hooks on the routers over a probe batch."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from basemodel import layout_of


def _routers(model: torch.nn.Module) -> list[tuple[str, torch.nn.Module]]:
    router = layout_of(model).router_path
    return [(name, module) for name, module in model.named_modules()
            if name.endswith(router) and hasattr(module, "weight") and module.weight.dim() == 2]


@torch.no_grad()
def expert_load(model: torch.nn.Module, input_ids: torch.Tensor, top_k: int) -> np.ndarray:
    """(layers, experts) counts of token-to-expert assignments on `input_ids`."""
    routers = _routers(model)
    counts: list[np.ndarray] = []

    def hook(module, args, output):  # noqa: ANN001, ANN202 - torch's hook signature
        logits = output[0] if isinstance(output, tuple) else output
        logits = logits.reshape(-1, module.weight.shape[0]).float()
        chosen = logits.topk(top_k, dim=-1).indices.flatten().cpu().numpy()
        counts.append(np.bincount(chosen, minlength=module.weight.shape[0]))

    handles = [module.register_forward_hook(hook) for _, module in routers]
    try:
        was_training = model.training
        model.eval()
        # only the routers are read: one position of logits instead of (batch, length, vocabulary)
        model(input_ids=input_ids.to(next(model.parameters()).device), logits_to_keep=1)
        model.train(was_training)
    finally:
        for handle in handles:
            handle.remove()
    return np.vstack(counts) if counts else np.zeros((0, 0))


def plot_expert_load(before: np.ndarray, after: np.ndarray, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(10, 3.5), constrained_layout=True)
    vmax = max(before.max(initial=1), after.max(initial=1))
    for axis, data, title in ((axes[0], before, "before training"), (axes[1], after, "after training")):
        image = axis.imshow(data, aspect="auto", cmap="viridis", vmin=0, vmax=vmax)
        axis.set(title=f"tokens per expert, {title}", xlabel="expert", ylabel="layer",
                 xticks=range(data.shape[1]), yticks=range(data.shape[0]))
    fig.colorbar(image, ax=axes, shrink=0.8)
    fig.savefig(path, dpi=110)
    plt.close(fig)


def plot_losses(history: list[dict], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    steps = [h["step"] for h in history if "loss" in h]
    fig, axis = plt.subplots(figsize=(6, 3.5), constrained_layout=True)
    axis.plot(steps, [h["loss"] for h in history if "loss" in h], label="training loss")
    aux = [(h["step"], h["aux_loss"]) for h in history if "aux_loss" in h]
    if aux:
        axis.plot(*zip(*aux, strict=True), label="router aux loss")
    axis.set(xlabel="step", ylabel="loss", title="loss curve")
    axis.legend()
    fig.savefig(path, dpi=110)
    plt.close(fig)
