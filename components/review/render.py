"""Render an :class:`AccessSummary` for a terminal or a job log, and as a merge-request comment.

Both renderings lead with the access lines (granted, revoked, changed, refused), then settings
changes, then the engine's counts. Every value that comes from a binding goes through
:func:`components.review.escape.inert`; dates, counts and the program's own words do not need to.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

from components.review.engine import EngineChanges, SettingChange
from components.review.escape import inert
from components.review.summary import AccessSummary, Cause, Reason

_TRUSTED_REASONS = (Reason.DELETED, Reason.EXPIRED, Reason.UNRECORDED)
_OPS = ("create", "update", "replace", "delete")


def headline(summary: AccessSummary) -> str:
    """``1 granted, 1 revoked`` or ``no access change``."""
    counts = [
        (len(summary.granted), "granted"),
        (len(summary.revoked), "revoked"),
        (len(summary.changed), "changed"),
        (len(summary.refused), "refused"),
    ]
    parts = [f"{n} {label}" for n, label in counts if n]
    return ", ".join(parts) if parts else "no access change"


def settings_line(engine: EngineChanges | None, show: Callable[[str], str]) -> str:
    """``2 Deployments updated: image a → b``, per kind; empty when no setting changes."""
    if engine is None:
        return ""
    lines: list[str] = []
    for kind, updated in engine.updated.items():
        fields = [_field(c, updated, show) for c in engine.settings if c.kind == kind]
        lines.append(f"{_plural(updated, kind)} updated: {', '.join(fields)}")
    return "; ".join(lines)


def counts_line(engine: EngineChanges | None) -> str:
    """``Kubernetes objects: 4 to create, 1 to delete; Guacamole rows: 2 to create``."""
    if engine is None:
        return ""
    parts = []
    for category, ops in engine.counts.items():
        steps = [f"{ops[op]} to {op}" for op in _OPS if ops.get(op)]
        if steps:
            parts.append(f"{category}: {', '.join(steps)}")
    return "; ".join(parts) or "no changes"


def render_text(summary: AccessSummary, stack: str) -> str:
    """Plain lines for a terminal or a job log; nothing in them can move the cursor."""
    settings = settings_line(summary.engine, inert)
    head = headline(summary)
    if settings and not summary.access_changed:
        head += f"; {settings}"
    lines = [f"Access review of stack {inert(stack)}: {head}"]
    for g in summary.granted:
        for b in g.bindings:
            lines.append(
                f"  granted  {_who(g.username, g.workspace)}  until {b.expires.isoformat()}"
                f"  (binding {inert(b.binding)})"
            )
    for r in summary.revoked:
        for cause in r.causes:
            lines.append(f"  revoked  {_who(r.username, r.workspace)}  ({_cause_text(cause)})")
    for c in summary.changed:
        binding = f" (binding {inert(c.binding)})" if c.binding else ""
        change = f"{c.old} → {c.new}" if c.old else c.new
        lines.append(f"  changed  {_who(c.username, c.workspace)}  {c.what} {change}{binding}")
    for refused in summary.refused:
        field = f"{inert(refused.field)}: " if refused.field else ""
        lines.append(
            f"  refused  binding {inert(refused.binding)}  "
            f"{field}{inert(refused.reason, quote=False)}"
        )
    if settings and summary.access_changed:
        lines.append(f"  settings {settings}")
    if summary.engine is not None:
        lines.append(f"Engine: {counts_line(summary.engine)}")
    return "\n".join(lines) + "\n"


def render_markdown(summary: AccessSummary, stack: str) -> str:
    """A merge-request comment: a headline, one table row per access line, then the counts."""
    code = _code
    settings = settings_line(summary.engine, code)
    head = headline(summary)
    head = head[0].upper() + head[1:]
    out = [f"#### Access review: stack {code(stack)}", ""]
    out.append(f"**{head}**" + (f"; {settings}" if settings and not summary.access_changed else ""))
    rows = list(_rows(summary))
    if rows:
        out += ["", "| Access | User | Workspace | Binding | Detail |", "|---|---|---|---|---|"]
        out += ["| " + " | ".join(row) + " |" for row in rows]
    if settings and summary.access_changed:
        out += ["", f"Settings: {settings}"]
    if summary.engine is not None:
        out += ["", f"Engine: {counts_line(summary.engine)}"]
    return "\n".join(out) + "\n"


def _rows(summary: AccessSummary) -> Iterator[tuple[str, ...]]:
    code = _code
    for g in summary.granted:
        for b in g.bindings:
            yield ("granted", code(g.username), code(g.workspace), code(b.binding),
                   f"until {b.expires.isoformat()}")  # fmt: skip
    for r in summary.revoked:
        for cause in r.causes:
            detail = cause.detail if cause.reason in _TRUSTED_REASONS else code(cause.detail)
            binding = code(cause.binding) if cause.binding else ""
            yield "revoked", code(r.username), code(r.workspace), binding, detail
    for c in summary.changed:
        binding = code(c.binding) if c.binding else ""
        change = f"{c.old} → {c.new}" if c.old else c.new
        yield "changed", code(c.username), code(c.workspace), binding, f"{c.what} {change}"
    for refused in summary.refused:
        field = f"{code(refused.field)}: " if refused.field else ""
        yield "refused", "", "", code(refused.binding), field + code(refused.reason)


def _code(value: str) -> str:
    return inert(value, markdown=True)


def _who(username: str, workspace: str) -> str:
    return f"{inert(username)}  workspace {inert(workspace)}"


def _cause_text(cause: Cause) -> str:
    binding = f"binding {inert(cause.binding)} " if cause.binding else ""
    if cause.reason in _TRUSTED_REASONS:
        detail = cause.detail.removeprefix("binding ")
        return f"{binding}{detail}"
    return f"{binding}{cause.reason}: {inert(cause.detail, quote=False)}"


def _field(change: SettingChange, updated: int, show: Callable[[str], str]) -> str:
    share = f" (on {change.count})" if change.count < updated else ""
    return f"{show(change.field)} {show(change.old)} → {show(change.new)}{share}"


def _plural(count: int, noun: str) -> str:
    return f"{count} {noun}" + ("" if count == 1 else "s")
