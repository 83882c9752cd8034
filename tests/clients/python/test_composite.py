"""simple-salesforce driving the composite family through `Salesforce.restful`: /composite with
references and all-or-none rollback, sObject Collections (create, update, upsert, get, delete),
/composite/batch and /composite/tree. Run by crates/devorg/tests/it/clients.rs with the
CALLFORCE_* variables."""

import pytest
from simple_salesforce.exceptions import SalesforceMalformedRequest

V = "/services/data/v59.0"
HALTED = "The transaction was rolled back since another operation in the same transaction failed."
ROLLED_BACK = (
    "Record rolled back because not all records were valid and the request was using "
    "AllOrNone header"
)


def composite(sf, all_or_none, *subrequests):
    """POSTs a /composite request; returns its subresponses by referenceId."""
    body = sf.restful(
        "composite",
        method="POST",
        json={"allOrNone": all_or_none, "compositeRequest": list(subrequests)},
    )
    responses = body["compositeResponse"]
    assert [r["referenceId"] for r in responses] == [s["referenceId"] for s in subrequests]
    return {r["referenceId"]: r for r in responses}


def count(sf, soql):
    return sf.query(soql)["totalSize"]


def test_composite_chains_references_across_subrequests(sf):
    out = composite(
        sf,
        True,
        {
            "method": "POST",
            "url": f"{V}/sobjects/Account",
            "referenceId": "refAccount",
            "body": {"Name": "Composite Py Inc"},
        },
        {
            "method": "POST",
            "url": f"{V}/sobjects/Contact",
            "referenceId": "refContact",
            "body": {"LastName": "Composite", "AccountId": "@{refAccount.id}"},
        },
        {
            "method": "GET",
            "url": f"{V}/sobjects/Contact/@{{refContact.id}}?fields=LastName,AccountId",
            "referenceId": "refRead",
        },
        {
            "method": "PATCH",
            "url": f"{V}/sobjects/Account/@{{refAccount.id}}",
            "referenceId": "refRename",
            "body": {"Name": "Composite Py Renamed"},
        },
        {
            "method": "GET",
            "url": f"{V}/query/?q=SELECT+Id,Name+FROM+Account+WHERE+Id='@{{refAccount.id}}'",
            "referenceId": "refQuery",
        },
    )
    account = out["refAccount"]
    assert account["httpStatusCode"] == 201
    assert account["body"]["success"] is True
    account_id = account["body"]["id"]
    assert account["httpHeaders"]["Location"] == f"{V}/sobjects/Account/{account_id}"
    assert out["refContact"]["httpStatusCode"] == 201
    read = out["refRead"]
    assert read["httpStatusCode"] == 200
    assert read["body"]["AccountId"] == account_id
    assert read["body"]["LastName"] == "Composite"
    assert out["refRename"]["httpStatusCode"] == 204
    assert out["refRename"]["body"] is None
    query = out["refQuery"]
    assert query["httpStatusCode"] == 200
    assert query["body"]["records"][0]["Name"] == "Composite Py Renamed"
    assert sf.Account.get(account_id)["Name"] == "Composite Py Renamed"


def test_all_or_none_rolls_back_every_subrequest(sf):
    out = composite(
        sf,
        True,
        {
            "method": "POST",
            "url": f"{V}/sobjects/Account",
            "referenceId": "refAccount",
            "body": {"Name": "Rolled Back Py"},
        },
        {
            "method": "POST",
            "url": f"{V}/sobjects/Contact",
            "referenceId": "refBad",
            "body": {"LastName": "Bad", "AccountId": "@{refAccount.id}", "XName": "x"},
        },
        {
            "method": "POST",
            "url": f"{V}/sobjects/Contact",
            "referenceId": "refAfter",
            "body": {"LastName": "After"},
        },
    )
    bad = out["refBad"]
    assert bad["httpStatusCode"] == 400
    assert bad["body"][0]["errorCode"] == "INVALID_FIELD"
    assert bad["body"][0]["message"] == "No such column 'XName' on sobject of type Contact"
    for ref in ("refAccount", "refAfter"):
        assert out[ref]["httpStatusCode"] == 400
        assert out[ref]["body"] == [{"errorCode": "PROCESSING_HALTED", "message": HALTED}]
    assert count(sf, "SELECT Id FROM Account WHERE Name = 'Rolled Back Py'") == 0
    assert count(sf, "SELECT Id FROM Contact WHERE LastName IN ('Bad', 'After')") == 0


