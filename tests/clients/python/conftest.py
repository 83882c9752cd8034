"""Shared set-up of the simple-salesforce tests: one logged-in `Salesforce` per test module,
trusting the org's CA. The org comes from the CALLFORCE_* variables set by
crates/devorg/tests/it/clients.rs."""

import os

import pytest
import requests
from simple_salesforce import Salesforce

URL = os.environ.get("CALLFORCE_INSTANCE_URL", "")


def new_session():
    """A requests session that trusts the dev org's CA (simple-salesforce always uses https)."""
    session = requests.Session()
    session.verify = os.environ["CALLFORCE_CA_CERT"]
    return session


def login(session):
    """A password-grant token answer from the dev org."""
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


@pytest.fixture(scope="module")
def sf():
    """A `Salesforce` client on the dev org, shared by the tests of one module."""
    session = new_session()
    token = login(session)
    return Salesforce(
        instance_url=token["instance_url"],
        session_id=token["access_token"],
        session=session,
        version="59.0",
    )
