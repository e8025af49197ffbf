"""What both Gradio apps share: theme, interface strings in English and Chinese, the disclaimer, renderers for
the masked-entity line, the groundedness badge, the evidence table and the usage line."""

from __future__ import annotations

import html
import threading
from collections.abc import Callable, Iterator, Sequence
from typing import Any

from apps.engine import InputRejected, Turn

LANGS = {"English": "en", "中文": "zh"}
STRINGS: dict[str, dict[str, str]] = {
    "ask": {"en": "Ask", "zh": "提问"},
    "check": {"en": "Check document", "zh": "检查文件"},
    "stop": {"en": "Stop", "zh": "停止"},
    "question": {"en": "Patient description (English or Chinese)", "zh": "病情描述（中文或英文）"},
    "document": {"en": "Document to check (paste, or upload .txt / .md)", "zh": "待检查文件（粘贴，或上传 .txt / .md）"},
    "upload": {"en": "Upload .txt or .md", "zh": "上传 .txt 或 .md"},
    "answer": {"en": "Answer (generated, streamed)", "zh": "回答（模型生成）"},
    "verifier": {"en": "Verifier, sentence by sentence", "zh": "逐句核验"},
    "explanation": {"en": "Explanation (generated, streamed)", "zh": "说明（模型生成）"},
    "evidence": {"en": "Evidence", "zh": "证据"},
    "findings": {"en": "Findings", "zh": "发现的问题"},
    "summary": {"en": "From the evidence", "zh": "证据摘要"},
    "settings": {"en": "Settings", "zh": "设置"},
    "k": {"en": "Passages to retrieve (k)", "zh": "检索段落数 (k)"},
    "variant": {"en": "Model", "zh": "模型"},
    "examples": {"en": "Examples from the evaluation set", "zh": "评测集示例"},
    "masked": {"en": "Masked before anything was stored or logged", "zh": "存储或记录前已脱敏"},
    "nothing_masked": {"en": "No personal data found in the input.", "zh": "输入中未发现个人信息。"},
    "grounded": {"en": "Grounded", "zh": "有据可依"},
    "partly": {"en": "Partly grounded", "zh": "部分有据"},
    "ungrounded": {"en": "Not grounded", "zh": "缺乏依据"},
    "abstained": {"en": "Abstained: weak evidence", "zh": "证据不足，未作回答"},
    "waiting": {"en": "Waiting for a question", "zh": "等待提问"},
    "usage": {"en": "{tokens} tokens in {seconds:.2f} s · cost {cost:.6f} at {price}/GPU-hour "
                    "({per_1k:.6f} per 1k tokens)",
              "zh": "{tokens} 个词元，用时 {seconds:.2f} 秒 · 成本 {cost:.6f}（每 GPU 小时 {price}；每千词元 {per_1k:.6f}）"},
    "export_json": {"en": "Download findings (JSON)", "zh": "下载结果（JSON）"},
    "export_csv": {"en": "Download findings (CSV)", "zh": "下载结果（CSV）"},
    "risk": {"en": "Risk level", "zh": "风险等级"},
    "supported_share": {"en": "{share:.0%} of sentences supported", "zh": "{share:.0%} 的句子有证据支持"},
    "no_claims": {"en": "No claim to check", "zh": "没有可核查的陈述"},
    # the verifier's reasons (retrieval.verifier), as a reader sees them
    "cites no evidence": {"en": "cites no evidence", "zh": "未引用证据"},
    "attributed": {"en": "citation added by the verifier (the model did not cite)",
                   "zh": "引用由核查补充（模型未自行引用）"},
    "corrected": {"en": "citation corrected by the verifier (the model cited another passage)",
                  "zh": "引用由核查更正（模型引用了其他段落）"},
    "numbers differ from the evidence": {"en": "numbers differ from the evidence", "zh": "数字与证据不符"},
    "not backed by the cited evidence": {"en": "not backed by the cited evidence", "zh": "所引证据不支持该句"},
    # risk levels (finance), the severities of the pack's rules
    "low": {"en": "low", "zh": "低"}, "medium": {"en": "medium", "zh": "中"}, "high": {"en": "high", "zh": "高"},
    "critical": {"en": "critical", "zh": "严重"}, "none flagged": {"en": "none flagged", "zh": "未发现违规"},
}
EVIDENCE_HEADERS = {"en": ["n", "source", "similarity", "passage"], "zh": ["n", "来源", "相似度", "段落"]}
EVIDENCE_WIDTHS = ["6%", "16%", "11%", "67%"]


