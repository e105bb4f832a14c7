"""The base class of every SQL-backed dynamic provider: one connection handle, check and diff.

Why shared: the Guacamole row providers and the database-bootstrap providers follow the same
rules (see ``providers`` and ``dbadmin.providers``), and those rules live here once:

* the connection handle (a pooled ``Database`` or an ``AdminSession``) is built in
  ``configure()`` from stack config, or on first use from the environment, and never pickled
  (``StatelessProvider``);
* ``check()`` validates and normalises inputs and ``diff()`` compares them with the recorded
  outputs, both from the declared ``FIELDS`` and without touching the database, so a no-op
  ``pulumi up`` issues zero SQL.

Only base classes live here: the concrete providers stay in their modules because dill stores
them in the stack state by module and class name.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any, ClassVar, Generic, TypeVar

from pulumi.dynamic import CheckFailure, CheckResult, ConfigureRequest, DiffResult

from ..dynamic_provider import StatelessProvider
from .field_rules import FieldRules
from .inputs import Field

HandleT = TypeVar("HandleT")

ConfigGetter = Callable[[str], Any]
"""``ConfigureRequest.config.get``: a stack config value by key."""


class SqlProvider(StatelessProvider, Generic[HandleT]):
    """Shared plumbing: the connection handle, check and diff from declared fields.

    A family's base class sets ``RULES``, ``HANDLE_KEY`` and its own ``HANDLE_LOCK`` and
    implements ``_open`` and ``_missing``; each concrete provider declares ``FIELDS`` and,
    where ``read()`` reports drift the inputs cannot express, ``HEALTHY_FLAGS`` (boolean outputs
    that must be true) and ``DRIFT_LISTS`` (list outputs that must be empty).
    """

    RULES: ClassVar[FieldRules]
    HANDLE_KEY: ClassVar[str]  # the instance attribute holding the handle; never pickled
    HANDLE_LOCK: ClassVar[threading.Lock]  # serialises building it from the environment

    FIELDS: ClassVar[tuple[Field[Any], ...]] = ()
    HEALTHY_FLAGS: ClassVar[tuple[str, ...]] = ()
    DRIFT_LISTS: ClassVar[tuple[str, ...]] = ()

    # -- the connection handle -----------------------------------------------------------------
    def _open(self, config_get: ConfigGetter | None) -> HandleT | None:
        """The handle for the DSN in stack config (if given) or the environment; None if unset."""
        raise NotImplementedError

    def _missing(self) -> Exception:
        """The error raised when no DSN is configured anywhere."""
        raise NotImplementedError

    def configure(self, req: ConfigureRequest) -> None:
        """Read the DSN from stack config (secret) or the environment; connect lazily."""
        self.__dict__[self.HANDLE_KEY] = self._open(req.config.get)

    def _handle(self) -> HandleT:
        """The configured handle, else one built from the environment (for ``configure``-less
        engines and tests); up to four engine threads may ask at once."""
        handle: HandleT | None = self.__dict__.get(self.HANDLE_KEY)
        if handle is not None:
            return handle
        with self.HANDLE_LOCK:
            handle = self.__dict__.get(self.HANDLE_KEY)
            if handle is None:
                handle = self._open(None)
                if handle is None:
                    raise self._missing()
                self.__dict__[self.HANDLE_KEY] = handle
            return handle

    # -- engine hooks shared by all providers ----------------------------------------------------
    def check(self, _olds: dict[str, Any], news: dict[str, Any]) -> CheckResult:
        """Validate and normalise inputs; never touches the database."""
        inputs, problems = self.RULES.check(self.FIELDS, news)
        return CheckResult(inputs, [CheckFailure(p.field, p.reason) for p in problems])

    def diff(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> DiffResult:
        """Exact diff against the recorded outputs; never touches the database."""
        result = self.RULES.diff(
            self.FIELDS,
            olds,
            news,
            healthy_flags=self.HEALTHY_FLAGS,
            drift_lists=self.DRIFT_LISTS,
        )
        if not result.has_changes:
            return DiffResult(changes=False, replaces=[], delete_before_replace=False)
        return DiffResult(changes=True, replaces=list(result.replaces), delete_before_replace=False)

    def _require(self, props: dict[str, Any]) -> dict[str, Any]:
        """Validated inputs for create/update; ``ValueError`` naming every problem."""
        return self.RULES.require(self.FIELDS, props)
