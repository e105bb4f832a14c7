"""Scoped/preview runs read bindings from a file through a private copy of the stack file."""

from __future__ import annotations

from pathlib import Path

import yaml

from components.watch.overrides import (
    Project,
    bindings_override,
    clean_manifest,
    config_override,
    overridden_stack_config,
)
from tests.factories import manifest

STACK_FILE = """\
encryptionsalt: v1:abc:def
config:
  awms-browser-workspaces:bindingsSource: cluster
  bindingsNamespace: jupyterhub
  awms-browser-workspaces:guacamoleDatabaseUrl:
    secure: v1:ciphertext
"""


def make_project(tmp_path: Path) -> Project:
    (tmp_path / "Pulumi.yaml").write_text("name: awms-browser-workspaces\nstackConfigDir: stacks\n")
    (tmp_path / "stacks").mkdir()
    (tmp_path / "stacks" / "Pulumi.dev.yaml").write_text(STACK_FILE)
    return Project.load(tmp_path)


def test_project_settings(tmp_path: Path) -> None:
    project = make_project(tmp_path)
    assert project.name == "awms-browser-workspaces"
    assert project.stack_file("dev") == tmp_path / "stacks" / "Pulumi.dev.yaml"
    assert project.stack_file("org/awms-browser-workspaces/dev").name == "Pulumi.dev.yaml"


def test_override_replaces_plain_and_namespaced_keys_and_keeps_secrets(tmp_path: Path) -> None:
    project = make_project(tmp_path)
    settings = overridden_stack_config(
        project, "dev", {"bindingsSource": "file", "bindingsNamespace": "other"}
    )
    assert settings["encryptionsalt"] == "v1:abc:def"
    assert settings["config"] == {
        "awms-browser-workspaces:guacamoleDatabaseUrl": {"secure": "v1:ciphertext"},
        "awms-browser-workspaces:bindingsSource": "file",
        "awms-browser-workspaces:bindingsNamespace": "other",
    }


def test_bindings_override_writes_private_files_and_removes_them(tmp_path: Path) -> None:
    project = make_project(tmp_path)
    body = manifest("a")
    body["metadata"]["managedFields"] = [{"manager": "kubectl"}]
    with bindings_override(project, "dev", [body]) as override:
        assert override.config_file.name == "Pulumi.dev.yaml"
        assert (override.config_file.parent.stat().st_mode & 0o777) == 0o700
        config = yaml.safe_load(override.config_file.read_text())["config"]
        assert config["awms-browser-workspaces:bindingsSource"] == "file"
        assert config["awms-browser-workspaces:bindingsFile"] == str(override.bindings_file)
        written = list(yaml.safe_load_all(override.bindings_file.read_text()))
        assert written == [clean_manifest(body)]
        assert "managedFields" not in written[0]["metadata"]
    assert not override.config_file.exists() and not override.bindings_file.exists()
    assert (tmp_path / "stacks" / "Pulumi.dev.yaml").read_text() == STACK_FILE


def test_config_override_points_at_an_existing_file(tmp_path: Path) -> None:
    project = make_project(tmp_path)
    proposed = tmp_path / "proposed.yaml"
    proposed.write_text("")
    with config_override(project, "dev", proposed) as config_file:
        config = yaml.safe_load(config_file.read_text())["config"]
        assert config["awms-browser-workspaces:bindingsFile"] == str(proposed.resolve())
    assert clean_manifest("not a mapping") == "not a mapping"


def test_a_scoped_override_turns_the_leftover_scan_off(tmp_path: Path) -> None:
    project = make_project(tmp_path)
    with bindings_override(project, "dev", [manifest("a")], legacy_scan=False) as override:
        config = yaml.safe_load(override.config_file.read_text())["config"]
        assert config["awms-browser-workspaces:legacyScan"] == "false"
    with bindings_override(project, "dev", [manifest("a")]) as override:
        config = yaml.safe_load(override.config_file.read_text())["config"]
        assert "awms-browser-workspaces:legacyScan" not in config
