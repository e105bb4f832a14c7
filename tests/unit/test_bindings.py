"""Binding parsing: every malformed shape names namespace/name and the field."""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from components.bindings import Binding, InvalidBinding, parse_binding
from tests.factories import manifest


def test_parses_a_complete_binding():
    parsed = parse_binding(
        manifest(
            replicas=1,
            comments="analyst",
            status={"deploymentName": "abc", "statusText": "READY"},
        ),
        origin="cluster",
    )
    assert parsed == Binding(
        namespace="jupyterhub",
        name="binding-1",
        workspace="default-generic-workspace",
        username="jane.doe@example.org",
        expires=date(2099, 12, 31),
        replicas=1,
        comments="analyst",
        status_deployment_name="abc",
        status_text="READY",
    )
    assert parsed.key == "jupyterhub/binding-1"


def test_replicas_default_to_zero_so_new_bindings_start_scaled_down():
    parsed = parse_binding(manifest())
    assert isinstance(parsed, Binding)
    assert parsed.replicas == 0


def test_yaml_dates_are_accepted():
    parsed = parse_binding(manifest(expires=date(2030, 1, 2)))
    assert isinstance(parsed, Binding)
    assert parsed.expires == date(2030, 1, 2)


@pytest.mark.parametrize(
    ("overrides", "field", "reason"),
    [
        ({"workspace": ...}, "spec.workspace", "is required"),
        ({"workspace": ""}, "spec.workspace", "is required"),
        ({"workspace": 7}, "spec.workspace", "must be a string"),
        ({"workspace": "Not_A_Name"}, "spec.workspace", "not the name of an AnalyticsWorkspace"),
        ({"workspace": "a/b"}, "spec.workspace", "not the name of an AnalyticsWorkspace"),
        ({"username": ...}, "spec.username", "is required"),
        ({"username": ""}, "spec.username", "is required"),
        ({"username": ["x"]}, "spec.username", "must be a string"),
        ({"username": "a\nb"}, "spec.username", "control or format characters, found U+000A"),
        ({"username": "a\x1b[31mb"}, "spec.username", "found U+001B"),
        ({"username": "bob\u0085"}, "spec.username", "found U+0085"),
        ({"username": "\u202eevil"}, "spec.username", "found U+202E"),
        ({"username": "zero\u200bwidth"}, "spec.username", "found U+200B"),
        ({"username": "line\u2028sep"}, "spec.username", "found U+2028"),
        ({"username": "a\x7fb"}, "spec.username", "found U+007F"),
        ({"workspace": "ws\u202e"}, "spec.workspace", "not the name of an AnalyticsWorkspace"),
        ({"workspace": "ws\n"}, "spec.workspace", "not the name of an AnalyticsWorkspace"),
        ({"expires": "2030-01-01\n"}, "spec.expires", "must be a date"),
        ({"workspace": "w" * 127}, "spec.workspace", "at most 126"),
        (
            {"username": ..., "claims": [{"name": "g", "operator": "EQUALS", "value": "x"}]},
            "spec.claims",
            "claims-only bindings are not supported",
        ),
        ({"expires": ...}, "spec.expires", "is required"),
        ({"expires": "tomorrow"}, "spec.expires", "must be a date"),
        ({"expires": "2024-02-30"}, "spec.expires", "must be a date"),
        ({"expires": "20240101"}, "spec.expires", "must be a date"),
        ({"replicas": -1}, "spec.replicas", "must not be negative"),
        ({"replicas": "1"}, "spec.replicas", "must be an integer"),
        ({"replicas": True}, "spec.replicas", "must be an integer"),
        ({"replicas": 1.5}, "spec.replicas", "must be an integer"),
        ({"replicas": 3000000000}, "spec.replicas", "must be at most 2147483647"),
        ({"replicas": 2**31}, "spec.replicas", "must be at most 2147483647"),
        ({"expires": True}, "spec.expires", "must be a date"),
        ({"expires": "2024-13-01"}, "spec.expires", "must be a date"),
        ({"expires": "0000-01-01"}, "spec.expires", "must be a date"),
        ({"comments": 3}, "spec.comments", "must be a string"),
    ],
)
def test_malformed_spec_names_binding_and_field(overrides, field, reason):
    parsed = parse_binding(manifest(name="bad", namespace="team-a", **overrides))
    assert isinstance(parsed, InvalidBinding)
    assert parsed.key == "team-a/bad"
    assert parsed.field == field
    assert reason in parsed.reason
    assert parsed.message.startswith("binding team-a/bad refused: " + field)


def test_replicas_up_to_the_deployment_limit_are_accepted():
    parsed = parse_binding(manifest(replicas=2**31 - 1))
    assert isinstance(parsed, Binding) and parsed.replicas == 2**31 - 1


def test_guacamole_login_longer_than_varchar_128_is_refused():
    workspace = "w" * 60
    fits = "u" * (128 - 61)
    assert isinstance(parse_binding(manifest(workspace=workspace, username=fits)), Binding)
    too_long = parse_binding(manifest(workspace=workspace, username=fits + "u"))
    assert isinstance(too_long, InvalidBinding)
    assert too_long.field == "spec.username"
    assert "129" in too_long.reason and "leaves 67" in too_long.reason


