"""Legacy name compatibility: known vectors from the running platform plus properties."""

from __future__ import annotations

import re

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from components import naming

DNS1123_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")

# Workspaces are object names (the binding validation enforces it); usernames are free text.
workspaces = st.from_regex(r"\A[a-z0-9]([-a-z0-9.]{0,60}[a-z0-9])?\Z")
usernames = st.text(min_size=1, max_size=80)


@pytest.mark.parametrize(
    ("workspace", "username", "expected"),
    [
        # Both vectors match hostnames stored in the legacy dev database dump.
        ("default-generic-workspace", "jovyan", "897058694bb051b186d83b514ad204a5"),
        ("test-workspace", "jovyan", "1650b50f8d495d69a1ddc8453da48e53"),
    ],
)
def test_deployment_name_matches_legacy_vectors(workspace, username, expected):
    assert naming.deployment_name(workspace, username) == expected


def test_deployment_name_quotes_like_legacy():
    # '@' is percent-encoded by quote(); a formula without quoting would give another hash.
    import uuid

    url = "https://workspaces.xlscsde.nhs.uk/ws/jane.doe%40x.org"
    assert naming.deployment_name("ws", "jane.doe@x.org") == uuid.uuid5(uuid.NAMESPACE_URL, url).hex


def test_deployment_name_refuses_slash_in_workspace():
    # With safe='/' these two pairs would build the same URL and share one Deployment.
    with pytest.raises(ValueError, match="must not contain '/'"):
        naming.deployment_name("a/b", "c")


def test_derived_names_and_hostname():
    name = "897058694bb051b186d83b514ad204a5"
    assert naming.service_name(name) == f"client-{name}"
    assert naming.vnc_secret_name(name) == f"client-{name}-vnc"
    assert naming.guacamole_username("ws", "jane@x.org") == "ws@jane@x.org"
    assert (
        naming.connection_hostname(name, "guacamole")
        == f"client-{name}.guacamole.svc.cluster.local"
    )
    assert (
        naming.connection_hostname(name, "ns", "corp.internal")
        == f"client-{name}.ns.svc.corp.internal"
    )


@pytest.mark.parametrize(
    ("username", "label"),
    [
        ("jane.doe@x.org", "jane.doe___x.org"),
        ("Jane.Doe@X.org", "jane.doe___x.org"),
        ("a  b__c", "a___b___c"),
        ("STRASSE", "strasse"),
        ("straße", "strasse"),  # casefold, not lower
    ],
)
def test_username_label_matches_awms_format(username, label):
    assert naming.username_label(username) == label


@given(workspaces, usernames)
def test_names_are_dns1123_labels(workspace, username):
    name = naming.deployment_name(workspace, username)
    for candidate in (name, naming.service_name(name), naming.vnc_secret_name(name)):
        assert len(candidate) <= 63
        assert DNS1123_LABEL.match(candidate), candidate


@given(workspaces, usernames, workspaces, usernames)
def test_distinct_pairs_never_collide(ws1, user1, ws2, user2):
    assume((ws1, user1) != (ws2, user2))
    assert naming.deployment_name(ws1, user1) != naming.deployment_name(ws2, user2)
