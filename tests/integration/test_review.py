"""The access review against real previews on the sandbox, compared with golden outputs.

One stack holds two bindings (ann, bob) applied with ``up``. Each case previews a bindings file
with ``python -m components.watch preview`` (the real CLI, the real engine, the stack's real
state) and compares the summary it prints and the Markdown it writes with
``golden/review/<case>.txt`` and ``.md``. Dates relative to today are written ``<yesterday>``
in the goldens; nothing else in them varies. After a deliberate change of wording, regenerate
them with ``AWMS_UPDATE_GOLDEN=1`` and review the diff. The pipeline's ``up`` is checked to log
the summary before the engine runs.
"""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml

from sandbox.environment import Sandbox
from sandbox.pulumi_cli import PulumiCli
from tests.factories import manifest
from tests.integration.conftest import new_stack, run_watch
from tests.integration.test_lifecycle import apply

pytestmark = [pytest.mark.integration, pytest.mark.timeout(1800)]

GOLDEN = Path(__file__).parent / "golden" / "review"
NAMESPACE = "access-review"
WORKSPACE = "review-ws"
STACK = "access-review"
HOSTILE = "mallory|`<b>x</b>`[l](http://e)@example.org"  # Markdown/HTML, no control chars
"""A username validation accepts that would break Markdown and reorder a terminal line."""
DEADLINE = 900.0


def binding(name: str, username: str, expires: str = "2099-12-31", **spec: Any) -> dict[str, Any]:
    return manifest(
        name, NAMESPACE, workspace=WORKSPACE, username=username, expires=expires, **spec
    )


ANN = binding("ann", "ann@example.org")
BOB = binding("bob", "bob@example.org")


def yesterday() -> str:
    return (datetime.now(UTC).date() - timedelta(days=1)).isoformat()


@pytest.fixture(scope="module")
def stack(program_dir: Path, sandbox: Sandbox) -> Iterator[PulumiCli]:
    cli = new_stack(program_dir, sandbox, STACK)
    cli.config_set("bindingsNamespace", NAMESPACE)
    sandbox.kubectl("create", "namespace", NAMESPACE)
    apply(sandbox, ANN, BOB)
    cli.up()
    yield cli
    cli.destroy()


def watch(cli: PulumiCli, *args: str) -> subprocess.CompletedProcess[str]:
    return run_watch(cli, *args, timeout=DEADLINE)


def preview(
    cli: PulumiCli, tmp: Path, manifests: list[dict[str, Any]], *flags: str, refused: bool = False
) -> Preview:
    """Run the review; a proposal with a refused binding must exit 4 (the pipeline's signal)."""
    bindings = tmp / "bindings.yaml"
    bindings.write_text(yaml.safe_dump_all(manifests, allow_unicode=True), encoding="utf-8")
    markdown, report, diff = tmp / "review.md", tmp / "preview.json", tmp / "diff.txt"
    result = watch(
        cli, "preview", "--bindings-file", str(bindings), *flags,
        "--markdown", str(markdown), "--json", str(report), "--engine-diff", str(diff),
    )  # fmt: skip
    assert result.returncode == (4 if refused else 0), result.stdout[-6000:] + result.stderr[-3000:]
    return Preview(
        summary(result.stdout),
        markdown.read_text(encoding="utf-8"),
        json.loads(report.read_text(encoding="utf-8")),
        diff.read_text(encoding="utf-8"),
    )


class Preview:
    def __init__(self, text: str, markdown: str, report: dict[str, Any], diff: str) -> None:
        self.text, self.markdown, self.report, self.diff = text, markdown, report, diff


def summary(stdout: str) -> str:
    """The summary block of the output: from its headline through the engine's counts."""
    lines = stdout.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("Access review of stack"))
    end = next(i for i in range(start, len(lines)) if lines[i].startswith("Engine: "))
    return "\n".join(lines[start : end + 1]) + "\n"


def check_golden(case: str, result: Preview) -> None:
    for suffix, text in ((".txt", result.text), (".md", result.markdown)):
        normalised = text.replace(yesterday(), "<yesterday>")
        path = GOLDEN / f"{case}{suffix}"
        if os.environ.get("AWMS_UPDATE_GOLDEN"):
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(normalised, encoding="utf-8")
        assert normalised == path.read_text(encoding="utf-8"), f"{path}:\n{normalised}"


def test_grant(stack: PulumiCli, tmp_path: Path) -> None:
    new = [binding("cid", "cid@example.org", "2030-06-30"), binding("mallory", HOSTILE)]
    result = preview(stack, tmp_path, new, "--overlay")
    check_golden("grant", result)
    granted = result.report["access"]["granted"]
    assert [(g["username"], g["until"]) for g in granted] == [
        ("cid@example.org", "2030-06-30"), (HOSTILE, "2099-12-31"),
    ]  # fmt: skip
    assert "kubernetes:apps/v1:Deployment" in result.diff  # the engine's diff is all there


def test_revoke_by_delete(stack: PulumiCli, tmp_path: Path) -> None:
    check_golden("revoke-delete", preview(stack, tmp_path, [ANN]))  # the file holds every binding


def test_revoke_by_expiry(stack: PulumiCli, tmp_path: Path) -> None:
    expired = binding("bob", "bob@example.org", yesterday())
    check_golden("revoke-expiry", preview(stack, tmp_path, [expired], "--overlay"))


def test_invalid_binding(stack: PulumiCli, tmp_path: Path) -> None:
    broken = binding("bob", "bob@example.org", "next week")
    check_golden("invalid", preview(stack, tmp_path, [broken], "--overlay", refused=True))


def test_no_op(stack: PulumiCli, tmp_path: Path) -> None:
    result = preview(stack, tmp_path, [ANN], "--overlay")
    check_golden("no-op", result)
    access = result.report["access"]
    assert not any(access[key] for key in ("granted", "revoked", "changed", "refused"))


def test_expiry_and_replicas_changes_read_from_the_real_state(
    stack: PulumiCli, tmp_path: Path
) -> None:
    changed = binding("ann", "ann@example.org", "2098-01-31", replicas=1)
    lines = preview(stack, tmp_path, [changed], "--overlay").text.splitlines()
    who = "  changed  ann@example.org  workspace review-ws"
    assert lines[:3] == [
        f"Access review of stack {STACK}: 2 changed",
        f"{who}  expiry 2099-12-31 → 2098-01-31 (binding {NAMESPACE}/ann)",
        f"{who}  replicas 0 → 1",
    ]


def test_settings_only_change(stack: PulumiCli, tmp_path: Path) -> None:
    stack.config_set("image", "lscsde/analytics-vnc-client:0.1.6")
    try:
        result = preview(stack, tmp_path, [ANN], "--overlay")
    finally:
        stack.run("config", "rm", "image")
    check_golden("settings-only", result)


def test_up_logs_the_summary_before_the_engine_runs(stack: PulumiCli, sandbox: Sandbox) -> None:
    apply(sandbox, binding("dee", "dee@example.org", "2031-01-31"))
    result = watch(stack, "up")
    assert result.returncode == 0, result.stdout[-6000:] + result.stderr[-3000:]
    lines = result.stdout.splitlines()
    granted = next(
        i for i, line in enumerate(lines)
        if line.endswith("granted  dee@example.org  workspace review-ws  until 2031-01-31"
                         f"  (binding {NAMESPACE}/dee)")
    )  # fmt: skip
    finished = next(i for i, line in enumerate(lines) if "up finished" in line)
    assert any(f"Access review of stack {STACK}: 1 granted" in line for line in lines[:granted])
    assert granted < finished
