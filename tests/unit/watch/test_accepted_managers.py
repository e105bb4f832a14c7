"""Field managers a stack accepts (``driftAcceptedFieldManagers``): their additions to a pod
template are neither drift nor undone by a repair, while a hand edit beside them still is, and
a field the program sets stays the program's."""

from __future__ import annotations

import json
from typing import Any

import pytest

from components.settings import SettingsError, read_field_managers, settings_from_values
from components.watch.spec_drift import POD_TEMPLATE, restored, spec_drift
from tests.unit.watch.test_spec_drift import CONTAINER, KEY, RECORDED, edit, live_deployment

MUTATOR = "kyverno"
ANNOTATION = "policies.kyverno.io/last-applied-patches"
SIDECAR = "log-shipper"
SIDECAR_KEY = "k:" + json.dumps({"name": SIDECAR}, separators=(",", ":"))
ENV_KEY = "k:" + json.dumps({"name": "TZ"}, separators=(",", ":"))


def mutated() -> dict[str, Any]:
    """The Deployment after a background policy added an annotation, an environment variable
    to the browser's container and a sidecar, and someone then made the browser privileged."""
    live = live_deployment()
    template = live["spec"]["template"]
    template["metadata"]["annotations"][ANNOTATION] = "add-tz.kyverno.io: added"
    browser = template["spec"]["containers"][0]
    browser["env"] = [{"name": "TZ", "value": "Europe/London"}]
    template["spec"]["containers"].append(
        {"name": SIDECAR, "image": "fluent-bit:3", "terminationMessagePath": "/dev/termination-log"}
    )
    edit(
        live,
        MUTATOR,
        {
            "f:metadata": {"f:annotations": {f"f:{ANNOTATION}": {}}},
            "f:spec": {
                "f:containers": {
                    KEY: {"f:env": {ENV_KEY: {".": {}, "f:name": {}, "f:value": {}}}},
                    SIDECAR_KEY: {".": {}, "f:image": {}, "f:name": {}},
                }
            },
        },
    )
    browser["securityContext"]["privileged"] = True
    edit(
        live,
        "kubectl-edit",
        {"f:spec": {"f:containers": {KEY: {"f:securityContext": {"f:privileged": {}}}}}},
    )
    return live


def test_accepted_additions_are_not_drift_and_a_hand_edit_beside_them_is() -> None:
    live = mutated()
    privileged = (
        f"spec.template.spec.containers[name={CONTAINER}].securityContext.privileged "
        "(set by kubectl-edit)"
    )
    assert spec_drift(POD_TEMPLATE, RECORDED, live, {MUTATOR}) == (privileged,)
    unaccepted = spec_drift(POD_TEMPLATE, RECORDED, live)
    assert privileged in unaccepted
    # One per field it owns: the annotation, the variable and its two fields, the sidecar and
    # its two fields.
    assert sum(f"(set by {MUTATOR})" in field for field in unaccepted) == 7


def test_a_repair_keeps_the_accepted_additions_and_drops_the_hand_edit() -> None:
    body = restored(POD_TEMPLATE, RECORDED, mutated(), {MUTATOR})
    assert body["metadata"]["annotations"][ANNOTATION] == "add-tz.kyverno.io: added"
    browser, sidecar = body["spec"]["containers"]
    assert browser["env"] == [{"name": "TZ", "value": "Europe/London"}]
    assert "privileged" not in browser["securityContext"]
    # Only the fields the mutator owns: not the default the server filled in.
    assert sidecar == {"name": SIDECAR, "image": "fluent-bit:3"}
    # What the state records is untouched, and without acceptance nothing is kept.
    assert "env" not in RECORDED["spec"]["template"]["spec"]["containers"][0]
    assert restored(POD_TEMPLATE, RECORDED, mutated()) == RECORDED["spec"]["template"]


def test_a_field_the_program_sets_stays_the_programs_whoever_changed_it() -> None:
    live = live_deployment()
    live["spec"]["template"]["spec"]["containers"][0]["image"] = "mirror.example/vnc:0.1.5"
    edit(live, MUTATOR, {"f:spec": {"f:containers": {KEY: {"f:image": {}}}}})
    assert spec_drift(POD_TEMPLATE, RECORDED, live, {MUTATOR}) == (
        "spec.template.spec.containers[0].image",
    )
    body = restored(POD_TEMPLATE, RECORDED, live, {MUTATOR})
    assert body["spec"]["containers"][0]["image"] == "lscsde/analytics-vnc-client:0.1.5"


def test_another_managers_field_inside_an_accepted_item_is_still_drift_and_dropped() -> None:
    live = live_deployment()
    volumes = live["spec"]["template"]["spec"]["volumes"]
    volumes.append({"name": "cache", "emptyDir": {"medium": "Memory"}})
    item = 'k:{"name":"cache"}'
    edit(
        live, MUTATOR, {"f:spec": {"f:volumes": {item: {".": {}, "f:name": {}, "f:emptyDir": {}}}}}
    )
    edit(live, "kubectl-patch", {"f:spec": {"f:volumes": {item: {"f:hostPath": {"f:path": {}}}}}})
    volumes[-1]["hostPath"] = {"path": "/"}
    assert spec_drift(POD_TEMPLATE, RECORDED, live, {MUTATOR}) == (
        "spec.template.spec.volumes[name=cache].hostPath.path (set by kubectl-patch)",
    )
    body = restored(POD_TEMPLATE, RECORDED, live, {MUTATOR})
    assert body["spec"]["volumes"][-1] == {"name": "cache", "emptyDir": {"medium": "Memory"}}


def test_the_setting_takes_names_and_refuses_what_no_manager_is_called() -> None:
    assert settings_from_values({}).drift_accepted_managers == ()
    chosen = settings_from_values({"driftAcceptedFieldManagers": [MUTATOR, "reloader"]})
    assert chosen.drift_accepted_managers == (MUTATOR, "reloader")
    with pytest.raises(SettingsError, match=r"driftAcceptedFieldManagers: must be a list"):
        read_field_managers({"driftAcceptedFieldManagers": MUTATOR})
    with pytest.raises(SettingsError, match=r"driftAcceptedFieldManagers\[1\]: ''"):
        read_field_managers({"driftAcceptedFieldManagers": [MUTATOR, ""]})
    with pytest.raises(SettingsError) as error:
        read_field_managers({"driftAcceptedFieldManagers": ["evil\n\x1b[31m"]})
    assert str(error.value).startswith("driftAcceptedFieldManagers[0]:")
    assert str(error.value).isprintable()
    with pytest.raises(SettingsError, match=r"\[0\]"):
        read_field_managers({"driftAcceptedFieldManagers": ["m" * 129]})
