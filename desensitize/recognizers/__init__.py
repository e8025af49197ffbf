"""Recognizers, one per file; importing this package registers them all in `desensitize.registry.RECOGNIZERS`."""

from desensitize.recognizers import (  # noqa: F401 - imported for their registrations
    card_number,
    cn_address,
    cn_bank_card,
    cn_insurance_number,
    cn_medical_record_number,
    cn_ner_model,
    cn_organization,
    cn_passport,
    cn_person,
    cn_phone,
    cn_place_name,
    cn_resident_id,
    cn_uscc,
    en_age,
    en_clinical_date,
    en_clinician,
    en_employer,
    en_event_year,
    en_facility,
    en_medical_record_number,
    en_organization,
    en_pager,
    en_person_cue,
    en_person_names,
    en_place_gazetteer,
    en_place_name,
    en_speaker,
    en_street_address,
    en_street_words,
    en_zip_code,
    presidio_generic,
)
from desensitize.registry import RECOGNIZERS  # noqa: E402 - the registry, filled by the imports above

__all__ = ["RECOGNIZERS"]
