"""simple-salesforce on an org whose schema has a non-unique External ID
(Contact.Legacy_Code__c): an upsert or a get matching two records is a 300 with the matching
record URLs (SalesforceMoreThanOneRecord) and changes nothing.
Run by crates/devorg/tests/it/clients.rs with the CALLFORCE_* variables."""

import pytest
from simple_salesforce.exceptions import SalesforceMoreThanOneRecord


def test_upsert_and_get_matching_two_records_is_a_300(sf):
    ids = [sf.Contact.create({"LastName": f"Dup {i}", "Legacy_Code__c": "DUP-1"})["id"] for i in range(2)]
    urls = sorted(f"/services/data/v59.0/sobjects/Contact/{i}" for i in ids)

    with pytest.raises(SalesforceMoreThanOneRecord) as err:
        sf.Contact.upsert("Legacy_Code__c/DUP-1", {"LastName": "Changed"})
    assert err.value.status == 300
    assert sorted(err.value.content) == urls

    with pytest.raises(SalesforceMoreThanOneRecord) as err:
        sf.Contact.get_by_custom_id("Legacy_Code__c", "DUP-1")
    assert sorted(err.value.content) == urls

    names = sorted(r["LastName"] for r in sf.query("SELECT LastName FROM Contact")["records"])
    assert names == ["Dup 0", "Dup 1"]


def test_a_single_match_still_upserts(sf):
    created = sf.Contact.create({"LastName": "Solo", "Legacy_Code__c": "SOLO-1"})["id"]
    resp = sf.Contact.upsert("Legacy_Code__c/SOLO-1", {"LastName": "Solo B"}, raw_response=True)
    assert resp.status_code == 200
    assert resp.json()["id"] == created
