"""Layout rules: the lines under a street line join the address; the line between a name and a street is the
employer. Table-driven over whole records, through the full English detector."""

from __future__ import annotations

import pytest

from tests.desensitize.conftest import found

CASES = [
    # town, country + postcode and unit lines under a street line; the phone line ends the block
    ("Jane Roe\n\n233 Erzsébet tér 19.\n Suite 282\n Domoszló\n Hungary 34796\nPhone: (415) 555-0132",
     {"233 Erzsébet tér 19.", "Suite 282", "Domoszló", "Hungary 34796"}, {"Phone"}),
    # quoted lines keep their markers out of the span
    ("> 040 Snellmaninkatu 55\n> Apt. 022\n> ESPOO\n> Finland 23221", {"ESPOO", "Finland 23221"}, {">"}),
    # one blank line inside a block is allowed
    ("45818 P.O. Box 242\n Suite 787\n Kangerlussuaq\n\n Greenland 54005", {"Kangerlussuaq", "Greenland 54005"},
     set()),
    # dictionary words under an address are a note, not a town; the postcode after them still joins
    ("Address: 12 High Street\nAlert\nOriented to place, calm", {"12 High Street"}, {"Alert", "Oriented"}),
    ("3482 Via Franscini 71\n Tujetsch\n nan\n 7188", {"Tujetsch", "7188"}, {"nan"}),
    # a sentence under a street line is no part of the address
    ("12 High Street\nThe patient was seen today and is well.", {"12 High Street"}, {"The patient"}),
    # comma-separated parts after a street on the same line, up to the sentence end
    ("Send it to 9 Baker Street, Marylebone, London. Thanks!", {"9 Baker Street", "Marylebone", "London"},
     {"Thanks"}),
    # in running text a lower-case part is no town
    ("Send it to 9 Baker Street, please and thank you", {"9 Baker Street"}, {"please"}),
]


def covered(detector, text: str, entity: str | None = None) -> set[int]:
    """Character positions inside a detected span (of `entity`, or of any type)."""
    return {i for s in detector.analyze(text, "en") if entity in (None, s.entity_type) for i in range(s.start, s.end)}


@pytest.mark.parametrize(("text", "locations", "untouched"), CASES)
def test_address_blocks(detector, text: str, locations: set[str], untouched: set[str]) -> None:
    masked = covered(detector, text, "LOCATION")
    for value in locations:
        start = text.index(value)
        assert all(i in masked or text[i] == " " for i in range(start, start + len(value))), (value, found(
            detector, text, "en"))
    for word in untouched:
        start = text.index(word)
        assert not masked & set(range(start, start + len(word))), (word, found(detector, text, "en"))


@pytest.mark.parametrize(
    ("text", "employer"),
    [
        ("John Smith\nNorthwind Traders\n12 High Street\nLeeds", "Northwind Traders"),
        ("John Smith\nLeasing consultant\nNorthwind\n12 High Street\nLeeds", "Northwind"),   # title between
        ("> John Smith\n> Bluegate Partners\n> John Smith\n> 4 Elm Road", "Bluegate Partners"),  # name repeated
    ],
)
def test_contact_card_employer(detector, text: str, employer: str) -> None:
    start = text.index(employer)
    assert set(range(start, start + len(employer))) <= covered(detector, text), found(detector, text, "en")


def test_no_employer_without_a_name_above(detector) -> None:
    text = "Delivery notes\nLeave at door\n12 High Street\nLeeds"
    assert "ORGANIZATION" not in {entity for entity, _ in found(detector, text, "en")}


@pytest.mark.parametrize(
    ("text", "people"),
    [
        ("Founded by Šušulić, Bowman and White.", {"Šušulić", "Bowman", "White"}),        # listed with a person
        ("they had 3: silvana, adam and leonti.", {"silvana", "adam", "leonti"}),         # a lower-case record
        ("Directed by Jindřich Holinka and starring Holinka", {"Jindřich Holinka", "Holinka"}),  # surname again
        ("PLAN GIVEN. DRS BRAXTON AND KOVALYK AWARE.", {"BRAXTON", "KOVALYK"}),          # AND in capitals
    ],
)
def test_names_listed_with_a_person_and_repeated_surnames(detector, text: str, people: set[str]) -> None:
    masked = covered(detector, text, "PERSON")
    for person in people:
        start = text.rindex(person)
        assert set(range(start, start + len(person))) <= masked, (person, found(detector, text, "en"))


def test_a_list_of_findings_is_not_a_list_of_names(detector) -> None:
    text = "Seen by Dr. Smith and Nursing; fever, cough and dyspnea noted."
    assert {value for entity, value in found(detector, text, "en") if entity == "PERSON"} <= {"Smith"}


@pytest.mark.parametrize(
    ("text", "person", "expected"),
    [
        ("Abby Holloway of Zentrovix spoke first.", "Abby Holloway", [("ORGANIZATION", "Zentrovix")]),
        ("Stefanie Schneider from Allianz is the keynote speaker", "Stefanie Schneider", [("ORGANIZATION", "Allianz")]),
        ("Lena Berg from Dordrecht called.", "Lena Berg", [("LOCATION", "Dordrecht")]),   # a listed place
        ("Panjiva's Irena Bílá won.", "Irena Bílá", [("ORGANIZATION", "Panjiva")]),        # a possessive
        ("John Smith of the clinic called.", "John Smith", []),                            # no capitals: no name
    ],
)
def test_affiliations(text: str, person: str, expected: list[tuple[str, str]]) -> None:
    from presidio_analyzer import RecognizerResult

    from desensitize.filters import affiliations

    start = text.index(person)
    results = affiliations(text, [RecognizerResult("PERSON", start, start + len(person), 0.85)])
    assert [(r.entity_type, text[r.start:r.end]) for r in results[1:]] == expected


def test_lower_case_records_keep_names_spacy_found(detector) -> None:
    text = "follow up with benjamin a seiler in a couple of months."
    assert ("PERSON", "benjamin a seiler") in found(detector, text, "en")
