"""simple-salesforce queries against the dev org: relationship fields, subqueries, LIKE with a
quote, aggregates, date literals, pagination beyond 2000 rows (query_more, query_all,
query_all_iter), queryAll with deleted rows, SOSL and the query errors.
Run by crates/devorg/tests/it/clients.rs with the CALLFORCE_* variables."""

import re
from datetime import date

import pytest
from simple_salesforce import format_soql
from simple_salesforce.exceptions import SalesforceMalformedRequest

PAGED = 2150
DELETED = 50
PAGED_SOQL = "SELECT Id, LastName FROM Contact WHERE Department = 'Paging' ORDER BY LastName"
LOCATOR_URL = re.compile(r"^/services/data/v59\.0/query(All)?/01g[A-Za-z0-9]{15}-(\d+)$")


def error_of(exc_info):
    """The single error of a Salesforce error body."""
    content = exc_info.value.content
    assert isinstance(content, list) and len(content) == 1, content
    return content[0]


@pytest.fixture(scope="module")
def paged(sf):
    """2150 contacts in Department 'Paging' (created 200 at a time through sObject
    Collections), the first 50 of them deleted. Returns (live ids, deleted ids)."""
    ids = []
    for start in range(0, PAGED, 200):
        records = [
            {"attributes": {"type": "Contact"}, "LastName": f"Page {i:05}", "Department": "Paging"}
            for i in range(start, min(start + 200, PAGED))
        ]
        results = sf.restful(
            "composite/sobjects", method="POST", json={"allOrNone": True, "records": records}
        )
        assert all(r["success"] for r in results), results
        ids.extend(r["id"] for r in results)
    gone = ids[:DELETED]
    results = sf.restful("composite/sobjects", method="DELETE", params={"ids": ",".join(gone)})
    assert [r["success"] for r in results] == [True] * DELETED, results
    return ids[DELETED:], gone


def test_phone_lookup_with_the_parent_account(sf):
    res = sf.query(
        "SELECT Id, Name, Phone, Account.Name FROM Contact WHERE Phone = '(555) 123-4567'"
    )
    assert res["totalSize"] == 1 and res["done"] is True
    sarah = res["records"][0]
    assert sarah["Name"] == "Sarah Johnson"
    assert sarah["attributes"]["type"] == "Contact"
    assert sarah["attributes"]["url"] == f"/services/data/v59.0/sobjects/Contact/{sarah['Id']}"
    assert sarah["Account"]["Name"] == "Acme Corporation"
    assert sarah["Account"]["attributes"]["type"] == "Account"


def test_two_contacts_share_a_name_at_different_accounts(sf):
    res = sf.query(
        format_soql(
            "SELECT Name, Account.Name FROM Contact WHERE Name = {} ORDER BY Account.Name",
            "Sarah Johnson",
        )
    )
    assert res["totalSize"] == 2
    assert [r["Account"]["Name"] for r in res["records"]] == [
        "Acme Corporation",
        "Johnson & Associates",
    ]


def test_empty_lookup_is_null(sf):
    res = sf.query("SELECT Id, Account.Name, Contact.Name FROM Case WHERE SuppliedName = 'Priya Raman'")
    assert res["totalSize"] == 1
    assert res["records"][0]["Account"] is None
    assert res["records"][0]["Contact"] is None


def test_child_subquery_and_its_null_when_empty(sf):
    res = sf.query(
        "SELECT Name, (SELECT Subject FROM Cases ORDER BY Subject) FROM Contact "
        "WHERE External_Id__c IN ('CON-SARAH', 'CON-SARAH_JA') ORDER BY External_Id__c"
    )
    acme, partner = res["records"]
    cases = acme["Cases"]
    assert cases["totalSize"] == 3 and cases["done"] is True
    subjects = [c["Subject"] for c in cases["records"]]
    assert subjects == sorted(subjects)
    assert "Voice agent mispronounces product names" in subjects
    assert cases["records"][0]["attributes"]["type"] == "Case"
    assert partner["Cases"] is None


def test_like_with_a_quote_in_the_term(sf):
    soql = format_soql("SELECT LastName FROM Contact WHERE LastName LIKE '{:like}%'", "O'Br")
    assert "\\'" in soql
    res = sf.query(soql)
    assert [r["LastName"] for r in res["records"]] == ["O'Brien"]
    exact = sf.query(format_soql("SELECT Id FROM Contact WHERE LastName = {}", "O'Brien"))
    assert exact["totalSize"] == 1