def test_without_all_or_none_only_dependents_of_a_failure_stop(sf):
    out = composite(
        sf,
        False,
        {
            "method": "POST",
            "url": f"{V}/sobjects/Contact",
            "referenceId": "refBad",
            "body": {"FirstName": "NoLastName"},
        },
        {
            "method": "POST",
            "url": f"{V}/sobjects/Case",
            "referenceId": "refCase",
            "body": {"Subject": "Depends", "ContactId": "@{refBad.id}"},
        },
        {
            "method": "POST",
            "url": f"{V}/sobjects/Account",
            "referenceId": "refIndependent",
            "body": {"Name": "Independent Py"},
        },
        {
            "method": "POST",
            "url": f"{V}/sobjects/Whizbang",
            "referenceId": "refUnknown",
            "body": {"Name": "X"},
        },
    )
    assert out["refBad"]["httpStatusCode"] == 400
    assert out["refBad"]["body"][0]["errorCode"] == "REQUIRED_FIELD_MISSING"
    case = out["refCase"]
    assert case["httpStatusCode"] == 400
    assert case["body"][0]["errorCode"] == "PROCESSING_HALTED"
    assert case["body"][0]["message"].startswith(
        "Invalid reference specified. No value for refBad.id found in refBad."
    )
    assert out["refIndependent"]["httpStatusCode"] == 201
    assert out["refUnknown"]["httpStatusCode"] == 404
    assert out["refUnknown"]["body"] == [
        {"errorCode": "NOT_FOUND", "message": "The requested resource does not exist"}
    ]
    assert count(sf, "SELECT Id FROM Account WHERE Name = 'Independent Py'") == 1
    assert count(sf, "SELECT Id FROM Case WHERE Subject = 'Depends'") == 0


def test_collections_create_all_or_none_and_partial(sf):
    records = [
        {"attributes": {"type": "Account"}, "Name": "Coll Py A"},
        {"attributes": {"type": "Contact"}, "FirstName": "No LastName"},
        {"attributes": {"type": "Contact"}, "LastName": "Coll Py C"},
    ]
    results = sf.restful(
        "composite/sobjects", method="POST", json={"allOrNone": True, "records": records}
    )
    assert len(results) == 3
    assert results[1]["success"] is False
    assert results[1]["errors"][0]["statusCode"] == "REQUIRED_FIELD_MISSING"
    assert results[1]["errors"][0]["fields"] == ["LastName"]
    for r in (results[0], results[2]):
        assert r["success"] is False
        assert r["errors"] == [
            {"statusCode": "ALL_OR_NONE_OPERATION_ROLLED_BACK", "message": ROLLED_BACK, "fields": []}
        ]
    assert count(sf, "SELECT Id FROM Account WHERE Name = 'Coll Py A'") == 0

    results = sf.restful(
        "composite/sobjects", method="POST", json={"allOrNone": False, "records": records}
    )
    assert [r["success"] for r in results] == [True, False, True]
    assert results[0]["id"].startswith("001") and results[2]["id"].startswith("003")
    assert "id" not in results[1] or results[1]["id"] is None
    assert count(sf, "SELECT Id FROM Account WHERE Name = 'Coll Py A'") == 1


def test_collections_update_upsert_get_and_delete(sf):
    created = sf.restful(
        "composite/sobjects",
        method="POST",
        json={
            "records": [
                {"attributes": {"type": "Contact"}, "LastName": f"Coll {i}"} for i in range(3)
            ]
        },
    )
    ids = [r["id"] for r in created]
    updated = sf.restful(
        "composite/sobjects",
        method="PATCH",
        json={
            "allOrNone": False,
            "records": [
                {"attributes": {"type": "Contact"}, "id": ids[0], "Title": "Updated"},
                {"attributes": {"type": "Contact"}, "id": ids[1], "Bogus__c": 1},
            ],
        },
    )
    assert updated[0] == {"id": ids[0], "success": True, "errors": []}
    assert updated[1]["success"] is False
    assert updated[1]["errors"][0]["statusCode"] == "INVALID_FIELD"

    upserted = sf.restful(
        "composite/sobjects/Contact/External_Id__c",
        method="PATCH",
        json={
            "allOrNone": False,
            "records": [
                {"attributes": {"type": "Contact"}, "External_Id__c": "CON-SARAH", "Title": "COO"},
                {"attributes": {"type": "Contact"}, "External_Id__c": "CON-PY-NEW", "LastName": "New"},
            ],
        },
    )
    assert [(r["success"], r["created"]) for r in upserted] == [(True, False), (True, True)]
    assert sf.Contact.get_by_custom_id("External_Id__c", "CON-SARAH")["Title"] == "COO"

    deleted = sf.restful(
        "composite/sobjects",
        method="DELETE",
        params={"ids": f"{ids[2]},001RM000003oLrB000", "allOrNone": "false"},
    )
    assert deleted[0] == {"id": ids[2], "success": True, "errors": []}
    assert deleted[1]["success"] is False
    assert deleted[1]["errors"][0]["statusCode"] == "MALFORMED_ID"
    assert deleted[1]["errors"][0]["message"] == "malformed id 001RM000003oLrB000"

    got = sf.restful(
        "composite/sobjects/Contact",
        params={"ids": ",".join(ids), "fields": "Id,LastName,Title"},
    )
    assert got[0]["Title"] == "Updated"
    assert got[1]["LastName"] == "Coll 1"
    assert got[2] is None, "a deleted record reads as null"