def t(key: str, lang: str) -> str:
    """The interface string `key` in `lang`; a key without an entry (a value from data) is shown as it is."""
    return STRINGS[key].get(lang, STRINGS[key]["en"]) if key in STRINGS else key


def theme() -> Any:
    import gradio as gr

    # Gradio's default theme declares Source Sans Pro at 400 and 600 only; bold text then renders with broken
    # glyphs in Chromium. Declaring 700 too fixes it, and the font ships with gradio (no network).
    font = gr.themes.LocalFont("Source Sans Pro", weights=(400, 600, 700))
    return gr.themes.Default(font=[font, "ui-sans-serif", "system-ui", "sans-serif"])


CSS = """
#disclaimer {border-left: 4px solid #d97706; padding: 6px 12px; background: #fffbeb;}
.badge {display: inline-block; padding: 3px 10px; border-radius: 12px; font-weight: 700; color: white;}
.badge-ok {background: #15803d;} .badge-mid {background: #b45309;} .badge-bad {background: #b91c1c;}
.badge-idle {background: #6b7280;}
"""


def masked_line(turn: Turn | None, lang: str) -> str:
    if turn is None:
        return ""
    if not turn.masked:
        return t("nothing_masked", lang)
    items = ", ".join(f"`{entity}` × {n}" for entity, n in turn.masked.items())
    return f"**{t('masked', lang)}:** {items}"


def badge(turn: Turn | None, lang: str) -> str:
    if turn is None or not turn.done:
        return f'<span class="badge badge-idle" id="groundedness">{html.escape(t("waiting", lang))}</span>'
    if turn.abstained:
        return f'<span class="badge badge-mid" id="groundedness">{html.escape(t("abstained", lang))}</span>'
    if turn.verification is not None and not turn.verification.claims:   # nothing said: not "100 % grounded"
        return f'<span class="badge badge-mid" id="groundedness">{html.escape(t("no_claims", lang))}</span>'
    score = turn.groundedness
    if score is None:
        return '<span class="badge badge-idle" id="groundedness">–</span>'
    key, css = ("grounded", "ok") if score >= 0.8 else ("partly", "mid") if score >= 0.4 else ("ungrounded", "bad")
    return (f'<span class="badge badge-{css}" id="groundedness">{html.escape(t(key, lang))}: '
            f"{html.escape(t('supported_share', lang).format(share=score))}</span>")


def reworded(turn: Turn | None, lang: str, words: Callable[[Turn, str], tuple], count: int, badge_at: int) -> tuple:
    """On a language switch: what the last answer showed, in the new language (`words` renders the `count` outputs
    whose text depends on the language); before any answer, the waiting badge (at `badge_at`) and the rest left as
    they are."""
    import gradio as gr

    if turn is None:
        return tuple(badge(None, lang) if i == badge_at else gr.update() for i in range(count))
    return words(turn, lang)


def similarity(hit: Any) -> str:
    """Cosine of the passage to the question: the one score users see (the fused rank score means nothing to a
    reader; it is in the API's JSON)."""
    return f"{hit.similarity:.2f}"


def evidence_rows(hits: Sequence[Any]) -> list[list[Any]]:
    """One row per passage, most similar first; [n] is the number the answer cites it by."""
    ranked = sorted(enumerate(hits, start=1), key=lambda pair: -pair[1].similarity)
    return [[f"[{n}]", hit.doc_id, similarity(hit), hit.text] for n, hit in ranked]


def usage_line(turn: Turn | None, lang: str) -> str:
    if turn is None or not turn.done:
        return ""
    return t("usage", lang).format(tokens=turn.completion_tokens, seconds=turn.seconds, cost=turn.cost,
                                   price=turn.gpu_hour_price, per_1k=turn.cost_per_1k_tokens)


