"""Record only the program's own frames in each resource's stack trace.

The Python SDK (3.195 and later) sends the whole interpreter stack with every resource
registration, and the engine stores it in the state: the language host's entry point, asyncio's
event loop, the SDK's runner, ``runpy``, each with a path of up to 200 characters. That is about
1.7 kB per resource, some 15 kB per binding at nine resources each, or a third of a
1,000-binding stack's state, which every run reads, decrypts and writes back.

Only the program's frames say anything (which component declared the resource, from which line
of ``__main__.py``); they are kept, in order, and the rest dropped. ``sourcePosition`` is the
first frame and so stays the same. The engine never diffs stack traces, so a stack recorded
before this shrinks on its next update without any change being shown.

The frames are read straight from the interpreter, the way the SDK chooses them (everything
outside the third ``__init__`` up the stack), without the SDK's ``traceback.extract_stack``:
that reads the source line of every frame, a millisecond per resource, a fifth of the program's
time in a shard of 80 bindings.
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
    first; none when there are fewer than three."""
    inits = 0
    frame = innermost
    while frame is not None:
        if frame.f_code.co_name == "__init__":
            inits += 1
            if inits == 3:
                break
        frame = frame.f_back
    found: list[FrameType] = []
    caller = frame.f_back if frame is not None else None
    while caller is not None:
        found.append(caller)
        caller = caller.f_back
    return found


def install(program_dir: Path = PROGRAM_DIR) -> None:
    """Idempotently narrow the SDK's stack-trace capture to the program's frames."""
    from pulumi.runtime import resource
    from pulumi.runtime.proto import source_pb2

    current: Any = resource._get_stack_trace
    if getattr(current, _INSTALLED_MARK, False):
        return
    program_uri = program_dir.as_uri() + "/"
    program_prefix = str(program_dir) + "/"

    def program_frames_only() -> Any:
        positions = [
            source_pb2.SourcePosition(uri=uri, line=frame.f_lineno)
            for frame in declaring_frames(sys._getframe(1))
            if frame.f_code.co_filename.startswith(program_prefix)
            and program_frame(uri := Path(frame.f_code.co_filename).as_uri(), program_uri)
        ]
        return source_pb2.StackTrace(frames=[source_pb2.StackFrame(pc=pc) for pc in positions])

    setattr(program_frames_only, _INSTALLED_MARK, True)
    program_frames_only.sdk_capture = current  # type: ignore[attr-defined]
    resource._get_stack_trace = program_frames_only
