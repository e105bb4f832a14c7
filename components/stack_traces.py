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
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

_INSTALLED_MARK = "_awms_program_frames_only"
PROGRAM_DIR = Path(__file__).resolve().parent.parent
"""Where ``__main__.py`` and ``components/`` live."""
_OUTSIDE_PROGRAM = ("/site-packages/", "/.venv/")


def program_frame(uri: str, program_uri: str) -> bool:
    """Whether a frame's ``file://`` URI is a file of the program (not its virtualenv)."""
    return uri.startswith(program_uri) and not any(part in uri for part in _OUTSIDE_PROGRAM)


def install(program_dir: Path = PROGRAM_DIR) -> None:
    """Idempotently narrow the SDK's stack-trace capture to the program's frames."""
    from pulumi.runtime import resource

    current: Any = resource._get_stack_trace
    if getattr(current, _INSTALLED_MARK, False):
        return
    program_uri = program_dir.as_uri() + "/"

    def program_frames_only() -> Any:
        trace = current()
        kept = [
            frame
            for frame in trace.frames
            if frame.HasField("pc") and program_frame(frame.pc.uri, program_uri)
        ]
        del trace.frames[:]
        trace.frames.extend(kept)
        return trace

    setattr(program_frames_only, _INSTALLED_MARK, True)
    resource._get_stack_trace = program_frames_only
