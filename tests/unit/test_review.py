"""The access review's pure parts: state reading, summarising, engine steps, escaping, rendering.

The golden outputs against a real preview on the sandbox are in tests/integration/test_review.py.
"""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest
from pulumi.automation import EngineEvent

from components import naming
from components.bindings import parse_binding
from components.planning import Plan, plan_workspaces
from components.review.current import WORKSPACE_TYPE, current_access
from components.review.engine import UNKNOWN, Step, StepRecorder, engine_changes
from components.review.escape import inert
from components.review.render import render_markdown, render_text
from components.review.summary import Reason, summarise
from tests.factories import manifest

TODAY = date(2025, 6, 1)
STACK = "urn:pulumi:dev::awms-browser-workspaces::"


def _plan(*manifests: dict[str, Any]) -> Plan:
    return plan_workspaces((parse_binding(m) for m in manifests), TODAY)


def _state(
    *grants: tuple[str, str, int, dict[str, str]], statuses: bool = False, separate: bool = False
) -> dict[str, Any]:
    """A stack export's ``deployment``: per (workspace, user, replicas, {binding: expires}).

    ``separate``: the Guacamole user is a resource of its own (states written before the
    connection held it); else the connection records the login.
    """
    resources: list[dict[str, Any]] = [
        {"urn": f"{STACK}pulumi:pulumi:Stack::awms-browser-workspaces-dev",
         "type": "pulumi:pulumi:Stack", "outputs": {"workspaces": {}}},
    ]  # fmt: skip
    outputs = resources[0]["outputs"]["workspaces"]
    for workspace, username, replicas, bindings in grants:
        name = naming.deployment_name(workspace, username)
        parent = f"{STACK}{WORKSPACE_TYPE}::{name}"
        resources += [
            {"urn": parent, "type": WORKSPACE_TYPE},
            {"urn": f"{parent}$kubernetes:apps/v1:Deployment::{name}", "parent": parent,
             "type": "kubernetes:apps/v1:Deployment",
             "inputs": {"spec": {"replicas": replicas}}},
        ]  # fmt: skip
        login = {"username": f"{workspace}@{username}"}
        rows = ["User", "Connection"] if separate else ["Connection"]
        for row in rows:
            resources.append(
                {"urn": f"{parent}$pulumi-python:dynamic/guacamole:{row}::{name}-guacamole-{row}",
                 "parent": parent, "type": f"pulumi-python:dynamic/guacamole:{row}",
                 "inputs": login if row == rows[0] else {"connection_name": username}}
            )  # fmt: skip
        for key, expires in bindings.items():
            if statuses:
                namespace, _, binding = key.partition("/")
                resources.append(
                    {"urn": f"{STACK}pulumi-python:dynamic/awms:BindingStatus::{key}",
                     "type": "pulumi-python:dynamic/awms:BindingStatus",
                     "inputs": {"bindingNamespace": namespace, "bindingName": binding,
                                "status": {"statusText": "READY", "deploymentName": name}}}
                )  # fmt: skip
            else:
                outputs[key] = {"deploymentName": name, "expires": expires}
    return {"resources": resources}


ANN = ("default-generic-workspace", "jane.doe@example.org", 0, {"jupyterhub/ann": "2099-12-31"})


# Reading the state --------------------------------------------------------------------------


@pytest.mark.parametrize("separate", [False, True], ids=["connection-login", "separate-user"])
def test_current_access_reads_logins_bindings_and_expiry(separate: bool):
    (grant,) = current_access(_state(ANN, separate=separate)).grants
    assert grant.identity == ("default-generic-workspace", "jane.doe@example.org")
    assert grant.replicas == 0
    assert [(b.key, b.expires) for b in grant.bindings] == [("jupyterhub/ann", date(2099, 12, 31))]


def test_bindings_known_only_from_statuses_have_no_expiry():
    (grant,) = current_access(_state(ANN, statuses=True)).grants
    assert [(b.key, b.expires) for b in grant.bindings] == [("jupyterhub/ann", None)]


def test_resources_pending_deletion_and_an_empty_state_grant_nothing():
    state = _state(ANN)
    for resource in state["resources"]:
        resource["delete"] = True
    assert current_access(state).grants == ()
    assert current_access(None).grants == ()


# Summarising --------------------------------------------------------------------------------


