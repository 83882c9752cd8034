"""simple-salesforce record calls against the dev org: create, get, update, delete, upsert by
External ID, get by custom ID, describe, API usage and the exceptions errors map to.
Run by crates/devorg/tests/it/clients.rs with the CALLFORCE_* variables."""

import re

import pytest
from simple_salesforce import format_external_id
from simple_salesforce.exceptions import (
    SalesforceMalformedRequest,
    SalesforceResourceNotFound,
)

ID18 = re.compile(r"^[A-Za-z0-9]{18}$")
DATETIME = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}\+0000$")


def error_of(exc_info):
    """The single error of a Salesforce error body."""
    content = exc_info.value.content
    assert isinstance(content, list) and len(content) == 1, content
    return content[0]


def test_create_get_update_delete_a_contact(sf):
    created = sf.Contact.create(
        {"FirstName": "Pia", "LastName": "Python", "Phone": "(555) 010-0001"}
    )
    assert created["success"] is True
    assert created["errors"] == []
    cid = created["id"]
    assert ID18.match(cid) and cid.startswith("003")

    got = sf.Contact.get(cid)
    assert got["attributes"] == {
        "type": "Contact",
        "url": f"/services/data/v59.0/sobjects/Contact/{cid}",
    }
    assert got["Id"] == cid
    assert got["LastName"] == "Python"
    assert got["Name"] == "Pia Python"
    assert got["Email"] is None
    assert DATETIME.match(got["CreatedDate"]), got["CreatedDate"]

    assert sf.Contact.update(cid, {"Email": "pia@python.example", "Title": "Tester"}) == 204
    got = sf.Contact.get(cid[:15])
    assert got["Id"] == cid, "a 15-character ID reads the record; the answer has 18"
    assert got["Email"] == "pia@python.example"
    assert got["Title"] == "Tester"

    assert sf.Contact.delete(cid) == 204
    with pytest.raises(SalesforceResourceNotFound) as err:
        sf.Contact.get(cid)
    assert error_of(err)["errorCode"] == "NOT_FOUND"
    with pytest.raises(SalesforceResourceNotFound) as err:
        sf.Contact.delete(cid)
    assert error_of(err)["errorCode"] == "ENTITY_IS_DELETED"


def test_get_with_fields_returns_those_and_the_id(sf):
    sarah = sf.Contact.get_by_custom_id("External_Id__c", "CON-SARAH")
    got = sf.Contact.get(sarah["Id"], params={"fields": "LastName,Phone"})
    assert set(got) == {"attributes", "Id", "LastName", "Phone"}
    assert got["Phone"] == "(555) 123-4567"


def test_seeded_contact_reads_with_dates_and_lookups(sf):
    sarah = sf.Contact.get_by_custom_id("External_Id__c", "CON-SARAH")
    assert sarah["attributes"]["type"] == "Contact"
    assert (sarah["FirstName"], sarah["LastName"]) == ("Sarah", "Johnson")
    assert sarah["Phone"] == "(555) 123-4567"
    assert sarah["Birthdate"] == "1984-03-14"
    account = sf.Account.get(sarah["AccountId"])
    assert account["Name"] == "Acme Corporation"
    assert account["External_Id__c"] == "ACC-ACME"


def test_upsert_creates_then_updates_by_external_id(sf):
    path = format_external_id("External_Id__c", "CON-PY&#1")
    first = sf.Contact.upsert(path, {"LastName": "Upserted"}, raw_response=True)
    assert first.status_code == 201
    body = first.json()
    assert body["created"] is True and body["success"] is True and body["errors"] == []
    cid = body["id"]

    second = sf.Contact.upsert(path, {"LastName": "Upserted Again"}, raw_response=True)
    assert second.status_code == 200
    assert second.json() == {"id": cid, "success": True, "errors": [], "created": False}

    # get_by_custom_id quotes the value with quote_plus; the org decodes it back.
    got = sf.Contact.get_by_custom_id("External_Id__c", "CON-PY&#1")
    assert got["Id"] == cid
    assert got["LastName"] == "Upserted Again"
    assert got["External_Id__c"] == "CON-PY&#1"


def test_upsert_status_codes_without_raw_response(sf):
    assert sf.Account.upsert("External_Id__c/ACC-PY-2", {"Name": "Py Two"}) == 201
    assert sf.Account.upsert("External_Id__c/ACC-PY-2", {"Name": "Py Two B"}) == 200
    assert sf.Account.get_by_custom_id("External_Id__c", "ACC-PY-2")["Name"] == "Py Two B"


def test_upsert_on_an_unknown_field_is_not_found(sf):
    with pytest.raises(SalesforceResourceNotFound) as err:
        sf.Contact.upsert("Nope__c/X1", {"LastName": "X"})
    e = error_of(err)
    assert e["errorCode"] == "NOT_FOUND"
    assert e["message"] == (
        "Provided external ID field does not exist or is not accessible: Nope__c"
    )


