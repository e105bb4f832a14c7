"""One family's field rules: how its values are validated, and what counts as not known yet.

Why a bundle: a provider's ``check()``, ``diff()`` and ``create``/``update`` must all use the
same validator and the same notion of "unknown"; holding both in one object that the provider
base class (``provider_base``) reads keeps the three calls from disagreeing.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from .diffing import Diff, compute_diff
from .inputs import Field, Problem, UnknownTest, Validator, check_fields, require_fields


@dataclass(frozen=True)
class FieldRules:
    """``validate`` normalises one known value; ``unknown`` spots values known only later."""

    validate: Validator
    unknown: UnknownTest

    def check(
        self, fields: Iterable[Field[Any]], news: Mapping[str, Any]
    ) -> tuple[dict[str, Any], list[Problem]]:
        """Normalised inputs and every problem found (for ``check()``)."""
        return check_fields(fields, news, self.validate, self.unknown)

    def require(self, fields: Iterable[Field[Any]], props: Mapping[str, Any]) -> dict[str, Any]:
        """Normalised inputs, or ``ValueError`` naming every problem (for create/update)."""
        return require_fields(fields, props, self.validate, self.unknown)

    def diff(
        self,
        fields: Iterable[Field[Any]],
        olds: Mapping[str, Any],
        news: Mapping[str, Any],
        *,
        healthy_flags: Sequence[str] = (),
        drift_lists: Sequence[str] = (),
    ) -> Diff:
        """The exact, database-free diff (see ``diffing.compute_diff``)."""
        return compute_diff(
            fields,
            olds,
            news,
            healthy_flags=healthy_flags,
            drift_lists=drift_lists,
            unknown=self.unknown,
        )
