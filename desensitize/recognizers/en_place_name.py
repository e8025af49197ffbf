"""Places that spaCy misses: names of towns written in capitals or in Greek after a place cue (from ΛΕΥΚΩΣΙΑ,
Where: UPTON SCUDAMORE, LAPPEENRANTA  SK  53650), and the town that follows a street line (..., Arenque 1634,
Goiânia)."""

from __future__ import annotations

from desensitize.gazetteers import name_lists, place_names
from desensitize.lang import upper_case_record
from desensitize.presidio_api import NlpArtifacts, RecognizerResult
from desensitize.recognizers._base import LabeledValueRecognizer
from desensitize.registry import recognizer

_CAPS = r"[A-Z\u00C0-\u00DE]{3,}(?:[ -][A-Z\u00C0-\u00DE]{3,})*"
_GREEK = r"[\u0386-\u03AB][\u0386-\u03CE]+(?:\s[\u0386-\u03AB][\u0386-\u03CE]+)*"
_TOWN = r"[A-Z\u00C0-\u00DE][a-z\u00DF-\u00FF\u0100-\u017F]{2,}(?:\s[A-Z][a-z\u00DF-\u00FF]*)?(?![\w])"
PLACE = (rf"\b(?i:from|in|at|to|near|where:|city:|town:)\s+(?P<value>{_CAPS}|{_GREEK})(?![a-z])"
         rf"|(?P<value2>{_CAPS})\s{{2,}}[A-Z]{{2}}\s{{2,}}\d{{4,5}}\b"
         # the town after a street line's building number: "... Arenque 1634, Goiânia", "... 54, SEINÄJOKI"
         rf"|(?<=\d,\s)(?P<value3>{_CAPS}|{_GREEK}|{_TOWN})"
         # a place form's field: "Where: Novo mesto Country Club", "City: Port Louis"
         rf"|(?i:where|city|town|place of birth):[ \t]+"
         rf"(?P<value4>[A-Z][\w'-]*(?:[ \t]+(?:[a-z]{{1,6}}(?!\w)|[A-Z(][\w'()-]*)){{0,4}})")


class EnPlaceNameRecognizer(LabeledValueRecognizer):
    """In a record written in capitals ('TRANSFERRED TO CHAIR', 'AT BEDSIDE') capitals say nothing: there only a
    known place (GeoNames) that is no dictionary word counts."""

    def analyze(self, text: str, entities: list[str], nlp_artifacts: NlpArtifacts | None = None
                ) -> list[RecognizerResult]:
        results = super().analyze(text, entities, nlp_artifacts)
        if not results or not upper_case_record(text):
            return results
        places, names = place_names(), name_lists()
        return [r for r in results if text[r.start:r.end].lower() in places
                and not names.is_common_word(text[r.start:r.end])]


@recognizer("en_place_name", ("LOCATION",), ("en",))
def build(language: str) -> EnPlaceNameRecognizer:
    return EnPlaceNameRecognizer("LOCATION", PLACE, 0.5, language, "en_place_name")
