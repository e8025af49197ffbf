"""Building and launching the apps: one registry entry per app (its Blocks builder and what makes its
assistant special), assistants built once and shared, Gradio kept offline."""

from __future__ import annotations

import atexit
import os
import shutil
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from apps.config import AssistantSettings
from apps.engine import Assistant, ModelPool, SharedNlp
from veritune.registry import Registry


@dataclass
class AppKind:
    build: Callable[..., Any]                                   # (assistant, variants=...) -> gr.Blocks
    assistant_options: Callable[[], dict[str, Any]] = field(default=dict)


APPS: Registry[AppKind] = Registry("app")


def _medical() -> AppKind:
    from apps.medical import build_medical_app

    return AppKind(build_medical_app, lambda: {"empty_hint": "describe the case or ask a clinical question"})


def _finance() -> AppKind:
    from apps.finance import build_finance_app, finance_assistant_options

    return AppKind(build_finance_app, finance_assistant_options)


APPS.add("medical", _medical)  # type: ignore[arg-type] - resolved on use, so importing gradio stays lazy
APPS.add("finance", _finance)  # type: ignore[arg-type]


def app_kind(name: str) -> AppKind:
    return APPS.get(name)()  # type: ignore[operator]


def offline_gradio_env(temp_root: Path | None = None) -> Path:
    """No analytics, no hub, uploads and exports in a per-run folder; set before gradio is imported."""
    os.environ["GRADIO_ANALYTICS_ENABLED"] = "False"
    os.environ["HF_HUB_OFFLINE"] = "1"
    temp = Path(tempfile.mkdtemp(prefix="veritune-gradio-", dir=temp_root))
    os.environ["GRADIO_TEMP_DIR"] = str(temp)
    atexit.register(shutil.rmtree, temp, ignore_errors=True)  # uploads and exports do not outlive the process
    return temp


def variants_of(name: str, main: Assistant, pool: ModelPool, nlp: SharedNlp) -> dict[str, Assistant]:
    """The settings' alternatives to `main`: its base model without the adapter (same index and verifier)."""
    if not main.settings.adapter:
        return {}
    base = main.settings.model_copy(update={"adapter": None})
    return {"base": Assistant(base, pool=pool, nlp=nlp, index=main.index, verifier=main.verifier,
                              **app_kind(name).assistant_options())}


def make_assistants(name: str, settings: AssistantSettings, pool: ModelPool | None = None,
                    nlp: SharedNlp | None = None) -> tuple[Assistant, dict[str, Assistant]]:
    """The assistant for `settings`, and a base-model variant of it when an adapter is set."""
    pool, nlp = pool or ModelPool(), nlp or SharedNlp()
    main = Assistant(settings, pool=pool, nlp=nlp, **app_kind(name).assistant_options())
    return main, variants_of(name, main, pool, nlp)


def build_app(name: str, settings: AssistantSettings, pool: ModelPool | None = None,
              nlp: SharedNlp | None = None, concurrency_limit: int = 2, meter: Any = None) -> Any:
    """The app's Blocks; with `meter` (`apps.server.AppMeter`), every model call is admitted and billed."""
    main, variants = make_assistants(name, settings, pool, nlp)
    return app_kind(name).build(main, variants=variants, concurrency_limit=concurrency_limit, meter=meter)


def launch_kwargs() -> dict[str, Any]:
    from apps.ui import CSS, theme

    return {"theme": theme(), "css": CSS, "footer_links": ["api"]}


LOCAL_HOSTS = ("127.0.0.1", "localhost", "::1")


def warn_if_exposed(host: str, advice: str) -> None:
    """Say loudly when a server listens beyond this machine."""
    if host not in LOCAL_HOSTS:
        from veritune.logs import get_logger

        get_logger("serve").warning("listening on %s: reachable from other machines; %s", host, advice)


def launch_app(name: str, settings: AssistantSettings, host: str = "127.0.0.1", port: int = 7860,
               block: bool = True, on_ready: Callable[[str], None] | None = None) -> Any:
    """Serve the app on host:port (never share=True: private data stays on this machine). `on_ready(url)` runs
    once the port accepts connections (Gradio's launch returns only then)."""
    offline_gradio_env()
    demo = build_app(name, settings)
    demo.queue(max_size=32, default_concurrency_limit=2)
    demo.launch(server_name=host, server_port=port, share=False, prevent_thread_lock=True,
                show_error=True, max_file_size="1mb", quiet=True, **launch_kwargs())
    if on_ready is not None:
        on_ready(demo.local_url.rstrip("/"))
    if block:
        demo.block_thread()
    return demo
