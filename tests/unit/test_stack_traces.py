"""The stack trace stored per resource keeps the program's frames and drops the rest."""

from __future__ import annotations

import traceback

from pulumi.runtime import resource

import components
from components.stack_traces import PROGRAM_DIR, program_frame


class _Resource:
    """The SDK finds the declaring code three ``__init__`` frames up, as with a real resource."""

    def __init__(self) -> None:
        self.trace = resource._get_stack_trace()
        self.sdk_trace = resource._get_stack_trace.sdk_capture()  # type: ignore[attr-defined]
        self.raw = traceback.extract_stack()


class _Kind(_Resource):
    def __init__(self) -> None:
        super().__init__()


class _Concrete(_Kind):
    def __init__(self) -> None:
        super().__init__()


def _declare() -> _Concrete:
    return _Concrete()


def test_only_program_frames_are_recorded_and_the_declaring_line_comes_first() -> None:
    declared = _declare()
    uris = [frame.pc.uri for frame in declared.trace.frames]
    assert uris, "the declaring frames must stay"
    assert all(uri.startswith(PROGRAM_DIR.as_uri() + "/") for uri in uris)
    assert not any("site-packages" in uri for uri in uris)
    assert uris[0].endswith("/tests/unit/test_stack_traces.py")
    assert declared.trace.frames[0].pc.line == _declare.__code__.co_firstlineno + 1
    # The interpreter stack held far more (pytest, pluggy, the runner): those are gone.
    assert len(declared.raw) > len(uris) + 10


def test_the_frames_kept_are_the_sdks_own_choice_narrowed_to_the_program() -> None:
    declared = _declare()
    program_uri = PROGRAM_DIR.as_uri() + "/"
    expected = [
        (frame.pc.uri, frame.pc.line)
        for frame in declared.sdk_trace.frames
        if program_frame(frame.pc.uri, program_uri)
    ]
    assert expected
    assert [(frame.pc.uri, frame.pc.line) for frame in declared.trace.frames] == expected


def test_fewer_than_three_constructors_record_nothing() -> None:
    assert resource._get_stack_trace().frames == []


def test_program_frame_excludes_the_virtualenv_and_other_directories() -> None:
    program = "file:///srv/awms/"
    assert program_frame("file:///srv/awms/components/program.py", program)
    assert not program_frame("file:///srv/awms/.venv/lib/python3.11/site-packages/x.py", program)
    assert not program_frame("file:///root/.pyenv/versions/3.11.7/lib/asyncio/events.py", program)
    assert not program_frame("file:///srv/awms-other/x.py", program)


def test_installing_twice_wraps_once() -> None:
    installed = resource._get_stack_trace
    components.stack_traces.install()
    assert resource._get_stack_trace is installed