def test_collections_refuse_more_than_200_records(sf):
    records = [{"attributes": {"type": "Contact"}, "LastName": f"Over {i}"} for i in range(201)]
    with pytest.raises(SalesforceMalformedRequest):
        sf.restful("composite/sobjects", method="POST", json={"records": records})
    assert count(sf, "SELECT Id FROM Contact WHERE LastName = 'Over 0'") == 0


def test_batch_runs_independent_subrequests(sf):
    account = sf.Account.create({"Name": "Batch Py"})["id"]
    body = sf.restful(
        "composite/batch",
        method="POST",
        json={
            "haltOnError": False,
            "batchRequests": [
                {"method": "PATCH", "url": f"v59.0/sobjects/Account/{account}", "richInput": {"Name": "Batch Py 2"}},
                {"method": "GET", "url": f"v59.0/sobjects/Account/{account}?fields=Name"},
                {"method": "GET", "url": "v59.0/sobjects/Account/001000000000000AAA"},
            ],
        },
    )
    assert body["hasErrors"] is True
    first, second, third = body["results"]
    assert first == {"statusCode": 204, "result": None}
    assert second["statusCode"] == 200
    assert second["result"]["Name"] == "Batch Py 2"
    assert third["statusCode"] == 404
    assert third["result"][0]["errorCode"] == "NOT_FOUND"


def test_batch_halts_on_error(sf):
    body = sf.restful(
        "composite/batch",
        method="POST",
        json={
            "haltOnError": True,
            "batchRequests": [
                {"method": "POST", "url": "v59.0/sobjects/Contact", "richInput": {"FirstName": "x"}},
                {"method": "POST", "url": "v59.0/sobjects/Contact", "richInput": {"LastName": "Never"}},
            ],
        },
    )
    assert body["hasErrors"] is True
    first, second = body["results"]
    assert first["statusCode"] == 400
    assert first["result"][0]["errorCode"] == "REQUIRED_FIELD_MISSING"
    assert second["statusCode"] == 412
    assert second["result"][0]["errorCode"] == "BATCH_PROCESSING_HALTED"
    assert count(sf, "SELECT Id FROM Contact WHERE LastName = 'Never'") == 0


def test_tree_creates_nested_records(sf):
    body = sf.restful(
        "composite/tree/Account",
        method="POST",
        json={
            "records": [
                {
                    "attributes": {"type": "Account", "referenceId": "ref1"},
                    "Name": "Tree Py",
                    "Contacts": {
                        "records": [
                            {"attributes": {"type": "Contact", "referenceId": "ref2"}, "LastName": "Leaf One"},
                            {"attributes": {"type": "Contact", "referenceId": "ref3"}, "LastName": "Leaf Two"},
                        ]
                    },
                }
            ]
        },
    )
    assert body["hasErrors"] is False
    results = {r["referenceId"]: r["id"] for r in body["results"]}
    assert list(results) == ["ref1", "ref2", "ref3"]
    res = sf.query(
        "SELECT Name, (SELECT LastName FROM Contacts ORDER BY LastName) FROM Account WHERE Id = '%s'"
        % results["ref1"]
    )
    account = res["records"][0]
    assert [c["LastName"] for c in account["Contacts"]["records"]] == ["Leaf One", "Leaf Two"]


def test_tree_failure_creates_nothing(sf):
    with pytest.raises(SalesforceMalformedRequest) as err:
        sf.restful(
            "composite/tree/Account",
            method="POST",
            json={
                "records": [
                    {
                        "attributes": {"type": "Account", "referenceId": "ref1"},
                        "Name": "Tree Py Bad",
                        "Contacts": {
                            "records": [
                                {"attributes": {"type": "Contact", "referenceId": "ref2"}, "FirstName": "x"}
                            ]
                        },
                    }
                ]
            },
        )
    body = err.value.content
    assert body["hasErrors"] is True
    assert body["results"][0]["referenceId"] == "ref2"
    assert body["results"][0]["errors"][0]["statusCode"] == "REQUIRED_FIELD_MISSING"
    assert count(sf, "SELECT Id FROM Account WHERE Name = 'Tree Py Bad'") == 0
