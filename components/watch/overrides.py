"""Run the program against a different set of bindings without touching the stack's own files.

Both a scoped targeted run and a review ``preview`` need the unchanged program to read bindings
from a file: the program already honours ``bindingsSource: file`` / ``bindingsFile``. Rather than
``pulumi config set`` (which would rewrite ``Pulumi.<stack>.yaml`` and, if the watcher died
before restoring it, leave the stack pointed at a subset of bindings, so that the next full
``up`` would delete everything else), the stack file is copied to a private temporary directory
with the two keys overridden and passed with ``--config-file``. Encrypted values and the
encryption salt are copied as they are, so secrets keep working; nothing is decrypted here.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from components import yaml_text

_DROP_METADATA = ("managedFields",)


@dataclass(frozen=True)
class Project:
    """What the watcher needs from ``Pulumi.yaml``: the project name and where stack files live."""

    directory: Path
    name: str
    stack_config_dir: Path

    @classmethod
    def load(cls, directory: Path) -> Project:
        path = directory / "Pulumi.yaml"
        try:
            data = yaml_text.load(path.read_text(encoding="utf-8")) or {}
        except (OSError, yaml.YAMLError) as error:
            raise ValueError(f"cannot read the Pulumi project file {path}: {error}") from error
        name = data.get("name") if isinstance(data, Mapping) else None
        if not isinstance(name, str) or not name:
            raise ValueError(f"{path} has no project name")
        config_dir = data.get("stackConfigDir") or ""
        return cls(directory, name, directory / str(config_dir))

    def stack_file(self, stack: str) -> Path:
        """``Pulumi.<stack>.yaml``; a fully qualified ``org/project/stack`` uses its last part."""
        return self.stack_config_dir / f"Pulumi.{stack.rsplit('/', 1)[-1]}.yaml"


def overridden_stack_config(
    project: Project, stack: str, overrides: Mapping[str, str]
) -> dict[str, Any]:
    """The stack file's contents with program settings replaced (plain or namespaced keys)."""
    path = project.stack_file(stack)
    try:
        data = yaml_text.load(path.read_text(encoding="utf-8")) if path.exists() else {}
    except (OSError, yaml.YAMLError) as error:
        raise ValueError(f"cannot read stack configuration {path}: {error}") from error
    settings: dict[str, Any] = dict(data or {})
    config = dict(settings.get("config") or {})
    for key, value in overrides.items():
        config.pop(key, None)
        config[f"{project.name}:{key}"] = value
    settings["config"] = config
    return settings


def clean_manifest(manifest: Any) -> Any:
    """A binding as the program reads it from a file: no managed fields (they are large).

    Anything that is not a mapping is passed on as it is, for the program to report.
    """
    if not isinstance(manifest, Mapping):
        return manifest
    out = dict(manifest)
    metadata = out.get("metadata")
    if isinstance(metadata, Mapping):
        out["metadata"] = {k: v for k, v in metadata.items() if k not in _DROP_METADATA}
    return out


@dataclass(frozen=True)
class BindingsOverride:
    """Paths of one override: pass ``config_file`` to ``pulumi --config-file``."""

    config_file: Path
    bindings_file: Path


@contextmanager
def config_override(
    project: Project, stack: str, bindings_file: Path, *, legacy_scan: bool = True
) -> Iterator[Path]:
    """A private stack file reading bindings from ``bindings_file``; yields its path.

    ``legacy_scan=False`` is for a file holding only some bindings (a scoped login run): the
    program must then not look for leftovers, since every other binding would look deleted.
    """
    with tempfile.TemporaryDirectory(prefix="awms-watch-") as tmp:
        directory = Path(tmp)
        os.chmod(directory, 0o700)
        settings = overridden_stack_config(
            project,
            stack,
            {
                "bindingsSource": "file",
                "bindingsFile": str(bindings_file.resolve()),
                **({} if legacy_scan else {"legacyScan": "false"}),
            },
        )
        config_file = directory / project.stack_file(stack).name
        config_file.write_text(yaml_text.dump(settings), encoding="utf-8")
        yield config_file


@contextmanager
def bindings_override(
    project: Project, stack: str, manifests: Iterable[Any], *, legacy_scan: bool = True
) -> Iterator[BindingsOverride]:
    """Write ``manifests`` and a stack file reading them to a private temporary directory."""
    with (
        bindings_file_of(manifests) as bindings_file,
        config_override(project, stack, bindings_file, legacy_scan=legacy_scan) as config_file,
    ):
        yield BindingsOverride(config_file, bindings_file)


@contextmanager
def bindings_file_of(manifests: Iterable[Any]) -> Iterator[Path]:
    """``manifests`` written to a private temporary file, as the program reads them."""
    with tempfile.TemporaryDirectory(prefix="awms-watch-bindings-") as tmp:
        directory = Path(tmp)
        os.chmod(directory, 0o700)
        bindings_file = directory / "bindings.yaml"
        bindings_file.write_text(
            yaml_text.dump_all(clean_manifest(m) for m in manifests),
            encoding="utf-8",
        )
        yield bindings_file
