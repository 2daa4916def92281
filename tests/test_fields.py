"""The record's fields are said once (`partners.fields`); the two places that spell them out
for speed or for the schema (the store writer, the API's record schema) must agree with it."""

from __future__ import annotations

import json

import pytest

from partners.api import PartnerRecord
from partners.fields import COMPARED, MAX_LENGTH, RECORD_FIELDS
from partners.models import PartnerTier
from partners.normalize import record_key
from partners.records import Record
from partners.store import render


def test_the_store_writes_every_field_in_the_records_order():
    record = Record(
        name="n",
        tier="t",
        program="p",
        oem="o",
        poc="c",
        notes="x",
        created_at="2026-01-01T00:00:00Z",
        updated_at="2026-01-02T00:00:00Z",
        key=record_key(("o", "n")),
    )
    document = json.loads(render([record]))
    assert tuple(document["oems"][0]["partners"][0]) == RECORD_FIELDS


def test_the_api_schema_has_every_field_in_the_records_order():
    assert tuple(PartnerRecord.model_fields) == RECORD_FIELDS


@pytest.mark.parametrize("name", COMPARED)
def test_the_model_takes_its_lengths_from_the_fields(name):
    assert getattr(PartnerTier._meta.get_field(name), "max_length", None) == MAX_LENGTH[name]