def heading(key: str, lang: str, body: str) -> str:
    return f"**{t(key, lang)}**\n\n{body}" if body else ""


def sentence_report(turn: Turn | None, lang: str = "en") -> str:
    """Per-sentence verdicts of the verifier, so a reader sees which claims the evidence does not back."""
    if turn is None or turn.verification is None:
        return ""
    lines = []
    for check in turn.verification.sentences:
        if check.reason == "no claim":
            continue
        mark = "✅" if check.supported else "⚠️"
        note = f" — {t(check.reason, lang)}" if not check.supported else \
            f" — {t('attributed', lang)}" if check.attributed else f" — {t('corrected', lang)}" if check.corrected else ""
        sentence = check.sentence if len(check.sentence) <= 160 else check.sentence[:157] + "…"
        lines.append(f"- {mark} {html.escape(sentence)}{note}")
    return "\n".join(lines)


def takes_request(handler: Callable[..., Any]) -> Callable[..., Any]:
    """Gradio passes an event handler its `gr.Request` when the parameter is annotated so; with postponed
    annotations and gradio imported lazily, the string 'gr.Request' cannot be resolved, so the class is set here."""
    import gradio as gr

    handler.__annotations__["request"] = gr.Request
    return handler


def stream_answers(assistant: Any, text: str, k: int, ui: str, render: Callable[[Turn, str], tuple],
                   meter: Any = None, request: Any = None) -> Iterator[tuple]:
    """An app's event handler body: the assistant's turns rendered as they grow; rejected input as a gr.Error.
    With a `meter` (the app mounted in `veritune serve`), the caller's key is admitted, the answer reserved and
    billed like an API call. The Stop button closes this generator, and closing it ends generation too. Each
    yield ends with the turn itself, kept in a `gr.State` so a language switch re-renders the shown answer."""
    import gradio as gr

    from apps.door import ApiError

    lang = LANGS.get(ui, "en")
    stop = threading.Event()
    budget = turn = None
    try:
        key = meter.admit(request) if meter is not None else None
        prepared = assistant.prepare([{"role": "user", "content": text}], rag=True, k=int(k))
        turn = prepared.turn
        budget = meter.budget(key, assistant, prepared) if meter is not None else None
        yield (*render(turn, lang), turn)
        for turn in assistant.stream(prepared, budget.max_tokens if budget else None, cancel=stop):
            yield (*render(turn, lang), turn)
    except InputRejected as exc:
        raise gr.Error(exc.message, print_exception=False) from None      # the app's own words, no field codes
    except ApiError as exc:
        raise gr.Error(str(exc), print_exception=False) from None
    finally:
        stop.set()
        if budget is not None:
            meter.settle(budget, turn)


def language_radio() -> Any:
    import gradio as gr

    return gr.Radio(list(LANGS), value="English", label="Interface / 界面", elem_id="ui-lang")


def action_buttons(primary: str) -> tuple[Any, Any]:
    """The primary button (elem_id = its string key) and the Stop button, side by side."""
    import gradio as gr

    with gr.Row():
        go = gr.Button(t(primary, "en"), variant="primary", elem_id=primary)
        stop_button = gr.Button(t("stop", "en"), variant="stop", elem_id="stop")
    return go, stop_button


def relabel_settings(lang: str) -> tuple[Any, Any, Any]:
    """Updates for `settings_panel`'s accordion, k slider and model radio in `lang`."""
    import gradio as gr

    return gr.update(label=t("settings", lang)), gr.update(label=t("k", lang)), gr.update(label=t("variant", lang))


def settings_panel(assistant: Any, choices: dict[str, Any]) -> tuple[Any, Any, Any]:
    """(accordion, k slider, model radio) and a line naming the base, adapter and index in use."""
    import gradio as gr

    with gr.Accordion(t("settings", "en"), open=False) as accordion:
        k = gr.Slider(1, 10, value=assistant.settings.k, step=1, label=t("k", "en"))
        variant = gr.Radio(list(choices), value=next(iter(choices)), label=t("variant", "en"))
        gr.Markdown(f"base: `{assistant.settings.model}` · adapter: `{assistant.settings.adapter}` · "
                    f"index: `{assistant.settings.index}`")
    return accordion, k, variant
