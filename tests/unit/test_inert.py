"""Escaping untrusted text: nothing that moves the cursor or reorders text survives."""

from __future__ import annotations

import ast

import pytest
from hypothesis import given
from hypothesis import strategies as st

from components.inert import escape, neutralise, unsafe_characters

# Every code point, with the troublesome ones drawn often.
_NASTY = st.sampled_from(
    ["\n", "\r", "\t", "\x1b", "\x7f", "\x85", "\x9b", "\u200b", "\u202e", "\u2028", "\u2029",
     "\ufeff", "\\", "\\x1b", "\\n", "'", '"', "\ud800", "\U000e0001", "\U00013439",
     "\ue000", "\u00a0", "\u3000", " "]
)  # fmt: skip
_TEXT = st.lists(st.one_of(st.characters(), _NASTY), max_size=40).map("".join)


def _unsafe(text: str) -> list[str]:
    # Python's own notion of printable is the independent oracle.
    return [c for c in text if not c.isprintable()]


def _read_back(escaped: str) -> str:
    """The escaped text read as a Python string literal body (the inverse of ``escape``)."""
    value = ast.literal_eval('"' + escaped.replace('"', '\\"') + '"')
    assert isinstance(value, str)
    return value


@given(_TEXT)
def test_escaped_text_has_no_control_or_format_characters(text: str) -> None:
    assert _unsafe(escape(text)) == []
    assert _unsafe(neutralise(text)) == []
    assert "\n" not in escape(text) and "\x1b" not in neutralise(text)


@given(_TEXT)
def test_escape_is_injective(text: str) -> None:
    assert _read_back(escape(text)) == text


@given(_TEXT, _TEXT)
def test_different_values_print_differently(a: str, b: str) -> None:
    assert (escape(a) == escape(b)) == (a == b)


@given(_TEXT)
def test_neutralise_is_idempotent_and_leaves_escaped_text_alone(text: str) -> None:
    once = neutralise(text)
    assert neutralise(once) == once
    assert neutralise(escape(text)) == escape(text)


@given(_TEXT, st.integers(min_value=0, max_value=60))
def test_a_limit_cuts_between_escapes(text: str, limit: int) -> None:
    full = escape(text)
    cut = escape(text, limit)
    assert len(cut) <= limit
    if len(full) <= limit:
        assert cut == full
    else:
        kept = cut.rstrip(".")
        assert full.startswith(kept)
        _read_back(kept)  # never half an escape


def test_printable_text_is_unchanged() -> None:
    for text in ("jane.doe@example.org", "José Müller", "用户", "a b-c_d", "emoji 🙂"):
        assert escape(text) == text == neutralise(text)


@pytest.mark.parametrize(
    ("text", "shown"),
    [
        ("a\nb", "a\\nb"),
        ("\x1b[31mred", "\\x1b[31mred"),
        ("\x85", "\\x85"),
        ("\u202eevil", "\\u202eevil"),
        ("zero\u200bwidth", "zero\\u200bwidth"),
        ("tag\U000e0041", "tag\\U000e0041"),
        ("back\\slash", "back\\\\slash"),
    ],
)
def test_known_escapes(text: str, shown: str) -> None:
    assert escape(text) == shown


def test_unsafe_characters_are_named_by_code_point() -> None:
    assert unsafe_characters("a\n\x1b\u202eb") == ["U+000A", "U+001B", "U+202E"]
    assert unsafe_characters("plain") == []


def test_lookalike_spaces_and_unassigned_code_points_are_escaped() -> None:
    # U+13439 is unassigned before Unicode 15 and a format control since: both are unsafe.
    assert escape("a\u00a0b\u3000c\U00013439\ue000 d") == "a\\xa0b\\u3000c\\U00013439\\ue000 d"
    assert unsafe_characters("jane\u00a0doe") == ["U+00A0"]
