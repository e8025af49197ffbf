"""Medical diagnosis assistant (Gradio Blocks): a patient description in English or Chinese is desensitized,
evidence is retrieved, the answer streams with citations, the verifier grades it, and a summary drawn straight
from the cited condition entries lists possible conditions, red flags, department and tests."""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from typing import Any

from apps.engine import Assistant, Turn
from apps.ui import (
    EVIDENCE_HEADERS,
    EVIDENCE_WIDTHS,
    LANGS,
    action_buttons,
    badge,
    evidence_rows,
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

DISCLAIMER = {
    "en": "**Not a medical device.** This assistant is a research demo that can be wrong. It does not diagnose or "
          "treat. Always consult a qualified clinician; in an emergency call your local emergency number.",
    "zh": "**本工具不是医疗器械。** 这是可能出错的研究演示，不提供诊断或治疗。请务必咨询合格的临床医生；紧急情况请拨打急救电话。",
}
# Section labels of the medical knowledge-base entries (domains/medical/source), in both languages.
SECTIONS = {"red_flags": ("Red flags", "危险信号"), "tests": ("Key tests", "关键检查"),
            "department": ("Department", "就诊科室")}
SUMMARY_LABELS = {"en": {"conditions": "Possible conditions", "red_flags": "Red flags", "tests": "Tests to consider",
                         "department": "Department"},
                  "zh": {"conditions": "可能的疾病", "red_flags": "危险信号", "tests": "建议检查", "department": "就诊科室"}}


def section(text: str, labels: Sequence[str]) -> str:
    """The content after `Label:` (or `标签：`) up to the end of its sentence."""
    for label in labels:
        found = re.search(rf"{re.escape(label)}\s*[:：]\s*(.+?)(?:\.\s|。|\.$|$)", text)
        if found:
            return found.group(1).strip()
    return ""


def evidence_summary(hits: Sequence[Any], lang: str) -> str:
    """Markdown built only from the retrieved condition entries, each line cited [n]: nothing here is generated."""
    labels = SUMMARY_LABELS.get(lang, SUMMARY_LABELS["en"])
    conditions = [(n, hit) for n, hit in enumerate(hits, start=1) if hit.metadata.get("doc_type") == "condition"]
    if not conditions:
        return ""
    lines = [f"**{labels['conditions']}**"]
    for n, hit in conditions:
        title = hit.metadata.get("title") or hit.doc_id
        department = section(hit.text, SECTIONS["department"])
        lines.append(f"- **{title}** [{n}] — {labels['department']}: {department}")
        for key in ("red_flags", "tests"):
            value = section(hit.text, SECTIONS[key])
            if value:
                lines.append(f"  - {labels[key]}: {value} [{n}]")
    return "\n".join(lines)


def examples(pack_name: str = "medical", per_language: int = 3) -> list[str]:
    """Triage questions from the pack's evaluation set, both languages."""
    from eval import get_task

    items = get_task("medical_triage").items()
    picked: list[str] = []
    for lang in ("en", "zh"):
        picked += [row["question"] for row in items if row.get("lang") == lang][:per_language]
    return picked


def build_medical_app(assistant: Assistant, variants: dict[str, Assistant] | None = None,
                      concurrency_limit: int = 2, meter: Any = None) -> Any:
    """The Blocks app. `variants` maps a label (e.g. 'base') to another assistant selectable in the settings."""
    import gradio as gr

    choices = {"fine-tuned" if assistant.settings.adapter else "base": assistant, **(variants or {})}

    @takes_request
    def respond(question: str, k: int, variant: str, ui: str, request: gr.Request) -> Iterator[tuple]:
        yield from stream_answers(choices.get(variant, assistant), question, k, ui, render, meter, request)

    def words(turn: Turn, lang: str) -> tuple:
        """The outputs whose text depends on the interface language: masked, grounded, ..., usage."""
        return (masked_line(turn, lang), badge(turn, lang), heading("answer", lang, turn.text or "…"),
                evidence_summary(turn.hits, lang), heading("verifier", lang, sentence_report(turn, lang)),
                usage_line(turn, lang))

    def render(turn: Turn, lang: str) -> tuple:
        *shown, usage_text = words(turn, lang)
        return (*shown, evidence_rows(turn.hits), usage_text)

    with gr.Blocks(title="veritune · medical assistant") as demo:
        title = gr.Markdown("## veritune · medical diagnosis assistant")
        disclaimer = gr.Markdown(DISCLAIMER["en"], elem_id="disclaimer")
        with gr.Row():
            with gr.Column(scale=5):
                ui = language_radio()
                question = gr.Textbox(label=t("question", "en"), lines=5, elem_id="question")
                ask, stop_button = action_buttons("ask")
                shown = gr.Examples(examples(), inputs=question, label=t("examples", "en"))
                settings, k, variant = settings_panel(assistant, choices)
            with gr.Column(scale=7):
                masked = gr.Markdown(elem_id="masked")
                grounded = gr.HTML(badge(None, "en"), elem_id="badge")
                answer = gr.Markdown(label=t("answer", "en"), elem_id="answer")
                summary = gr.Markdown(elem_id="summary")
                sentences = gr.Markdown(elem_id="sentences")
                usage = gr.Markdown(elem_id="usage")
        evidence = gr.Dataframe(headers=EVIDENCE_HEADERS["en"], label=t("evidence", "en"), elem_id="evidence",
                                wrap=True, interactive=False, column_widths=EVIDENCE_WIDTHS)
        last = gr.State(None)      # the shown turn, re-rendered on a language switch
        worded = [masked, grounded, answer, summary, sentences, usage]
        outputs = [masked, grounded, answer, summary, sentences, evidence, usage, last]
        event = gr.on([ask.click, question.submit], respond, inputs=[question, k, variant, ui], outputs=outputs,
                      concurrency_limit=concurrency_limit, concurrency_id="medical", api_name="ask")
        stop_button.click(None, cancels=[event])

        def relabel(choice: str, turn: Turn | None) -> tuple:
            lang = LANGS.get(choice, "en")
            heading = "医疗诊断助手" if lang == "zh" else "medical diagnosis assistant"
            return (gr.update(value=f"## veritune · {heading}"),
                    gr.update(value=DISCLAIMER[lang]), gr.update(label=t("question", lang)),
                    gr.update(value=t("ask", lang)), gr.update(value=t("stop", lang)), *relabel_settings(lang),
                    gr.update(label=t("evidence", lang), headers=EVIDENCE_HEADERS[lang]),
                    gr.update(label=t("examples", lang)), *reworded(turn, lang, words, len(worded), 1))

        ui.change(relabel, [ui, last], [title, disclaimer, question, ask, stop_button, settings, k, variant,
                                        evidence, shown.dataset, *worded], api_visibility="private")
    return demo