@pytest.mark.parametrize("length", [127, 129, 200])
def test_a_workspace_too_long_for_guacamole_is_blamed_on_the_workspace(length: int):
    parsed = parse_binding(manifest(workspace="w" * length, username="u"))
    assert isinstance(parsed, InvalidBinding)
    assert parsed.field == "spec.workspace"
    assert f"is {length} characters" in parsed.reason


def test_the_longest_workspace_leaves_room_for_a_one_character_username():
    assert isinstance(parse_binding(manifest(workspace="w" * 126, username="u")), Binding)


def test_unsafe_text_is_escaped_in_the_message():
    forged = "x\n\x1b[31merror: binding analytics/good-alice skipped: FORGED\u202e"
    parsed = parse_binding(manifest(name="bad", username=forged))
    assert isinstance(parsed, InvalidBinding) and parsed.field == "spec.username"
    assert parsed.message.isprintable()
    assert "U+000A, U+001B, U+202E" in parsed.message


@pytest.mark.parametrize(
    ("key", "value", "field"),
    [("kind", "AnalyticsWorkspace", "kind"), ("apiVersion", "xlscsde.nhs.uk/v2", "apiVersion")],
)
def test_wrong_kind_or_version_is_reported(key, value, field):
    body = manifest()
    body[key] = value
    parsed = parse_binding(body)
    assert isinstance(parsed, InvalidBinding)
    assert (parsed.key, parsed.field) == ("jupyterhub/binding-1", field)


def test_missing_spec_is_reported():
    body = manifest()
    del body["spec"]
    parsed = parse_binding(body)
    assert isinstance(parsed, InvalidBinding)
    assert (parsed.key, parsed.field) == ("jupyterhub/binding-1", "spec")


@pytest.mark.parametrize(
    ("metadata", "field", "key"),
    [
        ({"namespace": "ns"}, "metadata.name", "bindings.yaml#2"),
        ({"name": "n"}, "metadata.namespace", "bindings.yaml#2"),
        # Names the API server would refuse, met in a file no API server has seen.
        ({"name": "Bad_Name", "namespace": "ns"}, "metadata.name", "ns/Bad_Name"),
        ({"name": "b\nerror: forged", "namespace": "ns"}, "metadata.name", "ns/b\nerror: forged"),
        ({"name": "n" * 254, "namespace": "ns"}, "metadata.name", "ns/" + "n" * 254),
        ({"name": "ok", "namespace": "team.a"}, "metadata.namespace", "team.a/ok"),
        ({"name": "ok\n", "namespace": "ns"}, "metadata.name", "ns/ok\n"),
        ({"name": "ok", "namespace": "ns\n"}, "metadata.namespace", "ns\n/ok"),
        ({"name": "ok", "namespace": "n" * 64}, "metadata.namespace", "n" * 64 + "/ok"),
    ],
)
def test_unaddressable_binding_is_refused_without_a_status(metadata, field, key):
    body = manifest()
    body["metadata"] = metadata
    parsed = parse_binding(body, origin="bindings.yaml#2")
    assert isinstance(parsed, InvalidBinding)
    assert parsed.field == field
    assert not parsed.addressable  # no status write, no Pulumi resource named after it
    assert parsed.key == key
    assert parsed.message.isprintable()


def test_non_mapping_manifest():
    parsed = parse_binding(["not", "a", "binding"], origin="x.yaml#1")
    assert isinstance(parsed, InvalidBinding)
    assert parsed.message == "binding x.yaml#1 refused: manifest is not a mapping"


def test_expiry_is_inclusive():
    parsed = parse_binding(manifest(expires="2025-03-01"))
    assert isinstance(parsed, Binding)
    assert not parsed.is_expired(date(2025, 3, 1))
    assert parsed.is_expired(date(2025, 3, 2))


_json = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=8) | st.dates(),
    lambda children: (
        st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=8), children, max_size=3)
    ),
    max_leaves=12,
)
_field_values = st.one_of(_json, st.sampled_from(["ws", "a@b", "2030-01-01", 0, -1, "x" * 200]))


@given(
    st.dictionaries(
        st.sampled_from(["workspace", "username", "expires", "replicas", "claims", "comments"]),
        _field_values,
    ),
    st.one_of(_json, st.fixed_dictionaries({"name": _json, "namespace": _json})),
)
def test_parsing_never_raises(spec: dict[str, Any], metadata: Any):
    body = {
        "apiVersion": "xlscsde.nhs.uk/v1",
        "kind": "AnalyticsWorkspaceBinding",
        "metadata": metadata,
        "spec": spec,
    }
    parsed = parse_binding(body, origin="fuzz")
    assert isinstance(parsed, Binding | InvalidBinding)
    if isinstance(parsed, InvalidBinding):
        assert parsed.message.startswith("binding ")
        assert parsed.message.isprintable()
