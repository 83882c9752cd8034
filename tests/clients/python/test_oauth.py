"""simple-salesforce against the dev org: a token from /services/oauth2/token, limits, API usage,
an expired session. Run by crates/devorg/tests/it/clients.rs with the CALLFORCE_* variables."""

import os

import pytest
import requests
from simple_salesforce import Salesforce
from simple_salesforce.exceptions import SalesforceExpiredSession

URL = os.environ["CALLFORCE_INSTANCE_URL"]
CA = os.environ["CALLFORCE_CA_CERT"]


def password_token(session):
    resp = session.post(
        URL + "/services/oauth2/token",
        data={
            "grant_type": "password",
            "client_id": os.environ["CALLFORCE_CLIENT_ID"],
            "client_secret": os.environ["CALLFORCE_CLIENT_SECRET"],
            "username": os.environ["CALLFORCE_USERNAME"],
            "password": os.environ["CALLFORCE_PASSWORD"]
            + os.environ["CALLFORCE_SECURITY_TOKEN"],
        },
    )
    assert resp.status_code == 200, resp.text
    return resp.json()


@pytest.fixture
def sf():
    session = requests.Session()
    session.verify = CA
    token = password_token(session)
    assert token["instance_url"] == URL
    return Salesforce(
        instance_url=token["instance_url"],
        session_id=token["access_token"],
        session=session,
        version="59.0",
    )


def test_limits_and_api_usage(sf):
    limits = sf.limits()
    daily = limits["DailyApiRequests"]
    assert daily["Max"] > 0
    usage = sf.api_usage["api-usage"]
    assert usage.used >= 1
    assert usage.total == daily["Max"]
    assert daily["Max"] - daily["Remaining"] == usage.used
    sf.limits()
    assert sf.api_usage["api-usage"].used == usage.used + 1


def test_expired_session_raises(sf):
    sf.limits()
    resp = sf.session.post(URL + "/devorg/sessions/expire")
    assert resp.status_code == 200
    with pytest.raises(SalesforceExpiredSession) as err:
        sf.limits()
    assert err.value.content[0]["errorCode"] == "INVALID_SESSION_ID"


def test_bad_password_is_refused():
    session = requests.Session()
    session.verify = CA
    resp = session.post(
        URL + "/services/oauth2/token",
        data={
            "grant_type": "password",
            "client_id": os.environ["CALLFORCE_CLIENT_ID"],
            "client_secret": os.environ["CALLFORCE_CLIENT_SECRET"],
            "username": os.environ["CALLFORCE_USERNAME"],
            "password": "wrong",
        },
    )
    assert resp.status_code == 400
    assert resp.json() == {
        "error": "invalid_grant",
        "error_description": "authentication failure",
    }
