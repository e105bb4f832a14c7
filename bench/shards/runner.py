"""Run the sharded benchmark: one sandbox, then for each N the sharded environment's steps through
the pipeline entry points, then the same steps on the raw baseline.

Order for each N: write the N bindings (set-up, untimed); ``up`` from empty of the whole
environment (checkpoints on, the file backend); the state of every shard; a no-op ``preview`` of
the bindings file and a ``preview --all-shards``; the three one-binding edits, each a ``preview``
of the proposed file, the edit applied to the cluster (untimed, as a merge applies manifests)
and the ``up`` it triggers; ``destroy`` of every shard stack. Then the cluster goes back to the
N bindings and the baseline does the same steps. Every step goes through
:meth:`bench.measure.Meter.measure`, as in ``python -m bench``.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from bench.baseline import Baseline
from bench.kubestats import ApiServerMetrics
from bench.measure import Meter, StepResult
from bench.program import PROJECT, ProgramSide
from bench.runner import Options as SingleOptions
from bench.runner import Outcome, _meta, _now, _progress, in_sandbox, wait_until_collected
from bench.shards.environment import ShardedEnvironment
from bench.shards.plan import ADDED, Edit, bindings_per_shard, edits, workload
from bench.sqlstats import SqlStats
from bench.workload import BindingWriter, Workload
from components.kube_client import new_api_client
from components.settings import settings_from_values
from sandbox.environment import BINDINGS_NAMESPACE, BROWSER_NAMESPACE, GUACAMOLE_DATABASE, Sandbox
from sandbox.program_copy import copy_program

SIDES = ("program", "baseline")


@dataclass
class Options:
    sizes: list[int]
    shards: Mapping[int, int]
    """Shard count per N."""
    workdir: Path
    sides: tuple[str, ...] = SIDES
    program_env: Mapping[str, str] = field(default_factory=dict)
    keep: bool = False
    log: Callable[[str], None] = print
    save: Callable[[Outcome], None] | None = None


def run(options: Options) -> Outcome:
    """Start a fresh sandbox, measure every N, stop the sandbox (unless ``keep``)."""
    return in_sandbox(options.workdir, options.keep, options.log, lambda box: _run_on(box, options))


class _Session:
    """What every step of one run shares: the sandbox's clients, the meter, the outcome."""

    def __init__(self, box: Sandbox, options: Options) -> None:
        self.box = box
        self.options = options
        self.api = new_api_client(str(box.kube.kubeconfig))
        sql = SqlStats(box.postgres.admin_dsn, GUACAMOLE_DATABASE)
        sql.prepare()
        self.meter = Meter(sql, ApiServerMetrics(self.api))
        self.writer = BindingWriter(self.api)
        meta = _meta(
            SingleOptions(
                options.sizes,
                1,
                options.workdir,
                options.sides,
                program_env=options.program_env,
            )
        )
        meta.update(benchmark="shards", shards={str(k): v for k, v in options.shards.items()})
        self.outcome = Outcome([], {}, meta)

    def measure(
        self,
        side: str,
        step: str,
        size: int,
        work: Callable[[], int],
        extra: Callable[[], Mapping[str, Any]] | None = None,
    ) -> StepResult:
        result = self.meter.measure(side, step, size, 0, work)
        if extra is not None:
            result.extra.update(extra())
        line = _progress(result)
        # The program's steps return how many shard stacks they ran, the baseline's its changes.
        self.options.log(line.replace("changed=", "shards=") if side == "program" else line)
        self.outcome.results.append(result)
        self.outcome.meta["finished"] = _now()
        if self.options.save is not None:
            self.options.save(self.outcome)
        return result

    def apply(self, base: Workload, edit: Edit) -> None:
        """A merged edit reaching the cluster (set-up, never timed)."""
        if edit.action == "create":
            self.writer.add(edit.manifest)
        elif edit.action == "replicas":
            self.writer.set_replicas(base, edit.name, int(edit.manifest["spec"]["replicas"]))
        else:
            self.writer.delete_all(base.namespace, [edit.name])

    def restore(self, base: Workload) -> None:
        """The cluster back to ``base``'s bindings, replicas 0 and no status."""
        self.writer.delete_all(base.namespace, [ADDED])
        self.writer.ensure(base)
        for edit in edits(base):
            if edit.action == "replicas":
                self.writer.set_replicas(base, edit.name, 0)
        self.writer.reset(base)