def test_like_escapes_underscore_and_percent(sf):
    # {:like} turns '_' into '\_' so it matches only a literal underscore.
    soql = format_soql(
        "SELECT External_Id__c FROM Contact WHERE External_Id__c LIKE '%{:like}'", "_JA"
    )
    ids = sorted(r["External_Id__c"] for r in sf.query(soql)["records"])
    assert ids == ["CON-MICHAEL_JA", "CON-SARAH_JA"]
    soql = format_soql("SELECT Id FROM Account WHERE Name LIKE '{:like}%'", "100%")
    assert sf.query(soql)["totalSize"] == 0


def test_aggregates_group_by_and_count(sf):
    res = sf.query(
        "SELECT StageName, COUNT(Id) n, SUM(Amount) total FROM Opportunity "
        "WHERE StageName = 'Closed Won' GROUP BY StageName"
    )
    assert res["totalSize"] == 1
    row = res["records"][0]
    assert row["attributes"] == {"type": "AggregateResult"}
    assert row["StageName"] == "Closed Won"
    assert row["n"] == 2
    assert row["total"] == 38400
    unaliased = sf.query("SELECT MAX(Amount), MIN(Amount) FROM Opportunity")["records"][0]
    assert unaliased["expr0"] == 480000
    assert unaliased["expr1"] == 1188
    count = sf.query("SELECT COUNT() FROM Opportunity")
    assert count["records"] == [] and count["done"] is True
    assert count["totalSize"] == sf.query("SELECT Id FROM Opportunity")["totalSize"] >= 12


def test_date_literals_order_limit_offset(sf):
    past = sf.query("SELECT Name FROM Opportunity WHERE CloseDate < TODAY ORDER BY CloseDate")
    assert [r["Name"] for r in past["records"]] == [
        "Meridian - Premium Support",
        "Bluebird - Appointment Line",
        "Brightpath - Admissions Line",
    ]
    page = sf.query(
        "SELECT Name FROM Opportunity ORDER BY Amount DESC NULLS LAST LIMIT 2 OFFSET 1"
    )
    assert [r["Name"] for r in page["records"]] == [
        "Meridian - Patient Access Center",
        "Acme - Annual Renewal",
    ]


def test_first_page_is_2000_rows_and_query_more_follows_the_url(sf, paged):
    live, _ = paged
    first = sf.query(PAGED_SOQL)
    assert first["totalSize"] == len(live)
    assert first["done"] is False
    assert len(first["records"]) == 2000
    m = LOCATOR_URL.match(first["nextRecordsUrl"])
    assert m and m.group(2) == "2000", first["nextRecordsUrl"]
    rest = sf.query_more(first["nextRecordsUrl"], identifier_is_url=True)
    assert rest["done"] is True
    assert "nextRecordsUrl" not in rest
    assert len(rest["records"]) == len(live) - 2000
    assert rest["records"][0]["LastName"] == f"Page {DELETED + 2000:05}"
    # The locator alone (query_more's other form) reads the same page of a new query.
    locator = sf.query(PAGED_SOQL)["nextRecordsUrl"].rsplit("/", 1)[1]
    assert locator != first["nextRecordsUrl"].rsplit("/", 1)[1]
    again = sf.query_more(locator)
    assert [r["Id"] for r in again["records"]] == [r["Id"] for r in rest["records"]]


def test_query_all_and_query_all_iter_read_every_page(sf, paged):
    live, gone = paged
    res = sf.query_all(PAGED_SOQL)
    assert res["totalSize"] == len(live)
    ids = [r["Id"] for r in res["records"]]
    assert sorted(ids) == sorted(live)
    assert not set(gone) & set(ids)
    names = [r["LastName"] for r in res["records"]]
    assert names == sorted(names)
    count = sum(1 for _ in sf.query_all_iter(PAGED_SOQL))
    assert count == len(live)


def test_query_all_with_deleted_rows(sf, paged):
    live, gone = paged
    res = sf.query_all(
        "SELECT Id, IsDeleted FROM Contact WHERE Department = 'Paging'", include_deleted=True
    )
    assert res["totalSize"] == len(live) + len(gone)
    deleted = sorted(r["Id"] for r in res["records"] if r["IsDeleted"])
    assert deleted == sorted(gone)
    first = sf.query(
        "SELECT Id FROM Contact WHERE Department = 'Paging' AND IsDeleted = true",
        include_deleted=True,
    )
    assert first["totalSize"] == len(gone)
    assert sf.query("SELECT COUNT() FROM Contact WHERE Id = '%s'" % gone[0])["totalSize"] == 0


