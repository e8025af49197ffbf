"""Street addresses: '8595 Browning Shoals', '12 High Street', 'Koskikatu 25', 'Apt. 864', 'Suite 501'.

spaCy tags cities and countries (GPE) but not street lines, which are the most identifying part."""

from __future__ import annotations

import re

from desensitize.presidio_api import Pattern, PatternRecognizer
from desensitize.registry import recognizer

# Capitals carry the meaning here; Presidio matches case-insensitively unless told otherwise.
CASE_SENSITIVE = re.DOTALL | re.MULTILINE
ENTITY = "LOCATION"
_WORD = r"[A-Z][a-zA-Z'\u00C0-\u017F-]+"
SUFFIXES = (r"Street|St\.?|Avenue|Ave\.?|Road|Rd\.?|Boulevard|Blvd\.?|Lane|Ln\.?|Drive|Dr\.?|Court|Ct\.?|Way|Place|"
            r"Pl\.?|Square|Sq\.?|Terrace|Parkway|Pkwy|Highway|Hwy|Circle|Cir\.?|Trail|Crossing|Heights|Hills?|"
            r"Shoals?|Springs?|Ridge|Vista|Views?|Mall|Manor|Mews|Meadows?|Mill|Motorway|Pass|Path|Pike|Plaza|"
            r"Point|Port|Row|Run|Station|Stream|Summit|Valley|Village|Walk|Wells|Fort|Falls|Estates?|Island|Lake|"
            r"Landing|Loop|Oval|Park|Prairie|Radial|Ramp|Ranch|Rapids|Rest|Route|Shore|Skyway|Spur|Track|Trace|"
            r"Turnpike|Underpass|Union|Via|Well|Creek|Crescent|Cove|Corner|Common|Club|Cliff|Center|Camp|Burg|"
            r"Brook|Bridge|Branch|Bluff|Bend|Bayou|Alley|Expressway|Extension|Freeway|Gardens?|Gateway|Glen|Green|"
            r"Grove|Harbor|Haven|Junction|Key|Knolls?|Forge|Fields?|Ferry|Ford|Flats?|Dale|Dam|Divide|Curve|Isle|"
            r"Mission|Lights?|Stravenue|Throughway|Tunnel|Viaduct|Ville|Wall|Crest|Cape|Canyon|Causeway|Crossroad|"
            r"Fall|Forest|Fork|Inlet|Land|Locks?|Lodge|Mount|Mountain|Neck|Orchard|Overpass|Pines?|Plains?|River|"
            r"Shoal|Centers?|Corners?|Courts?|Drives?|Estates|Islands?|Junctions?|Lakes?|Mills|Ridges|Roads|Routes")
NUMBERED = rf"\b\d{{1,6}}(?:\s{_WORD}){{1,3}}\s(?:{SUFFIXES})s?(?![a-z])"
EUROPEAN = (r"\b[A-Z][a-z\u00C0-\u017F]+(?:katu|tie|gatan|vägen|vej|gade|straße|strasse|weg|laan|straat|utca|ulica)"
            r"\s\d{1,5}\b")
UNIT = r"\b(?:(?i:apt\.?|apartment|suite)|Ste\.?|Unit|Flat)\s?#?\d{1,5}[A-Z]?\b"  # 'unit 3' is insulin
# "8595 Browning Shoals, South Kristenhaven, AS 17441": a whole US address line, whatever the street suffix
US_LINE = (r"\b\d{1,6}(?:\s[A-Z][a-z]+){1,4}(?:\s(?:Apt\.|Suite)\s\d{1,5})?,\s[A-Z][a-z]+(?:\s[A-Z][a-z]+)*,"
           r"\s[A-Z]{2}\s\d{5}(?:-\d{4})?\b")
# House number, street name (any language, lower-case particles allowed), building number: "28245 Puruntie 82",
# "86036 Rua do Arenque 1634", "450 Præstevænget 15"
_LATIN = r"[A-Z\u00C0-\u00DE\u0100-\u017F\u0386-\u03AB][\w\u00C0-\u017F\u0386-\u03CE'-]+"  # Latin or Greek
# The street name is written with a capital and lower-case letters: in an all-capitals note
# '4 WITH GOOD TIDAL VOLUMES 400' and '3 LITERS NS FOR MAP 2' are settings and doses, not addresses.
_CAPITALISED = (r"[A-Z\u00C0-\u00DE\u0100-\u017F\u0386-\u03AB][a-z\u00DF-\u00FF\u0100-\u017F\u03AC-\u03CE]"
                r"[\w\u00C0-\u017F\u0386-\u03CE'-]*")
INTERNATIONAL = (rf"\b\d{{1,6}}[ \t]+{_CAPITALISED}(?:[ \t]+(?:[a-z]{{1,3}}|{_CAPITALISED})){{0,3}}[ \t]+\d{{1,5}}\b")
# US military mail: 'PSC 5420, Box 2708 / APO AA 33879', 'Unit 1009 Box 0219 / DPO AP 51065', 'USNS Møller / FPO AA
# 85844' (the second line is the town-and-ZIP line of these addresses)
PO_BOX = (r"\b(?i:(?:PSC|Unit)\s\d{3,5},?\sBox\s\d{3,5}(?:\s*\n?\s*[AD]PO\s+A[AEP]\s+\d{5})?)\b"
          r"|\b(?i:P\.?\s?O\.?\s?Box\s#?\d{1,6})\b")   # and the civilian 'P.O. Box 242'
SHIP = r"\b(?i:(?:USNS|USNV|USS|USCGC)\s+[^\W\d_][\w'-]*(?:\s[^\W\d_][\w'-]*)?\s*\n?\s*FPO\s+A[AEP]\s+\d{5})\b"


@recognizer("en_street_address", (ENTITY,), ("en",))
def build(language: str) -> PatternRecognizer:
    patterns = [Pattern("numbered_street", NUMBERED, 0.6), Pattern("european_street", EUROPEAN, 0.6),
                Pattern("unit", UNIT, 0.5), Pattern("po_box", PO_BOX, 0.6),
                Pattern("ship", SHIP, 0.6), Pattern("us_line", US_LINE, 0.7),
                Pattern("international", INTERNATIONAL, 0.5)]
    return PatternRecognizer(supported_entity=ENTITY, patterns=patterns, supported_language=language,
                             global_regex_flags=CASE_SENSITIVE,
                             name="en_street_address")
