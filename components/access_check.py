"""Refuse an update before its first write when the identity may not finish it.

Why: an update writes to two systems. Run with an identity that may only read Kubernetes (the
review pipeline's, say), the engine would create Guacamole rows and generated passwords first
and then fail on the first Kubernetes object, leaving half a change behind. Asking the API
server up front (``SelfSubjectAccessReview``, which every authenticated identity may create)
whether this identity may make every kind of write an update can need turns that into a clean
refusal naming what is missing, with nothing written anywhere. A preview skips the check: it
writes nothing, and a read-only identity is exactly what a review should run with.

When the API server cannot answer at all (down, unreachable, 5xx), the check gives way with a
warning instead of stopping the run: the update cannot write Kubernetes objects then either, but
it can still revoke Guacamole access of removed bindings, and revocation comes first.

The list of writes is pure data derived from the settings; the review calls are the I/O edge.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

import pulumi
from kubernetes import client
from kubernetes.client.exceptions import ApiException
from urllib3.exceptions import HTTPError

from components.settings import Settings

#: The kinds the program declares in the browser namespace: (API group, resource).
BROWSER_OBJECTS: tuple[tuple[str, str], ...] = (
    ("apps", "deployments"),
    ("", "services"),
    ("", "secrets"),
    ("networking.k8s.io", "networkpolicies"),
)
#: The Firefox policy ConfigMap, when the stack declares it (``declareFirefoxPolicy``).
POLICY_OBJECT = ("", "configmaps")
#: What an update does to them: server-side apply is a patch (create when absent), and
#: removing a binding deletes them.
OBJECT_VERBS: tuple[str, ...] = ("create", "patch", "delete")
BINDING_GROUP = "xlscsde.nhs.uk"
BINDINGS = "analyticsworkspacebindings"


class AccessDeniedError(pulumi.RunError):
    """The identity lacks permissions an update needs; nothing has been written.

    A ``RunError`` so the CLI prints the message alone, without a Python traceback.
    """


@dataclass(frozen=True)
class Permission:
    """One verb on one resource (subresource) in one namespace ("" = every namespace)."""

    verb: str
    group: str
    resource: str
    namespace: str
    subresource: str = ""

    def describe(self) -> str:
        kind = f"{self.group}/{self.resource}" if self.group else self.resource
        if self.subresource:
            kind += f"/{self.subresource}"
        where = f"namespace {self.namespace}" if self.namespace else "every namespace"
        return f"{self.verb} {kind} in {where}"


def required_writes(settings: Settings) -> list[Permission]:
    """Every kind of write an update of this stack may make in Kubernetes."""
    needed = [
        Permission(verb, group, resource, settings.namespace)
        for group, resource in (
            *BROWSER_OBJECTS,
            *((POLICY_OBJECT,) if settings.declare_firefox_policy else ()),
        )
        for verb in OBJECT_VERBS
    ]
    if settings.write_binding_status and settings.bindings_source == "cluster":
        needed.append(
            Permission("patch", BINDING_GROUP, BINDINGS, settings.bindings_namespace, "status")
        )
    return needed


Reviewer = Callable[[Permission], bool]


def missing(permissions: Iterable[Permission], allowed: Reviewer) -> list[Permission]:
    """The permissions the reviewer says this identity does not hold, in order."""
    return [permission for permission in permissions if not allowed(permission)]


def api_reviewer(api_client: client.ApiClient) -> Reviewer:
    """Ask the API server, one ``SelfSubjectAccessReview`` per permission."""
    authorization = client.AuthorizationV1Api(api_client)

    def allowed(permission: Permission) -> bool:
        review = client.V1SelfSubjectAccessReview(
            spec=client.V1SelfSubjectAccessReviewSpec(
                resource_attributes=client.V1ResourceAttributes(
                    verb=permission.verb,
                    group=permission.group,
                    resource=permission.resource,
                    subresource=permission.subresource or None,
                    namespace=permission.namespace or None,
                )
            )
        )
        answer = authorization.create_self_subject_access_review(review)
        return bool(answer.status and answer.status.allowed)

    return allowed


def identity(api_client: client.ApiClient) -> str:
    """Who the API server takes us for (for the message); "this identity" if it will not say."""
    try:
        review = client.AuthenticationV1Api(api_client).create_self_subject_review(
            client.V1SelfSubjectReview()
        )
    except ApiException:
        return "this identity"
    user = review.status.user_info if review.status else None
    return str(user.username) if user and user.username else "this identity"


def refusal(who: str, absent: Sequence[Permission]) -> str:
    """The error an update stops with: who, and every permission it lacks."""
    lines = "\n".join(f"  - {permission.describe()}" for permission in absent)
    return (
        f"{who} may not make the writes this update needs, so it stopped before writing "
        f"anything (Kubernetes or Guacamole):\n{lines}\n"
        "Run `up` with the pipeline or watcher identity (deploy/rbac.yaml); a review identity "
        "can only run `preview`."
    )


def unanswered(error: Exception) -> bool:
    """The API server gave no verdict (unreachable or failing), as opposed to a refusal."""
    if isinstance(error, ApiException):
        return not error.status or error.status >= 500
    return isinstance(error, (HTTPError, OSError))


def require_write_access(
    settings: Settings,
    api_client: client.ApiClient,
    reviewer: Reviewer | None = None,
) -> None:
    """Raise :class:`AccessDeniedError` unless every write an update may make is allowed.

    Without a verdict (API server down) it only warns: see the module docstring.
    """
    try:
        absent = missing(required_writes(settings), reviewer or api_reviewer(api_client))
    except (ApiException, HTTPError, OSError) as error:
        if not unanswered(error):
            raise
        pulumi.log.warn(
            "could not check this identity's write access (the Kubernetes API server did not "
            f"answer: {type(error).__name__}); going on so that Guacamole revocations still "
            "happen"
        )
        return
    if absent:
        raise AccessDeniedError(refusal(identity(api_client), absent))
