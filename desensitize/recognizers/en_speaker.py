"""People named as speakers in transcripts and chats ("Ubul: What a wife."): a capitalised word at the start of a
line or sentence followed by a colon. Structured text is full of such labels (Indications:, Department:, Plan:),
so the word must be outside the English model's vocabulary as well as outside the label list: this finds the
unusual names spaCy's NER misses and leaves common ones (Nicole) to it."""

from __future__ import annotations

from desensitize.recognizers._base import LabeledValueRecognizer
from desensitize.registry import recognizer

LABELS = {
    "Answer", "Question", "Note", "Notes", "Where", "When", "What", "Who", "Why", "How", "Subject", "From", "To",
    "Date", "Time", "Name", "Phone", "Address", "Email", "Tel", "Fax", "Warning", "Example", "Summary", "Result",
    "Results", "Plan", "Assessment", "Diagnosis", "Impression", "Vitals", "Meds", "Medications", "Allergies", "Labs",
    "Exam", "History", "Findings", "Comment", "Comments", "Reason", "Status", "Update", "Title", "Re", "Cc", "Bcc",
    "Pulse", "Temp", "Weight", "Height", "Dose", "Route", "Frequency", "Indication", "Signed", "Author", "Source",
    "Policy", "Rule", "Risk", "Severity", "Action", "Purpose", "Description", "Customer", "Client", "Patient",
    "Directed", "Starring", "Genre", "Rating", "Total", "Amount", "Balance", "Account", "Reference", "Step", "Tip",
    "Info", "Personal", "Billing", "Shipping", "Birthday", "Age", "Gender", "Sex", "Country", "City", "State", "Zip",
    "Bot", "User", "Agent", "Assistant", "System", "Website", "Web", "Url", "Link", "Host", "Guest", "Speaker",
}
REGEX = r"(?:^|\n|[.!?]\s+)(?P<value>[A-Z][a-z\u00C0-\u017F]{2,})(?=:\s|:[\"“])"


class EnSpeakerRecognizer(LabeledValueRecognizer):
    def analyze(self, text, entities, nlp_artifacts=None):  # noqa: ANN001, ANN201 - Presidio's signature
        vocab = nlp_artifacts.nlp_engine.get_nlp(self.supported_language).vocab if nlp_artifacts else None
        return [r for r in super().analyze(text, entities, nlp_artifacts)
                if text[r.start:r.end] not in LABELS
                and not (vocab is not None and vocab.has_vector(text[r.start:r.end].lower()))]


@recognizer("en_speaker", ("PERSON",), ("en",))
def build(language: str) -> EnSpeakerRecognizer:
    return EnSpeakerRecognizer("PERSON", REGEX, 0.5, language, "en_speaker")
