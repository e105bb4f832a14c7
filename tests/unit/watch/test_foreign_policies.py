"""Policies that are not the program's: which select a browser, which widen its fence."""

from __future__ import annotations

from typing import Any

import pytest

from components.manifests import WORKSPACE_LABEL
from components.watch.foreign_policies import allowed_directions, selects, widening_policies

BROWSER = {WORKSPACE_LABEL: "ws", "xlscsde.nhs.uk/deployment-name": "d1"}


@pytest.mark.parametrize(
    ("selector", "chosen"),
    [
        ({}, True),
        (None, True),
        ({"matchLabels": {WORKSPACE_LABEL: "ws"}}, True),
        ({"matchLabels": {WORKSPACE_LABEL: "other"}}, False),
        ({"matchLabels": {"app": "jupyter"}}, False),
        ({"matchExpressions": [{"key": WORKSPACE_LABEL, "operator": "Exists"}]}, True),
        ({"matchExpressions": [{"key": "app", "operator": "Exists"}]}, False),
        ({"matchExpressions": [{"key": "app", "operator": "DoesNotExist"}]}, True),
        ({"matchExpressions": [{"key": WORKSPACE_LABEL, "operator": "DoesNotExist"}]}, False),
        (
            {"matchExpressions": [{"key": WORKSPACE_LABEL, "operator": "In", "values": ["ws"]}]},
            True,
        ),
        (
            {"matchExpressions": [{"key": WORKSPACE_LABEL, "operator": "In", "values": ["x"]}]},
            False,
        ),
        ({"matchExpressions": [{"key": "app", "operator": "NotIn", "values": ["jupyter"]}]}, True),
        (
            {"matchExpressions": [{"key": WORKSPACE_LABEL, "operator": "NotIn", "values": ["ws"]}]},
            False,
        ),
        (
            {"matchExpressions": [{"key": WORKSPACE_LABEL, "operator": "Gt", "values": ["1"]}]},
            False,
        ),
        (
            {
                "matchLabels": {WORKSPACE_LABEL: "ws"},
                "matchExpressions": [{"key": "app", "operator": "Exists"}],
            },
            False,
        ),
    ],
)
def test_label_selectors_select_as_the_api_server_does(selector: Any, chosen: bool) -> None:
    assert selects(selector, BROWSER) is chosen


@pytest.mark.parametrize(
    ("spec", "directions"),
    [
        ({"policyTypes": ["Ingress", "Egress"]}, []),  # default deny
        ({"policyTypes": ["Ingress"], "ingress": []}, []),
        ({"policyTypes": ["Ingress"], "ingress": [{}]}, ["ingress"]),
        (
            {"policyTypes": ["Egress"], "egress": [{"to": [{"ipBlock": {"cidr": "0.0.0.0/0"}}]}]},
            ["egress"],
        ),
        ({"ingress": [{}]}, ["ingress"]),  # no policyTypes: Ingress
        ({"egress": [{}]}, ["egress"]),  # no policyTypes, egress rules: Egress too
        ({"policyTypes": ["Ingress"], "egress": [{}]}, []),  # egress rules of a type not listed
        (
            {"policyTypes": ["Ingress", "Egress"], "ingress": [{}], "egress": [{}]},
            ["ingress", "egress"],
        ),
    ],
)
def test_only_rules_of_a_listed_direction_allow_anything(spec: Any, directions: list[str]) -> None:
    assert allowed_directions(spec) == directions


def policy(name: str, spec: dict[str, Any], namespace: str = "guacamole") -> dict[str, Any]:
    return {"metadata": {"name": name, "namespace": namespace}, "spec": spec}


TEMPLATES = {
    f"guacamole/d{i}": {**BROWSER, "xlscsde.nhs.uk/deployment-name": f"d{i}"} for i in range(5)
}


def test_a_policy_allowing_traffic_to_browsers_it_selects_is_named() -> None:
    allow_all = policy("allow-all", {"podSelector": {}, "ingress": [{}]})
    (warning,) = widening_policies([allow_all], TEMPLATES)
    assert warning.startswith("NetworkPolicy guacamole/allow-all is not this program's, selects 5")
    assert "(d0, d1, d2 and 2 more)" in warning and "allows ingress traffic" in warning


def test_deny_only_other_namespace_and_unselected_policies_are_not_named() -> None:
    policies = [
        policy("default-deny", {"podSelector": {}, "policyTypes": ["Ingress", "Egress"]}),
        policy("elsewhere", {"podSelector": {}, "ingress": [{}]}, namespace="jupyter"),
        policy("jupyter", {"podSelector": {"matchLabels": {"app": "jupyter"}}, "egress": [{}]}),
    ]
    assert widening_policies(policies, TEMPLATES) == []


def test_a_hostile_policy_name_is_printed_inert() -> None:
    hostile = policy("x\n\x1b[2Jforged", {"podSelector": {}, "egress": [{}]})
    (warning,) = widening_policies([hostile], TEMPLATES)
    assert warning.isprintable() and "x\\n\\x1b[2Jforged" in warning