def test_get_by_unknown_custom_id_is_not_found(sf):
    with pytest.raises(SalesforceResourceNotFound) as err:
        sf.Contact.get_by_custom_id("External_Id__c", "NO-SUCH-VALUE")
    assert error_of(err)["errorCode"] == "NOT_FOUND"


def test_missing_required_field_is_a_malformed_request(sf):
    with pytest.raises(SalesforceMalformedRequest) as err:
        sf.Contact.create({"FirstName": "NoLast"})
    e = error_of(err)
    assert e["errorCode"] == "REQUIRED_FIELD_MISSING"
    assert e["message"] == "Required fields are missing: [LastName]"
    assert e["fields"] == ["LastName"]


def test_unknown_field_is_invalid_field(sf):
    with pytest.raises(SalesforceMalformedRequest) as err:
        sf.Contact.create({"LastName": "X", "Bogus__c": 1})
    e = error_of(err)
    assert e["errorCode"] == "INVALID_FIELD"
    assert e["message"] == "No such column 'Bogus__c' on sobject of type Contact"


def test_unknown_object_is_not_found(sf):
    with pytest.raises(SalesforceResourceNotFound) as err:
        sf.Whizbang.create({"Name": "X"})
    e = error_of(err)
    assert e["errorCode"] == "NOT_FOUND"
    assert e["message"] == "The requested resource does not exist"


def test_a_value_that_is_not_an_id_is_read_as_an_external_id(sf):
    with pytest.raises(SalesforceResourceNotFound) as err:
        sf.Contact.get("23foo")
    e = error_of(err)
    assert e["errorCode"] == "NOT_FOUND"
    assert e["message"] == (
        "Provided external ID field does not exist or is not accessible: 23foo"
    )


def test_restricted_picklist_refuses_unknown_values_but_stage_accepts_them(sf):
    account = sf.Account.create({"Name": "Picklist Py"})["id"]
    base = {"Name": "Picklist Deal", "AccountId": account, "CloseDate": "2030-01-31"}
    with pytest.raises(SalesforceMalformedRequest) as err:
        sf.Opportunity.create(
            {**base, "StageName": "Prospecting", "ForecastCategoryName": "Maybe"}
        )
    e = error_of(err)
    assert e["errorCode"] == "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST"
    assert e["fields"] == ["ForecastCategoryName"]
    # StageName is not restricted in a standard org: an unknown stage is accepted.
    created = sf.Opportunity.create({**base, "StageName": "In Progress"})
    assert sf.Opportunity.get(created["id"])["StageName"] == "In Progress"


def test_contact_describe(sf):
    d = sf.Contact.describe()
    assert d["name"] == "Contact"
    assert d["keyPrefix"] == "003"
    fields = {f["name"]: f for f in d["fields"]}
    assert fields["Id"]["type"] == "id"
    assert fields["LastName"]["nillable"] is False
    assert fields["LastName"]["createable"] is True
    assert fields["External_Id__c"]["externalId"] is True
    assert fields["External_Id__c"]["custom"] is True
    assert fields["AccountId"]["referenceTo"] == ["Account"]
    assert fields["AccountId"]["relationshipName"] == "Account"
    assert fields["Name"]["createable"] is False


def test_opportunity_and_account_describe(sf):
    opp = {f["name"]: f for f in sf.Opportunity.describe()["fields"]}
    stage = opp["StageName"]
    assert stage["type"] == "picklist"
    assert stage["restrictedPicklist"] is False
    assert {"Prospecting", "Closed Won", "Closed Lost"} <= {
        p["value"] for p in stage["picklistValues"]
    }
    assert opp["ForecastCategoryName"]["restrictedPicklist"] is True
    rels = {r["relationshipName"]: r for r in sf.Account.describe()["childRelationships"]}
    assert rels["Contacts"]["childSObject"] == "Contact"
    assert rels["Contacts"]["field"] == "AccountId"
    assert rels["Opportunities"]["childSObject"] == "Opportunity"


def test_describe_global(sf):
    d = sf.describe()
    assert d["encoding"] == "UTF-8"
    assert d["maxBatchSize"] == 200
    objects = {o["name"]: o for o in d["sobjects"]}
    contact = objects["Contact"]
    assert contact["keyPrefix"] == "003"
    assert contact["urls"]["describe"] == "/services/data/v59.0/sobjects/Contact/describe"
    assert objects["Account"]["keyPrefix"] == "001"
    assert objects["Call_Recording__c"]["custom"] is True


def test_describe_of_an_unknown_object_is_not_found(sf):
    with pytest.raises(SalesforceResourceNotFound) as err:
        sf.Whizbang.describe()
    assert error_of(err)["errorCode"] == "NOT_FOUND"


def test_every_record_call_counts_against_the_daily_limit(sf):
    contacts = sf.Contact
    contacts.create({"LastName": "Counted"})
    used = contacts.api_usage["api-usage"].used
    assert used >= 1
    daily = sf.limits()["DailyApiRequests"]
    assert daily["Max"] - daily["Remaining"] == used + 1
    assert sf.api_usage["api-usage"].used == used + 1