def _run_on(box: Sandbox, options: Options) -> Outcome:
    session = _Session(box, options)
    program_dir = copy_program(box.workdir / "program" / PROJECT)
    files = box.workdir / "bindings"
    files.mkdir(parents=True, exist_ok=True)
    for size in options.sizes:
        base = workload(size, BINDINGS_NAMESPACE)
        session.writer.delete_all(BINDINGS_NAMESPACE)
        session.writer.create(base)
        if "program" in options.sides:
            _program(session, program_dir, base, options.shards[size], files)
        if "baseline" in options.sides:
            session.restore(base)
            wait_until_collected(session.api)
            _baseline(session, base)
        session.writer.delete_all(BINDINGS_NAMESPACE)
    return session.outcome


def _write(path: Path, manifests: list[dict[str, Any]]) -> Path:
    """The bindings file a pipeline previews (one YAML document per binding)."""
    path.write_text(yaml.safe_dump_all(manifests, sort_keys=False), encoding="utf-8")
    return path


def _program(
    session: _Session, program_dir: Path, base: Workload, shards: int, files: Path
) -> None:
    size = base.size
    side = ProgramSide(
        session.box,
        program_dir,
        f"shards-{size}",
        bindings_namespace=BINDINGS_NAMESPACE,
        extra_env=session.options.program_env,
    )
    env = ShardedEnvironment(
        side.cli, shards, session.box.backend_dir, session.box.workdir / "logs" / str(size)
    )

    def last() -> dict[str, Any]:
        return env.last.as_json()

    session.measure("program", "up", size, env.up, last)
    state = env.state()
    state["bindings_per_shard"] = bindings_per_shard(base.manifests(), shards)
    session.outcome.states[size] = state
    current = _write(files / f"{size}-current.yaml", base.manifests())
    session.measure("program", "preview", size, lambda: env.preview(current), last)
    session.measure(
        "program", "preview-all", size, lambda: env.preview(current, all_shards=True), last
    )
    measure_edits(session, env, base, edits(base), files / str(size))
    session.outcome.states[size]["after_edits"] = {
        k: v for k, v in env.state().items() if k in ("bytes", "resources", "largest_bytes")
    }
    session.measure("program", "destroy", size, env.destroy)
    env.remove()


def measure_edits(
    session: _Session, env: ShardedEnvironment, base: Workload, planned: list[Edit], prefix: Path
) -> None:
    """Each edit as a pipeline meets it: the preview of the proposed file, the merge reaching
    the cluster (untimed), the ``up`` it triggers."""

    def last() -> dict[str, Any]:
        return env.last.as_json()

    for edit in planned:
        proposed = _write(prefix.with_name(f"{prefix.name}-{edit.step}.yaml"), edit.proposed)
        session.measure(
            "program",
            f"{edit.step}:preview",
            base.size,
            functools.partial(env.preview, proposed),
            last,
        )
        session.apply(base, edit)
        session.measure("program", f"{edit.step}:up", base.size, env.up, last)


def _baseline(session: _Session, base: Workload) -> None:
    settings = settings_from_values(
        {"namespace": BROWSER_NAMESPACE, "bindingsNamespace": BINDINGS_NAMESPACE}
    )
    baseline = Baseline(session.api, session.box.database_url, settings, BINDINGS_NAMESPACE)
    size = base.size
    session.measure("baseline", "up", size, baseline.up)
    session.measure("baseline", "preview", size, baseline.preview)
    for edit in edits(base):
        session.apply(base, edit)
        session.measure("baseline", f"{edit.step}:preview", size, baseline.preview)
        session.measure("baseline", f"{edit.step}:up", size, baseline.up)
    session.measure("baseline", "destroy", size, baseline.destroy)
