"""Make untrusted text (binding fields, names, file paths) safe to print.

A binding's workspace, username, name or comments reach run logs, stack outputs, binding
statuses and Kubernetes Events. Printed raw, a newline followed by ANSI escapes forges a log line
(``error: binding analytics/good-alice skipped: FORGED``) and a U+202E reorders what a reviewer
reads. Every character that can do that is shown as a visible escape instead:

* Unicode categories Cc (C0, DEL, C1 controls, U+0085 included), Cf (format: bidi controls,
  U+200B, U+FEFF, soft hyphen), Cs (lone surrogates), Zl and Zp (U+2028, U+2029);
* Cn and Co: an unassigned code point may be a format control in a newer Unicode than this
  Python's (U+13439 is one since Unicode 15) and a private-use one looks like whatever a font
  draws; Zs other than the ASCII space (U+00A0, U+3000), which print like a space but differ
  from it. Together: exactly what ``str.isprintable`` rejects;
* in :func:`escape` also the backslash, so two different inputs never print alike (the output
  reads back as a Python string literal body).

:func:`escape` is for raw values, applied once where the text is composed.
:func:`neutralise` is for text that may already hold escaped parts (an engine error relaying a
program message): it escapes only the unsafe characters, so applying it again changes nothing.
Everything here is pure.
"""

from __future__ import annotations

import unicodedata

UNSAFE_CATEGORIES = frozenset({"Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp", "Zs"})
"""Categories that move the cursor, break lines, reorder text, are invisible or look like
something else (the ASCII space, though in Zs, is safe)."""

_SHORT = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}
_ELLIPSIS = "..."


def is_unsafe(char: str) -> bool:
    """Whether one character could change how the surrounding text is displayed."""
    return char != " " and unicodedata.category(char) in UNSAFE_CATEGORIES


def unsafe_characters(text: str) -> list[str]:
    """The unsafe characters of ``text`` as ``U+XXXX``, in order (for an error message)."""
    return [f"U+{ord(char):04X}" for char in text if is_unsafe(char)]


def escape(value: object, limit: int | None = None) -> str:
    """``value`` as printable, injective text; cut at ``limit`` characters with ``...``."""
    return _render(str(value), limit, backslash=True)


def neutralise(value: object, limit: int | None = None) -> str:
    """``value`` with only the unsafe characters escaped (idempotent); cut like :func:`escape`."""
    return _render(str(value), limit, backslash=False)


def _render(text: str, limit: int | None, *, backslash: bool) -> str:
    pieces = [_piece(char, backslash) for char in text]
    if limit is None or sum(map(len, pieces)) <= limit:
        return "".join(pieces)
    # Cut between pieces, never inside an escape, so the tail stays unambiguous.
    budget = max(0, limit - len(_ELLIPSIS))
    kept: list[str] = []
    used = 0
    for piece in pieces:
        if used + len(piece) > budget:
            break
        kept.append(piece)
        used += len(piece)
    return "".join(kept) + _ELLIPSIS[: limit - used]


def _piece(char: str, backslash: bool) -> str:
    if char == "\\":
        return "\\\\" if backslash else char
    return _code(char) if is_unsafe(char) else char


def _code(char: str) -> str:
    if char in _SHORT:
        return _SHORT[char]
    point = ord(char)
    if point <= 0xFF:
        return f"\\x{point:02x}"
    if point <= 0xFFFF:
        return f"\\u{point:04x}"
    return f"\\U{point:08x}"
