"""Build a Kubernetes API client the same way everywhere the program talks to the API server.

The bindings source (in the program process) and the status writer (in the dynamic-provider
process) must reach the same cluster as the kubernetes provider that creates the browser objects,
so all three resolve the kubeconfig with one rule: the ``kubeconfig`` setting, then
``$KUBECONFIG``, then the in-cluster service account, then ``~/.kube/config``. Clients are never
pickled into Pulumi state; callers build one when they need it.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import TYPE_CHECKING

from components.lazy_import import LazyModule

if TYPE_CHECKING:
    from kubernetes import client as client  # re-exported to every module that calls the API
    from kubernetes import config
else:  # loaded at first use (components.lazy_import)
    client = LazyModule("kubernetes.client")
    config = LazyModule("kubernetes.config")


def new_api_client(
    kubeconfig: str | None = None, environ: Mapping[str, str] | None = None
) -> client.ApiClient:
    """A fresh ``ApiClient``; touches no process-global kubernetes configuration."""
    environ = os.environ if environ is None else environ
    path = kubeconfig or environ.get("KUBECONFIG") or None
    if path is None and environ.get("KUBERNETES_SERVICE_HOST"):
        configuration = client.Configuration()
        config.load_incluster_config(client_configuration=configuration)
        return client.ApiClient(configuration)
    return config.new_client_from_config(config_file=path)
