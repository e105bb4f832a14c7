"""Record one frame per resource: the program line that declared it.

The Python SDK (3.195 and later) sends the whole interpreter stack with every resource
registration, and the engine stores it in the state: the language host's entry point, asyncio's
event loop, the SDK's runner, ``runpy``, each with a path of up to 200 characters. That is about
1.7 kB per resource, some 15 kB per binding at nine resources each, or a third of a
1,000-binding stack's state. The file backend rewrites the whole state after every step, so each
byte per resource is paid once per step of every run: most of the engine's time in an ``up``
from empty or a ``destroy`` goes to writing checkpoints.

One frame says what a reader needs (which line declared the resource): the first frame of the
program outside the resource's own constructors, so a Guacamole user reads
``browser_workspace.py`` (where the binding's user is declared), not the ``super().__init__``
line of its class. The engine takes ``sourcePosition`` from that frame, and never diffs stack
traces, so a stack recorded before this shrinks on its next update without any change shown.

The frames are read straight from the interpreter, the way the SDK chooses them (everything
outside the third ``__init__`` up the stack), without the SDK's ``traceback.extract_stack``:
that reads the source line of every frame, a millisecond per resource.
"""

from __future__ import annotations

import sys
from pathlib import Path
from types import FrameType
from typing import Any

_INSTALLED_MARK = "_awms_program_frames_only"
PROGRAM_DIR = Path(__file__).resolve().parent.parent
"""Where ``__main__.py`` and ``components/`` live."""
_OUTSIDE_PROGRAM = ("/site-packages/", "/.venv/")


def program_frame(uri: str, program_uri: str) -> bool:
    """Whether a frame's ``file://`` URI is a file of the program (not its virtualenv)."""
    return uri.startswith(program_uri) and not any(part in uri for part in _OUTSIDE_PROGRAM)


def declaring_frames(innermost: FrameType | None) -> list[FrameType]:
    """The frames the SDK records for a resource: those outside the third ``__init__`` frame
    up from ``innermost`` (Resource, Custom/ComponentResource, the concrete class), innermost
    first, less the constructors of the same object further up (a subclass's ``__init__``
    calling ``super().__init__``); none when there are fewer than three."""
    inits = 0
    frame = innermost
    while frame is not None:
        if frame.f_code.co_name == "__init__":
            inits += 1
            if inits == 3:
                break
        frame = frame.f_back
    if frame is None:
        return []
    constructed = frame.f_locals.get("self")
    caller = frame.f_back
    while (
        caller is not None
        and caller.f_code.co_name == "__init__"
        and constructed is not None
        and caller.f_locals.get("self") is constructed
    ):
        caller = caller.f_back
    found: list[FrameType] = []
    while caller is not None:
        found.append(caller)
        caller = caller.f_back
    return found


def declaring_line(frames: list[FrameType], program_prefix: str, program_uri: str) -> Any:
    """The first of ``frames`` in the program, as the SDK's ``SourcePosition``; None if none."""
    from pulumi.runtime.proto import source_pb2

    for frame in frames:
        path = frame.f_code.co_filename
        if path.startswith(program_prefix) and program_frame(
            uri := Path(path).as_uri(), program_uri
        ):
            return source_pb2.SourcePosition(uri=uri, line=frame.f_lineno)
    return None


def install(program_dir: Path = PROGRAM_DIR) -> None:
    """Idempotently narrow the SDK's stack-trace capture to the declaring line."""
    from pulumi.runtime import resource
    from pulumi.runtime.proto import source_pb2

    current: Any = resource._get_stack_trace
    if getattr(current, _INSTALLED_MARK, False):
        return
    program_uri = program_dir.as_uri() + "/"
    program_prefix = str(program_dir) + "/"

    def declaring_line_only() -> Any:
        line = declaring_line(declaring_frames(sys._getframe(1)), program_prefix, program_uri)
        frames = [source_pb2.StackFrame(pc=line)] if line is not None else []
        return source_pb2.StackTrace(frames=frames)

    setattr(declaring_line_only, _INSTALLED_MARK, True)
    declaring_line_only.sdk_capture = current  # type: ignore[attr-defined]
    resource._get_stack_trace = declaring_line_only
