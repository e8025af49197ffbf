"""Finance compliance-check assistant (Gradio Blocks): a pasted or uploaded document is desensitized, rules are
retrieved per sentence, the model's explanation streams, and a findings table (rule, severity, triggering
sentence, rule text, whether the model flagged it) gives an overall risk level; findings export as JSON and CSV."""

from __future__ import annotations

import atexit
import hashlib
import html
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from apps.compliance import rules_prompt, to_csv, to_json, turn_report, verdict
from apps.engine import Assistant, InputRejected, Turn
from apps.ui import (
    LANGS,
    action_buttons,
    badge,
    heading,
    language_radio,
    masked_line,
    relabel_settings,
    reworded,
    sentence_report,
    settings_panel,
    stream_answers,
    t,
    takes_request,
    usage_line,
)

NOTICE = {
    "en": "**Decision support, not legal advice.** Candidate rules come from retrieval and may not be breached; "
          "a compliance officer must review every finding.",
    "zh": "**仅供决策参考，不构成法律意见。** 候选规则来自检索，未必构成违规；每条结果都须由合规人员复核。",
}
FINDING_HEADERS = {"en": ["n", "rule", "severity", "triggering sentence", "rule text", "similarity", "finding score",
                          "flagged by model"],
                   "zh": ["n", "规则", "严重程度", "触发语句", "规则原文", "相似度", "违规评分", "模型标记"]}
FINDING_WIDTHS = ["5%", "14%", "8%", "27%", "26%", "7%", "6%", "7%"]
RISK_COLOURS = {"critical": "bad", "high": "bad", "medium": "mid", "low": "ok", "none flagged": "idle"}


def read_upload(path: str | None, max_chars: int, uploads: Path | None = None) -> str:
    """The text of an uploaded .txt/.md file; binary, oversized or non-UTF-8 files are refused by name, and so is
    any path outside `uploads` (Gradio's upload folder): a request may name a file, never a server path."""
    if not path:
        return ""
    file = Path(path)
    if uploads is not None and not file.resolve().is_relative_to(uploads.resolve()):
        raise InputRejected("only a file uploaded in this session can be read", field="upload")
    if file.suffix.lower() not in (".txt", ".md"):
        raise InputRejected(f"{file.name}: only .txt and .md files are supported", field="upload")
    data = file.read_bytes()
    if len(data) > max_chars * 4:
        raise InputRejected(f"{file.name}: {len(data)} bytes is too large (limit {max_chars * 4})", field="upload")
    if b"\x00" in data:
        raise InputRejected(f"{file.name}: this is a binary file, not text", field="upload")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        raise InputRejected(f"{file.name}: not UTF-8 text", field="upload") from None


def risk_badge(risk: str | None, lang: str) -> str:
    if risk is None:
        return f'<span class="badge badge-idle" id="risk">{html.escape(t("risk", lang))}: –</span>'
    css = RISK_COLOURS.get(risk, "idle")
    return f'<span class="badge badge-{css}" id="risk">{html.escape(t("risk", lang))}: {html.escape(t(risk, lang))}</span>'


def examples(per_language: int = 2) -> list[str]:
    from eval import get_task

    items = get_task("finance_compliance").items()
    picked: list[str] = []
    for lang in ("en", "zh"):
        picked += [row["document"] for row in items if row.get("lang") == lang][:per_language]
    return picked


def exports_folder() -> Path:
    """A private folder for this process's findings exports, inside Gradio's temp folder when one is set; removed at
    exit (the exports hold masked sentences of users' documents, which should not outlive the app)."""
    folder = Path(tempfile.mkdtemp(prefix="veritune-findings-", dir=os.environ.get("GRADIO_TEMP_DIR") or None))
    atexit.register(shutil.rmtree, folder, ignore_errors=True)
    return folder