def test_a_new_binding_is_granted_until_its_expiry():
    summary = summarise(current_access(_state()), _plan(manifest("ann")))
    (granted,) = summary.granted
    assert (granted.username, granted.workspace, granted.until) == (
        "jane.doe@example.org", "default-generic-workspace", date(2099, 12, 31),
    )  # fmt: skip
    assert [b.binding for b in granted.bindings] == ["jupyterhub/ann"]
    assert not summary.revoked and not summary.changed and summary.access_changed


@pytest.mark.parametrize(
    ("proposed", "reason", "detail"),
    [
        ([], Reason.DELETED, "binding deleted"),
        ([manifest("ann", expires="2025-05-31")], Reason.EXPIRED, "expired on 2025-05-31"),
        ([manifest("ann", expires="soon")], Reason.INVALID, "spec.expires: must be a date"),
        ([manifest("ann", workspace="other")], Reason.REPOINTED, "now grants jane.doe"),
    ],
)
def test_revocations_say_why(proposed: list[dict[str, Any]], reason: Reason, detail: str):
    summary = summarise(current_access(_state(ANN)), _plan(*proposed))
    (revoked,) = summary.revoked
    assert revoked.username == "jane.doe@example.org"
    (cause,) = revoked.causes
    assert (cause.binding, cause.reason) == ("jupyterhub/ann", reason)
    assert cause.detail.startswith(detail)


def test_invalid_bindings_are_refused_with_the_culprit_field():
    summary = summarise(current_access(_state()), _plan(manifest("bad", replicas=-1)))
    (refused,) = summary.refused
    assert (refused.binding, refused.field) == ("jupyterhub/bad", "spec.replicas")
    assert not summary.granted


def test_changes_to_a_login_that_stays():
    state = _state(ANN)
    proposed = _plan(
        manifest("ann", expires="2100-01-31", replicas=1),
        manifest("ann-too", namespace="team-b"),
    )
    summary = summarise(current_access(state), proposed)
    assert not summary.granted and not summary.revoked
    changes = {(c.what, c.binding, c.old, c.new) for c in summary.changed}
    assert changes == {
        ("expiry", "jupyterhub/ann", "2099-12-31", "2100-01-31"),
        ("binding added", "team-b/ann-too", "", "2099-12-31"),
        ("replicas", "", "0", "1"),
    }
    removed = summarise(current_access(state), _plan(manifest("ann-too", namespace="team-b")))
    assert {(c.what, c.binding, c.new) for c in removed.changed} == {
        ("binding removed", "jupyterhub/ann", "deleted"),
        ("binding added", "team-b/ann-too", "2099-12-31"),
    }


def test_the_same_bindings_change_nothing():
    summary = summarise(current_access(_state(ANN)), _plan(manifest("ann")))
    assert not summary.access_changed


def test_an_expired_binding_names_a_login_no_binding_is_recorded_for():
    state = _state(ANN, statuses=True)
    state["resources"] = [r for r in state["resources"] if "BindingStatus" not in r["type"]]
    summary = summarise(current_access(state), _plan(manifest("ann", expires="2025-01-01")))
    (revoked,) = summary.revoked
    assert [(c.binding, c.reason) for c in revoked.causes] == [("jupyterhub/ann", Reason.EXPIRED)]


# Engine steps -------------------------------------------------------------------------------


def _deployment_step(name: str, old_image: str, new_image: str, replicas: tuple[int, int]) -> Step:
    def inputs(image: str, count: int) -> dict[str, Any]:
        return {"spec": {"replicas": count,
                         "template": {"spec": {"containers": [{"image": image}]}}}}  # fmt: skip

    return Step(
        "update",
        f"{STACK}kubernetes:apps/v1:Deployment::{name}",
        "kubernetes:apps/v1:Deployment",
        inputs(old_image, replicas[0]),
        inputs(new_image, replicas[1]),
    )


def test_engine_changes_count_and_name_settings_but_not_replicas():
    steps = [
        _deployment_step("a", "img:1", "img:2", (0, 0)),
        _deployment_step("b", "img:1", "img:2", (0, 1)),
        _deployment_step("c", "img:2", "img:2", (0, 1)),
        Step("create", "u1", "pulumi-python:dynamic/guacamole:User"),
        Step("delete", "s1", "pulumi-python:dynamic/awms:BindingStatus"),
    ]
    changes = engine_changes(steps)
    assert changes.counts == {
        "Kubernetes objects": {"update": 3},
        "Guacamole rows": {"create": 1},
        "binding statuses": {"delete": 1},
    }
    assert changes.updated == {"Deployment": 2}
    assert [(c.kind, c.field, c.old, c.new, c.count) for c in changes.settings] == [
        ("Deployment", "image", "img:1", "img:2", 2)
    ]


