"""Street lines of many countries, found by their street-type word: 'ul. Słowicza 10', '255 hersnapvej 18',
'Avda. Rio Nalon 58', '518 Árpád fejedelem útja 62.', 'Villacher Strasse 89', '36 rue de pologne'.

English records carry foreign addresses (patients abroad, customers' billing addresses), often in lower case, where
the capitalised-words patterns of `street_address` see nothing. Around a street-type word (a prefix such as rue,
ul., avenida, a separate suffix such as Strasse, tér, or a compound ending such as -vej, -katu, -straat) the name
words and the house and building numbers are collected; a street line needs a number, which keeps prose
("the Rue was closed") out.
"""

from __future__ import annotations

import re

from spacy.lang.en.stop_words import STOP_WORDS

from desensitize.presidio_api import RecognizerResult
from desensitize.recognizers._base import TextRecognizer
from desensitize.registry import recognizer

ENTITY = "LOCATION"
# Type words written before the name. Those that are also English or Latin words (Via, Place, Route, Avenue) count
# only when capitalised.
PREFIX_TYPES = {"rue", "rua", "avenida", "avda.", "avda", "av.", "calle", "c/", "ul.", "ulica", "trg", "plac",
                "piazza", "piazzale", "viale", "vicolo", "largo", "travessa", "estrada", "camino", "carrer", "cité",
                "cite", "boulevard", "bd.", "chemin", "allée", "praça", "rambla", "paseo", "pasaje", "strada", "calea",
                "aleja", "al.", "rruga", "odos", "οδός", "λεωφόρος", "πλατεία"}
PREFIX_TYPES_CAPITALISED = {"Via", "Place", "Route", "Avenue", "Av", "Ave", "Avda", "Pl.", "R.", "Rua", "Rue"}
# Type words written after the name as a word of their own.
SUFFIX_TYPES = {"strasse", "straße", "str.", "str", "gasse", "weg", "allee", "platz", "ring", "gate", "gata", "vej",
                "vei", "veien", "tér", "út", "útja", "utca", "u.", "körút", "straat", "laan", "baan", "gracht",
                "plein", "kuja", "katu", "tie", "sokak", "sokağı", "caddesi", "cesta", "ulice", "náměstí", "trg"}
# Endings of one-word compounds: Snellmaninkatu, Laukaantie, Mellemvej, Skoanveien, Nybyvägen, Asselsestraat.
COMPOUND_ENDINGS = re.compile(
    r"(?:katu|tie|kuja|polku|vej|veien|vegen|vei|gate|gata|gatan|vägen|väg|stien|gade|stræde|straße|strasse|gasse|"
    r"weg|laan|straat|baan|gracht|plein|utca|allee|platz|ulica|ulice|stræti|gata|vegur|braut)$", re.IGNORECASE)
# Lower-case name particles: 'rue des lieutenants', 'Via delle Coste', 'Rua do Arenque'.
PARTICLES = {"de", "des", "du", "da", "do", "dos", "das", "del", "della", "delle", "dei", "di", "la", "le", "les",
             "van", "von", "der", "den", "ten", "al", "el", "d'", "e", "y", "i", "na", "nad", "pod"}
MAX_NAME_WORDS = 4
# 'c/' abbreviates calle before a name ('C/ Mayor 5', 'c/Alcalá'); clinical notes write c/o, c/v, c/d/i, c/hr.
_TOKEN = re.compile(r"[cC]/(?=\s|[A-ZÁÉÍÓÚÑ][a-záéíóúñ])|[^\W_][\w'’.\u00B7-]*(?<![.,'’-])\.?")
_HOUSE_NUMBER = re.compile(r"\d{1,6}[A-Za-z]?")


def _is_number(token: str) -> bool:
    return bool(_HOUSE_NUMBER.fullmatch(token.rstrip(".")))


def _kind(token: str) -> str | None:
    lower = token.lower()
    if lower in PREFIX_TYPES or token in PREFIX_TYPES_CAPITALISED:
        return "prefix"
    if lower in SUFFIX_TYPES:
        return "suffix"
    if len(token) > 5 and not _is_number(token) and COMPOUND_ENDINGS.search(token.rstrip(".")):
        return "compound"
    return None


def _name_word(token: str) -> bool:
    lower = token.lower()
    return not _is_number(token) and (lower in PARTICLES or lower not in STOP_WORDS) and _kind(token) is None


class EnStreetWordsRecognizer(TextRecognizer):
    def find(self, text: str) -> list[RecognizerResult]:
        results = []
        for line_start, line in _line_offsets(text):
            tokens = [(m.start() + line_start, m.end() + line_start, m.group()) for m in _TOKEN.finditer(line)]
            for index, (_, _, token) in enumerate(tokens):
                kind = _kind(token)
                span = _street_around(tokens, index, kind) if kind else None
                if span:
                    results.append(self.result(span[0], span[1], 0.6))
        return results


def _line_offsets(text: str) -> list[tuple[int, str]]:
    offsets, start = [], 0
    for line in text.split("\n"):
        offsets.append((start, line))
        start += len(line) + 1
    return offsets


def _street_around(tokens: list[tuple[int, int, str]], anchor: int, kind: str) -> tuple[int, int] | None:
    """Grow a street line around the type word at `anchor`: name words on the side the type word names, then the
    building number after and the house number before. None when no number is found."""
    first = last = anchor
    if kind == "prefix":
        while last + 1 < len(tokens) and last - anchor < MAX_NAME_WORDS and _name_word(tokens[last + 1][2]):
            last += 1
        if last == anchor:
            return None
    if kind == "suffix":
        while first - 1 >= 0 and anchor - first < MAX_NAME_WORDS - 1 and _name_word(tokens[first - 1][2]):
            first -= 1
        if first == anchor:
            return None
    has_number = False
    if last + 1 < len(tokens) and _is_number(tokens[last + 1][2]):
        last, has_number = last + 1, True
    while first - 1 >= 0 and _is_number(tokens[first - 1][2]) and anchor - first < MAX_NAME_WORDS + 2:
        first, has_number = first - 1, True
    return (tokens[first][0], tokens[last][1]) if has_number else None


@recognizer("en_street_words", (ENTITY,), ("en",))
def build(language: str) -> EnStreetWordsRecognizer:
    return EnStreetWordsRecognizer(ENTITY, language, "en_street_words")