def build_finance_app(assistant: Assistant, variants: dict[str, Assistant] | None = None,
                      concurrency_limit: int = 2, meter: Any = None, export_dir: Path | None = None) -> Any:
    import gradio as gr

    choices = {"fine-tuned" if assistant.settings.adapter else "base": assistant, **(variants or {})}
    exports = export_dir or exports_folder()

    @takes_request
    def respond(document: str, k: int, variant: str, ui: str, request: gr.Request) -> Iterator[tuple]:
        yield from stream_answers(choices.get(variant, assistant), document, k, ui, render, meter, request)

    def risk_of(turn: Turn) -> tuple[list, str | None]:
        rows, risk = verdict(turn.question, turn.hits, turn.text)
        return rows, risk if turn.done else None

    def words(turn: Turn, lang: str, risk: str | None = None) -> tuple:
        """The outputs whose text depends on the interface language: masked, risk, grounded, ..., usage."""
        if risk is None and turn.done:
            risk = risk_of(turn)[1]
        return (masked_line(turn, lang), risk_badge(risk, lang), badge(turn, lang),
                heading("explanation", lang, turn.text or "…"), heading("verifier", lang, sentence_report(turn, lang)),
                usage_line(turn, lang))

    def render(turn: Turn, lang: str) -> tuple:
        rows, risk = risk_of(turn)
        table = [[f"[{f.n}]", f.rule_id, f.severity, f.sentence, f.rule_text, f"{f.score:.2f}",
                  "–" if f.finding_score is None else f"{f.finding_score:.2f}",   # – : the index has no scorer
                  "yes" if f.flagged_by_model else "no"] for f in rows]
        json_file = csv_file = None
        if turn.done:
            stem = exports / f"findings-{hashlib.sha256(turn.question.encode()).hexdigest()[:12]}"
            json_file, csv_file = stem.with_suffix(".json"), stem.with_suffix(".csv")
            json_file.write_text(to_json(rows, risk or ""), encoding="utf-8")
            csv_file.write_text(to_csv(rows), encoding="utf-8")
        masked_text, risk_html, badge_html, *texts = words(turn, lang, risk)
        return (masked_text, risk_html, badge_html, table, *texts,
                str(json_file) if json_file else None, str(csv_file) if csv_file else None)

    def upload(path: str | None) -> str:
        from gradio.utils import get_upload_folder

        uploads = Path(get_upload_folder())
        try:
            return read_upload(path, assistant.settings.max_input_chars, uploads)
        except InputRejected as exc:
            raise gr.Error(exc.message, print_exception=False) from None
        finally:
            # Gradio cached the raw upload; only the desensitized text may outlive this request
            if path and Path(path).resolve().is_relative_to(uploads.resolve()):
                Path(path).unlink(missing_ok=True)

    with gr.Blocks(title="veritune · compliance check") as demo:
        title = gr.Markdown("## veritune · finance compliance-check assistant")
        notice = gr.Markdown(NOTICE["en"], elem_id="disclaimer")
        with gr.Row():
            with gr.Column(scale=5):
                ui = language_radio()
                document = gr.Textbox(label=t("document", "en"), lines=8, elem_id="document")
                file = gr.File(label=t("upload", "en"), file_types=[".txt", ".md"], type="filepath",
                               elem_id="upload", height=110)
                check, stop_button = action_buttons("check")
                shown = gr.Examples(examples(), inputs=document, label=t("examples", "en"))
                settings, k, variant = settings_panel(assistant, choices)
            with gr.Column(scale=7):
                masked = gr.Markdown(elem_id="masked")
                with gr.Row():
                    risk = gr.HTML(risk_badge(None, "en"), elem_id="risk-badge")
                    grounded = gr.HTML(badge(None, "en"), elem_id="badge")
                explanation = gr.Markdown(elem_id="answer")
                sentences = gr.Markdown(elem_id="sentences")
                usage = gr.Markdown(elem_id="usage")
                with gr.Row():
                    json_button = gr.DownloadButton(t("export_json", "en"), elem_id="export-json")
                    csv_button = gr.DownloadButton(t("export_csv", "en"), elem_id="export-csv")
        table = gr.Dataframe(headers=FINDING_HEADERS["en"], label=t("findings", "en"), elem_id="findings", wrap=True,
                             interactive=False, column_widths=FINDING_WIDTHS)
        file.upload(upload, file, document, api_name="upload")
        last = gr.State(None)      # the shown turn, re-rendered on a language switch
        worded = [masked, risk, grounded, explanation, sentences, usage]
        outputs = [masked, risk, grounded, table, explanation, sentences, usage, json_button, csv_button, last]
        event = check.click(respond, [document, k, variant, ui], outputs, concurrency_limit=concurrency_limit,
                            concurrency_id="finance", api_name="check")
        stop_button.click(None, cancels=[event])

        def relabel(choice: str, turn: Turn | None) -> tuple:
            lang = LANGS.get(choice, "en")
            heading = "合规检查助手" if lang == "zh" else "finance compliance-check assistant"
            texts = list(reworded(turn, lang, words, len(worded), 2))
            if turn is None:
                texts[1] = risk_badge(None, lang)
            return (gr.update(value=f"## veritune · {heading}"), gr.update(value=NOTICE[lang]),
                    gr.update(label=t("document", lang)), gr.update(label=t("upload", lang)),
                    gr.update(value=t("check", lang)), gr.update(value=t("stop", lang)), *relabel_settings(lang),
                    gr.update(label=t("findings", lang), headers=FINDING_HEADERS[lang]),
                    gr.update(label=t("examples", lang)), *texts,
                    gr.update(label=t("export_json", lang)), gr.update(label=t("export_csv", lang)))

        ui.change(relabel, [ui, last], [title, notice, document, file, check, stop_button, settings, k, variant,
                                        table, shown.dataset, *worded, json_button, csv_button],
                  api_visibility="private")
    return demo


def finance_assistant_options() -> dict[str, Any]:
    """What makes an Assistant a compliance checker: per-sentence rule retrieval, the check_rag prompt, and the
    verdict (findings and risk level) the app shows and the API returns."""
    from retrieval import RETRIEVERS

    return {"retriever": RETRIEVERS.get(rules_prompt.retriever), "prompt_builder": rules_prompt,
            "verdict": turn_report, "empty_hint": "paste the text to check, or upload a .txt or .md file"}
