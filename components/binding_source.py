"""Where binding manifests come from: the API server or YAML files (the program's input edge).

The program declares the complete desired state, so an empty source means "delete every browser
workspace". Every failure to read the source therefore raises :class:`BindingSourceError` and
fails the run: a dead API server, a missing CRD, a forbidden list, a missing file or a YAML syntax
error must never look like zero bindings. A readable manifest that is not a valid binding is
passed on and reported per binding instead.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import urllib3
import yaml
from kubernetes import client
from kubernetes.client.exceptions import ApiException
from kubernetes.config.config_exception import ConfigException

from components import yaml_text
from components.bindings import GROUP, KIND, PLURAL, VERSION
from components.kube_client import new_api_client
from components.settings import Settings

_YAML_SUFFIXES = (".yaml", ".yml")
_REQUEST_TIMEOUT = (10, 60)  # (connect, read) seconds: a hung API server fails instead of hanging
PAGE_SIZE = 10_000
"""Bindings per list request. Why this many: every page after the first is read from etcd
rather than the API server's cache, so 5,000 bindings took 1.0 s in pages of 500 against 0.33 s
in one (a binding is about 1 kB, so a page stays around 10 MB)."""


class BindingSourceError(RuntimeError):
    """The bindings could not be read; the run must stop before anything is planned."""


@dataclass(frozen=True)
class SourcedManifest:
    """One candidate binding manifest and where it was read (for error messages)."""

    origin: str
    manifest: Any


class BindingSource(Protocol):
    def describe(self) -> str:
        """Human-readable origin, for the run log."""
        ...

    def load(self) -> list[SourcedManifest]:
        """Every candidate binding manifest, or raise :class:`BindingSourceError`."""
        ...


class ClusterBindingSource:
    """Lists AnalyticsWorkspaceBinding objects, in one namespace or all, page by page."""

    def __init__(
        self,
        namespace: str = "",
        api_client_factory: Callable[[], client.ApiClient] | None = None,
        page_size: int = PAGE_SIZE,
    ) -> None:
        self._namespace = namespace
        self._factory = api_client_factory or new_api_client
        self._page_size = page_size

    def describe(self) -> str:
        scope = f"namespace {self._namespace}" if self._namespace else "all namespaces"
        return f"{PLURAL}.{GROUP} in {scope}"

    def load(self) -> list[SourcedManifest]:
        try:
            return [SourcedManifest("", item) for item in self._list()]
        except ApiException as error:
            raise BindingSourceError(self._explain(error)) from error
        except (urllib3.exceptions.HTTPError, OSError, ConfigException) as error:
            raise BindingSourceError(
                f"cannot reach the Kubernetes API to list {self.describe()}: {error}"
            ) from error

    def _list(self) -> Iterator[Any]:
        api = client.CustomObjectsApi(self._factory())
        token: str | None = None
        while True:
            options: dict[str, Any] = {
                "limit": self._page_size,
                "_request_timeout": _REQUEST_TIMEOUT,
            }
            if token:
                options["_continue"] = token
            if self._namespace:
                page = api.list_namespaced_custom_object(
                    GROUP, VERSION, self._namespace, PLURAL, **options
                )
            else:
                page = api.list_cluster_custom_object(GROUP, VERSION, PLURAL, **options)
            yield from page.get("items") or []
            token = (page.get("metadata") or {}).get("continue")
            if not token:
                return

    def _explain(self, error: ApiException) -> str:
        what = f"cannot list {self.describe()}"
        if error.status == 404:
            return f"{what}: not found (is the CRD {PLURAL}.{GROUP} installed" + (
                f" and does namespace {self._namespace} exist?)" if self._namespace else "?)"
            )
        if error.status in (401, 403):
            return f"{what}: {error.reason} (the identity in use needs list on {PLURAL}.{GROUP})"
        return f"{what}: HTTP {error.status} {error.reason}"


class FileBindingSource:
    """Reads binding manifests from one YAML file or every *.yaml/*.yml under a directory."""

    def __init__(self, path: Path) -> None:
        self._path = path

    def describe(self) -> str:
        return f"manifests in {self._path}"

    def load(self) -> list[SourcedManifest]:
        if not self._path.exists():
            raise BindingSourceError(f"bindings file {self._path} does not exist")
        files = (
            [self._path]
            if self._path.is_file()
            else sorted(
                path
                for path in self._path.rglob("*")
                if path.suffix in _YAML_SUFFIXES and path.is_file()
            )
        )
        found: list[SourcedManifest] = []
        for path in files:
            found += manifests_in_yaml(_read(path), str(path))
        return found


def _read(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        raise BindingSourceError(f"cannot read bindings file {path}: {error}") from error


def manifests_in_yaml(text: str, name: str) -> list[SourcedManifest]:
    """The candidate bindings in one multi-document YAML text.

    Kept: documents of kind AnalyticsWorkspaceBinding (any apiVersion, so a wrong one is
    reported), items of any ``*List`` document, and documents with no kind at all (most likely a
    broken binding, which must be reported rather than silently dropped). Other kinds, such as
    AnalyticsWorkspace objects kept in the same GitOps folder, are ignored.
    """
    try:
        documents = yaml_text.load_all(text)
    except yaml.YAMLError as error:
        raise BindingSourceError(f"{name} is not valid YAML: {error}") from error
    found: list[SourcedManifest] = []
    for index, document in enumerate(documents, start=1):
        origin = f"{name}#{index}"
        if document is None:
            continue
        if isinstance(document, Mapping) and str(document.get("kind", "")).endswith("List"):
            items = document.get("items") or []
            if not isinstance(items, list):
                raise BindingSourceError(f"{origin}: items of a {document['kind']} must be a list")
            found += [
                SourcedManifest(f"{origin}.items[{position}]", item)
                for position, item in enumerate(items)
                if _is_candidate(item)
            ]
        elif _is_candidate(document):
            found.append(SourcedManifest(origin, document))
    return found


def _is_candidate(document: Any) -> bool:
    return not isinstance(document, Mapping) or document.get("kind") in (None, KIND)


def make_source(settings: Settings) -> BindingSource:
    """The source the stack configuration asks for."""
    if settings.bindings_source == "file":
        return FileBindingSource(Path(settings.bindings_file))
    kubeconfig = settings.kubeconfig or None
    return ClusterBindingSource(
        namespace=settings.bindings_namespace,
        api_client_factory=lambda: new_api_client(kubeconfig),
    )
