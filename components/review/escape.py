"""Make untrusted binding text (workspace, username, binding names, reasons) inert for display.

Binding manifests are written by people outside the platform team, and their text reaches two
places where it could do harm: a terminal (control sequences, bidi overrides that reorder what a
reviewer reads) and a merge-request comment (Markdown or HTML that fakes a row of the access table
or mentions somebody). :func:`inert` defuses both: the characters through
:func:`components.inert.escape` (the project's one definition of unsafe), the Markdown here.
"""

from __future__ import annotations

import re

from components.inert import escape

_PLAIN = re.compile(r"^[\w.@+\-/:]+$")


def inert(value: str, *, markdown: bool = False, quote: bool = True) -> str:
    r"""``value`` with every unsafe character shown as an escape (``\n``, ``\u202e``).

    Terminal (default): the escaped text; with ``quote``, single-quoted when it holds anything
    but word characters and ``.@+-/:``, so a username with spaces cannot pose as more of the line
    (free text such as a validation message is passed with ``quote=False``).
    Markdown: an inline code span that is safe inside a table cell: nothing in it is parsed as
    Markdown, HTML or a mention, and ``|`` is escaped so it cannot split the cell.
    """
    shown = escape(value)
    if not markdown:
        if not quote or _PLAIN.match(shown):
            return shown
        return "'" + shown.replace("'", "\\'") + "'"
    if not shown:
        return "(empty)"
    longest = max((len(run) for run in re.findall(r"`+", shown)), default=0)
    fence = "`" * (longest + 1)
    padded = f" {shown} " if shown.startswith("`") or shown.endswith("`") else shown
    return fence + padded.replace("|", "\\|") + fence
