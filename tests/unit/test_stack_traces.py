"""The stack trace stored per resource keeps one frame: the program line that declared it."""

from __future__ import annotations

import sys
import traceback
from pathlib import Path
from types import FrameType

from pulumi.runtime import resource

import components
from components.stack_traces import PROGRAM_DIR, declaring_line, program_frame


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


class _Subclass(_Concrete):
    """A component's own class over a resource class (``GuacamoleUser`` over the SDK's)."""

    def __init__(self) -> None:
        super().__init__()


def _declare() -> _Concrete:
    return _Concrete()


def _declare_subclass() -> _Subclass:
    return _Subclass()


def test_one_frame_is_recorded_the_declaring_line() -> None:
    declared = _declare()
    [frame] = declared.trace.frames
    assert frame.pc.uri == Path(__file__).resolve().as_uri()
    assert frame.pc.line == _declare.__code__.co_firstlineno + 1
    # The interpreter stack held far more (pytest, pluggy, the runner): those are gone.
    assert len(declared.raw) > 10


def test_the_line_is_the_sdks_first_program_frame() -> None:
    declared = _declare()
    program_uri = PROGRAM_DIR.as_uri() + "/"
    sdk_program_frames = [
        (frame.pc.uri, frame.pc.line)
        for frame in declared.sdk_trace.frames
        if program_frame(frame.pc.uri, program_uri)
    ]
    assert len(sdk_program_frames) > 1
    assert [(f.pc.uri, f.pc.line) for f in declared.trace.frames] == sdk_program_frames[:1]


def test_a_subclass_constructor_is_skipped_for_the_line_that_declared_the_object() -> None:
    declared = _declare_subclass()
    [frame] = declared.trace.frames
    assert frame.pc.line == _declare_subclass.__code__.co_firstlineno + 1
    # The SDK's own choice would name the subclass's ``super().__init__()`` line.
    assert declared.sdk_trace.frames[0].pc.line == _Subclass.__init__.__code__.co_firstlineno + 1


def test_frames_outside_the_program_give_no_line() -> None:
    frames: list[FrameType] = []
    frame: FrameType | None = sys._getframe()
    while frame is not None:
        frames.append(frame)
        frame = frame.f_back
    assert declaring_line(frames, PROGRAM_DIR.as_posix() + "/", PROGRAM_DIR.as_uri() + "/")
    assert declaring_line(frames, "/nowhere/", "file:///nowhere/") is None


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