def test_engine_values_hide_secrets_unknowns_and_bookkeeping():
    step = Step(
        "update", "x", "pulumi-python:dynamic/guacamole:Connection",
        {"password": {"4dabf18193072939515e22adb298388d": "1b47061264138c4ac30d75fd1eb44270",
                      "ciphertext": "abc"}, "__provider": "old", "port": 5900},
        {"password": {"4dabf18193072939515e22adb298388d": "1b47061264138c4ac30d75fd1eb44270",
                      "ciphertext": "def"}, "__provider": "new", "port": UNKNOWN},
    )  # fmt: skip
    (change,) = engine_changes([step]).settings
    assert (change.kind, change.field, change.old, change.new) == (
        "Guacamole connection", "port", "5900", "(known after the update)",
    )  # fmt: skip


def test_step_recorder_keeps_changing_steps_from_engine_events():
    recorder = StepRecorder()
    for op in ("same", "update"):
        recorder(EngineEvent.from_json({
            "sequence": 1, "timestamp": 0,
            "resourcePreEvent": {"metadata": {
                "op": op, "urn": "u", "type": "kubernetes:apps/v1:Deployment", "provider": "",
                "old": {"type": "t", "urn": "u", "id": "", "parent": "", "provider": "",
                        "inputs": {"spec": {"replicas": 0}}},
                "new": {"type": "t", "urn": "u", "id": "", "parent": "", "provider": "",
                        "inputs": {"spec": {"replicas": 1}}},
                "diffs": ["spec"],
            }},
        }))  # fmt: skip
    (step,) = recorder.steps
    assert (step.op, step.old_inputs, step.new_inputs) == (
        "update", {"spec": {"replicas": 0}}, {"spec": {"replicas": 1}},
    )  # fmt: skip


# Escaping and rendering ---------------------------------------------------------------------

HOSTILE = "eve\u202egro.elpmaxe@\n| x | `y` <img src=x onerror=alert(1)> [l](http://e) @all\x1b[2J"


def test_inert_terminal_text_has_no_control_bidi_or_format_characters():
    shown = inert(HOSTILE)
    assert all(ch.isprintable() for ch in shown)
    assert "\\u202e" in shown and "\\n" in shown and "\\x1b" in shown
    assert shown.startswith("'") and shown.endswith("'")
    assert inert("ann@example.org") == "ann@example.org"
    assert inert("a\\nb", quote=False) == "a\\\\nb"  # a typed backslash cannot fake an escape
    assert inert("zero\u200bwidth") == "'zero\\u200bwidth'"


def test_inert_markdown_is_one_code_span_that_cannot_split_a_table_cell():
    shown = inert(HOSTILE, markdown=True)
    assert shown.startswith("``") and shown.endswith("``") and "\n" not in shown
    assert "|" not in shown.replace("\\|", "")
    body = shown[2:-2]
    assert "``" not in body  # the fence is longer than any backtick run inside
    assert inert("`edge`", markdown=True) == "`` `edge` ``"
    assert inert("", markdown=True) == "(empty)"


def test_markdown_keeps_one_row_per_access_line_whatever_the_text():
    # What validation lets through: no control or format characters, Markdown syntax is fine.
    username = HOSTILE.replace("\n", " ").replace("\x1b", "").replace("\u202e", "")
    summary = summarise(
        current_access(_state()), _plan(manifest("evil", username=username)), engine_changes([])
    )
    text = render_markdown(summary, "dev")
    rows = [line for line in text.splitlines() if line.startswith("| ")]
    assert len(rows) == 2  # header and the one grant
    assert rows[1].split(" | ")[1] == inert(username, markdown=True)  # all of it in one span
    assert "\u202e" not in text and "\x1b" not in text
    assert all(ch.isprintable() for ch in render_text(summary, "dev").replace("\n", ""))


def test_a_settings_only_change_says_no_access_change():
    steps = [_deployment_step(n, "img:1", "img:2", (0, 0)) for n in ("a", "b")]
    summary = summarise(current_access(_state(ANN)), _plan(manifest("ann")), engine_changes(steps))
    assert render_text(summary, "dev").splitlines() == [
        "Access review of stack dev: no access change; 2 Deployments updated: image img:1 → img:2",
        "Engine: Kubernetes objects: 2 to update",
    ]
    assert "**No access change**; 2 Deployments updated: `image` `img:1` → `img:2`" in (
        render_markdown(summary, "dev")
    )
