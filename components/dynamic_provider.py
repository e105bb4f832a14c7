"""Plumbing every dynamic provider of this program shares: nothing but the class is pickled.

Why: the Pulumi engine stores each dynamic provider in the stack state as a dill pickle (the
``__provider`` property) and unpickles it in a fresh provider host. Our providers are pickled
*by reference* to their module and class name, with an empty instance state, so

* no credential, DSN, kubeconfig path, client or lock that ``configure()`` sets up ever reaches
  the state (it is re-created from stack config in ``configure()``);
* the pickle stays byte-identical across code changes that keep the concrete class's module and
  name, so existing stacks do not see a spurious provider change.

Because nothing secret is captured, the ``__provider`` property need not be forced secret.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pulumi.dynamic import ResourceProvider
from pulumi.output import Unknown
from pulumi.runtime import rpc


def is_unknown(value: Any) -> bool:
    """True for a value that is not known yet: during a preview, or when the engine re-diffs
    a resource whose inputs depend on outputs it is about to change."""
    return isinstance(value, Unknown) or value == rpc.UNKNOWN


def contains_unknown(value: Any) -> bool:
    """``is_unknown`` for a value or anything nested in it (lists, tuples, mappings)."""
    if isinstance(value, Mapping):
        return any(contains_unknown(item) for item in value.values())
    if isinstance(value, list | tuple):
        return any(contains_unknown(item) for item in value)
    return is_unknown(value)


class StatelessProvider(ResourceProvider):
    """A ``ResourceProvider`` whose pickle carries no instance state (see module docstring)."""

    serialize_as_secret_always = False  # nothing secret is ever captured

    def __getstate__(self) -> dict[str, Any]:
        """Pickle nothing ``configure()`` added: it is re-read from stack config."""
        return {}

    def __setstate__(self, state: Mapping[str, Any]) -> None:
        del state  # deliberately empty: configuration is re-read in configure()
