"""The bindings files' YAML reader and writer: plain data only, round trips, fast loader."""

from __future__ import annotations

import pytest
import yaml

from components import yaml_text


def test_documents_round_trip_in_order() -> None:
    documents = [
        {"kind": "AnalyticsWorkspaceBinding", "metadata": {"name": "b", "namespace": "a"}},
        {"spec": {"username": "eve\u202e@example.org", "replicas": 1, "expires": "2030-01-01"}},
    ]

    text = yaml_text.dump_all(documents)

    assert yaml_text.load_all(text) == documents
    assert text.index("kind") < text.index("metadata")


def test_python_tags_are_refused() -> None:
    with pytest.raises(yaml.YAMLError):
        yaml_text.load("!!python/object/apply:os.system ['true']")


def test_libyaml_is_used_when_pyyaml_has_it() -> None:
    expected = yaml.CSafeLoader if yaml.__with_libyaml__ else yaml.SafeLoader
    assert yaml_text.SafeLoader is expected
