"""A random password generated once, kept in Pulumi state as a secret, never regenerated.

The legacy platform used VNC password ``1234`` everywhere (image default and Guacamole row).
Each browser workspace now gets its own password, shared by the Kubernetes Secret the VNC server
reads and the Guacamole connection parameter guacd sends. It must be identical on both sides and
stable across runs, so it is made by a provider (generated in ``create`` only; ``diff`` never
reports a change) rather than in the program, which would produce a new value on every run.

To rotate a password on purpose: ``pulumi up --replace <urn of the GeneratedPassword>``; the
Secret, the Guacamole connection and, through the password digest in the pod template, a running
browser all follow. A run killed before its state was saved (``PULUMI_SKIP_CHECKPOINTS``) has
the same effect on the next run: a new password, written to both sides, the pod restarted.

Note: classic VNC authentication only uses the first 8 characters of a password; the
NetworkPolicy that admits only guacd to port 5900 is the real boundary, the password a second one.
The provider class lives in this importable module so dill pickles it by reference, not by value.
"""

from __future__ import annotations

import secrets
import uuid
from typing import Any

import pulumi
from pulumi.dynamic import CheckFailure, CheckResult, CreateResult, DiffResult, ResourceProvider

DEFAULT_BYTES = 24
"""Random bytes per password; ``token_urlsafe`` turns 24 bytes into 32 URL-safe characters."""


class GeneratedPasswordProvider(ResourceProvider):
    """Generates in ``create``; nothing else ever touches the value."""

    serialize_as_secret_always = False  # the provider holds no state; the output is secret

    def check(self, _olds: dict[str, Any], news: dict[str, Any]) -> CheckResult:
        size = news.get("bytes")
        if isinstance(size, float) and size.is_integer():
            size = int(size)
        if not isinstance(size, int) or isinstance(size, bool) or not 8 <= size <= 256:
            return CheckResult(news, [CheckFailure("bytes", "must be an integer in 8..256")])
        return CheckResult({**news, "bytes": size}, [])

    def create(self, props: dict[str, Any]) -> CreateResult:
        size = int(props["bytes"])
        return CreateResult(
            id_=uuid.uuid4().hex,
            outs={"bytes": size, "password": secrets.token_urlsafe(size)},
        )

    def diff(self, _id: str, _olds: dict[str, Any], _news: dict[str, Any]) -> DiffResult:
        # Never an update, never a replacement: the value lives as long as the resource.
        return DiffResult(changes=False, replaces=[], stables=["password"])


class GeneratedPassword(pulumi.dynamic.Resource, module="awms", name="GeneratedPassword"):
    """``password`` is a secret output, generated on first create and then kept."""

    password: pulumi.Output[str]

    def __init__(
        self,
        resource_name: str,
        *,
        random_bytes: int = DEFAULT_BYTES,
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        opts = pulumi.ResourceOptions.merge(
            opts, pulumi.ResourceOptions(additional_secret_outputs=["password"])
        )
        super().__init__(
            GeneratedPasswordProvider(),
            resource_name,
            {"bytes": random_bytes, "password": None},
            opts,
        )
