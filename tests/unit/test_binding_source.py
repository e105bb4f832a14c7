"""Binding sources: files are parsed leniently per binding, unreadable sources fail loudly."""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlparse

import pytest
import yaml
from kubernetes import client

from components.binding_source import (
    BindingSourceError,
    ClusterBindingSource,
    FileBindingSource,
    make_source,
    manifests_in_yaml,
)
from components.settings import settings_from_values
from tests.factories import manifest


def _yaml(*documents: Any) -> str:
    return yaml.safe_dump_all(documents, sort_keys=False)


def test_multi_document_file(tmp_path: Path):
    path = tmp_path / "bindings.yaml"
    path.write_text(
        _yaml(
            manifest("a"),
            {"apiVersion": "xlscsde.nhs.uk/v1", "kind": "AnalyticsWorkspace", "metadata": {}},
            None,
            manifest("b"),
        )
    )
    loaded = FileBindingSource(path).load()
    assert [(m.origin, m.manifest["metadata"]["name"]) for m in loaded] == [
        (f"{path}#1", "a"),
        (f"{path}#4", "b"),
    ]


def test_list_documents_and_directories(tmp_path: Path):
    (tmp_path / "team-a").mkdir()
    (tmp_path / "team-a" / "list.yml").write_text(
        _yaml({"apiVersion": "v1", "kind": "List", "items": [manifest("x"), manifest("y")]})
    )
    (tmp_path / "one.yaml").write_text(_yaml(manifest("z")))
    (tmp_path / "notes.txt").write_text("not yaml: [")
    names = [m.manifest["metadata"]["name"] for m in FileBindingSource(tmp_path).load()]
    assert names == ["z", "x", "y"]


def test_documents_without_kind_are_kept_so_they_get_reported():
    loaded = manifests_in_yaml("metadata: {name: typo}\n---\n- just\n- a list\n", "f.yaml")
    assert [m.origin for m in loaded] == ["f.yaml#1", "f.yaml#2"]


def test_yaml_syntax_error_fails_the_run(tmp_path: Path):
    path = tmp_path / "broken.yaml"
    path.write_text("kind: AnalyticsWorkspaceBinding\nspec: [unclosed\n")
    with pytest.raises(BindingSourceError, match=r"broken\.yaml is not valid YAML"):
        FileBindingSource(path).load()


def test_missing_file_fails_the_run(tmp_path: Path):
    with pytest.raises(BindingSourceError, match="does not exist"):
        FileBindingSource(tmp_path / "nope.yaml").load()


def test_make_source_follows_settings(tmp_path: Path):
    file_source = make_source(
        settings_from_values({"bindingsSource": "file", "bindingsFile": str(tmp_path)})
    )
    assert isinstance(file_source, FileBindingSource)
    cluster = make_source(settings_from_values({"bindingsNamespace": "jupyterhub"}))
    assert isinstance(cluster, ClusterBindingSource)
    assert cluster.describe() == "analyticsworkspacebindings.xlscsde.nhs.uk in namespace jupyterhub"


class _FakeApiServer:
    """A tiny stand-in for kube-apiserver's list endpoint, with pagination and failures."""

    def __init__(self, items: list[dict[str, Any]], status: int = 200) -> None:
        self.items = items
        self.status = status
        self.paths: list[str] = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                outer.paths.append(self.path)
                url = urlparse(self.path)
                query = parse_qs(url.query)
                if outer.status != 200:
                    self._send(outer.status, {"kind": "Status", "code": outer.status})
                    return
                start = int(query.get("continue", ["0"])[0])
                limit = int(query["limit"][0])
                page = outer.items[start : start + limit]
                more = start + limit < len(outer.items)
                meta = {"continue": str(start + limit)} if more else {}
                self._send(
                    200, {"kind": "AnalyticsWorkspaceBindingList", "items": page, "metadata": meta}
                )

            def _send(self, code: int, body: dict[str, Any]) -> None:
                data = json.dumps(body).encode()
                self.send_response(code)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = HTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        )

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"


@pytest.fixture
def api_server() -> Iterator[_FakeApiServer]:
    server = _FakeApiServer([manifest(f"b{i}") for i in range(5)])
    server.thread.start()
    yield server
    server.server.shutdown()


def _client_for(url: str) -> client.ApiClient:
    configuration = client.Configuration()
    configuration.host = url
    return client.ApiClient(configuration)


def test_cluster_source_pages_through_all_namespaces(api_server: _FakeApiServer):
    source = ClusterBindingSource(
        api_client_factory=lambda: _client_for(api_server.url), page_size=2
    )
    loaded = source.load()
    assert [m.manifest["metadata"]["name"] for m in loaded] == [f"b{i}" for i in range(5)]
    assert len(api_server.paths) == 3
    assert all(
        p.startswith("/apis/xlscsde.nhs.uk/v1/analyticsworkspacebindings?")
        for p in api_server.paths
    )


def test_cluster_source_lists_one_namespace(api_server: _FakeApiServer):
    source = ClusterBindingSource("jupyterhub", lambda: _client_for(api_server.url))
    assert len(source.load()) == 5
    assert api_server.paths[0].startswith(
        "/apis/xlscsde.nhs.uk/v1/namespaces/jupyterhub/analyticsworkspacebindings?"
    )


@pytest.mark.parametrize(
    ("status", "message"),
    [
        (404, "is the CRD analyticsworkspacebindings.xlscsde.nhs.uk installed"),
        (403, "needs list on analyticsworkspacebindings.xlscsde.nhs.uk"),
        (500, "HTTP 500"),
    ],
)
def test_cluster_api_errors_fail_the_run(api_server: _FakeApiServer, status: int, message: str):
    api_server.status = status
    source = ClusterBindingSource(api_client_factory=lambda: _client_for(api_server.url))
    with pytest.raises(BindingSourceError, match=message):
        source.load()


def test_dead_api_server_fails_the_run_instead_of_returning_nothing():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    source = ClusterBindingSource(
        api_client_factory=lambda: _client_for(f"http://127.0.0.1:{port}")
    )
    with pytest.raises(BindingSourceError, match="cannot reach the Kubernetes API"):
        source.load()


def test_unusable_kubeconfig_fails_the_run(tmp_path: Path):
    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text("apiVersion: v1\nkind: Config\nclusters: []\ncontexts: []\n")
    source = make_source(settings_from_values({"kubeconfig": str(kubeconfig)}))
    with pytest.raises(BindingSourceError, match="cannot reach the Kubernetes API"):
        source.load()