def test_batch_size_header_pages_query_all_in_smaller_pages(sf, paged):
    live, _ = paged
    headers = {"Sforce-Query-Options": "batchSize=500"}
    first = sf.query(PAGED_SOQL, headers=headers)
    assert len(first["records"]) == 500
    assert LOCATOR_URL.match(first["nextRecordsUrl"]).group(2) == "500"
    res = sf.query_all(PAGED_SOQL, headers=headers)
    assert len(res["records"]) == len(live)
    assert len({r["Id"] for r in res["records"]}) == len(live)


def test_format_soql_quotes_lists_booleans_dates_and_null(sf):
    soql = format_soql(
        "SELECT Name FROM Opportunity WHERE StageName IN {stages} AND IsClosed = {closed} "
        "AND CloseDate < {day} AND Description = {none} ORDER BY Name",
        stages=["Closed Won", "Closed Lost"],
        closed=True,
        day=date.today(),
        none=None,
    )
    names = [r["Name"] for r in sf.query(soql)["records"]]
    assert names == [
        "Bluebird - Appointment Line",
        "Brightpath - Admissions Line",
        "Meridian - Premium Support",
    ]


def test_two_level_parent_fields(sf):
    res = sf.query(
        "SELECT Name, Account.Name, Account.Owner.Name, Account.Parent.Name FROM Contact "
        "WHERE External_Id__c = 'CON-MARK_ACME_WEST'"
    )
    mark = res["records"][0]
    assert mark["Account"]["Name"] == "Acme Corporation - West"
    assert mark["Account"]["Parent"]["Name"] == "Acme Corporation"
    assert isinstance(mark["Account"]["Owner"]["Name"], str)


def test_sosl_search_finds_both_sarahs(sf):
    res = sf.search(
        "FIND {Sarah Johnson} IN NAME FIELDS RETURNING Contact(Id, Name, Account.Name ORDER BY Name)"
    )
    records = res["searchRecords"]
    assert [r["Name"] for r in records] == ["Sarah Johnson", "Sarah Johnson"]
    assert {r["Account"]["Name"] for r in records} == {"Acme Corporation", "Johnson & Associates"}
    assert all(r["attributes"]["type"] == "Contact" for r in records)


def test_sosl_phone_search_matches_any_format(sf):
    res = sf.search("FIND {5551234567} IN PHONE FIELDS RETURNING Contact(Name)")
    assert [r["Name"] for r in res["searchRecords"]] == ["Sarah Johnson"]


def test_quick_search(sf):
    res = sf.quick_search("Acme")
    types = {r["attributes"]["type"] for r in res["searchRecords"]}
    assert "Account" in types


def test_unknown_column_is_invalid_field(sf):
    with pytest.raises(SalesforceMalformedRequest) as err:
        sf.query("SELECT Nope__c FROM Contact")
    e = error_of(err)
    assert e["errorCode"] == "INVALID_FIELD"
    assert "No such column 'Nope__c' on entity 'Contact'" in e["message"]
    assert "ERROR at Row:1:Column:8" in e["message"]


def test_unknown_object_is_invalid_type(sf):
    with pytest.raises(SalesforceMalformedRequest) as err:
        sf.query("select count() from XYZZY")
    e = error_of(err)
    assert e["errorCode"] == "INVALID_TYPE"
    assert "sObject type 'XYZZY' is not supported." in e["message"]
    assert "ERROR at Row:1:Column:21" in e["message"]


def test_malformed_query_and_search(sf):
    with pytest.raises(SalesforceMalformedRequest) as err:
        sf.query("SELECT FROM Contact")
    assert error_of(err)["errorCode"] == "MALFORMED_QUERY"
    with pytest.raises(SalesforceMalformedRequest) as err:
        sf.search("FIND Acme")
    assert error_of(err)["errorCode"] == "MALFORMED_SEARCH"


def test_unknown_locator_is_invalid_query_locator(sf):
    with pytest.raises(SalesforceMalformedRequest) as err:
        sf.query_more("01g0D0000000009AAA-2000")
    assert error_of(err)["errorCode"] == "INVALID_QUERY_LOCATOR"
