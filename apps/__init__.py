"""Apps stage: the Gradio assistants (medical diagnosis support, finance compliance check) and the
OpenAI-compatible API (keys, quotas, usage and cost), behind one door. The apps and the API answer through the same
engine (`Assistant`), which answers through the retrieval stage's grounded-answer path. Entry points: `veritune app
DOMAIN` and `veritune serve`; no other stage imports this one. Public API (loaded on first use): the names in
`__all__`."""

from __future__ import annotations

from veritune.lazy import lazy_exports

_EXPORTS = {
    **dict.fromkeys(["AssistantSettings", "ModelEntry", "ServeConfig", "demo_settings", "demo_models"], "apps.config"),
    **dict.fromkeys(["Assistant", "Turn", "InputRejected", "ModelPool", "SharedNlp"], "apps.engine"),
    **dict.fromkeys(["APPS", "build_app", "launch_app", "warn_if_exposed", "offline_gradio_env"], "apps.launch"),
    **dict.fromkeys(["create_api", "build_server", "run_server"], "apps.server"),
    "KeyStore": "apps.keys",
}
__all__ = sorted(_EXPORTS)


__getattr__ = lazy_exports(_EXPORTS)
