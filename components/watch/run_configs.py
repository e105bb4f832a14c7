"""What each command of ``python -m components.watch`` runs with, once its flags are parsed."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class CommonConfig:
    project_dir: Path
    stack: str
    log_level: str
    log_format: str
    foreign_lock_timeout: float
    keep_history: int = 0
    """Updates of each stack kept in a file backend's history and backups (0: all)."""


@dataclass(frozen=True)
class KubeConfig:
    kubeconfig: str
    namespace: str | None
    """``None``: take ``bindingsNamespace`` from the stack."""


@dataclass(frozen=True)
class WatchConfig:
    common: CommonConfig
    kube: KubeConfig
    debounce: float
    max_delay: float
    resync_interval: float
    grace_period: float
    cancel_timeout: float
    backoff_initial: float
    backoff_max: float
    escalate_after: int
    scoped: bool
    report_status: bool | None
    """``None``: follow the stack's ``writeBindingStatus``."""
    initial_run: str
    watch_workspaces: bool
    watch_timeout: int
    max_preemptions: int
    outputs_settle: float
    repair_drift: bool = True
    fast_path: bool = True
    """Scale a Deployment the moment its binding's ``spec.replicas`` changes (before the run)."""
    all_shards: bool = False
    """At start-up, run every shard of a sharded environment, not only the changed ones."""


@dataclass(frozen=True)
class UpConfig:
    common: CommonConfig
    timeout: float
    attempts: int
    cancel_timeout: float
    backoff_initial: float
    backoff_max: float
    allow_refused: bool = False
    """Exit 0 rather than 4 when the update refused bindings."""
    repair_drift: bool = False
    all_shards: bool = False
    """Update every shard of a sharded environment, not only those a change touches."""


@dataclass(frozen=True)
class PreviewConfig:
    common: CommonConfig
    kube: KubeConfig
    bindings_file: Path
    overlay: bool
    json_out: Path | None
    markdown_out: Path | None = None
    engine_diff: str | None = None
    """A file for the engine's full diff, ``-`` for stdout, ``None`` to leave it out."""
    allow_refused: bool = False
    """Exit 0 rather than 4 when bindings would be refused."""
    all_shards: bool = False
    """Preview every shard of a sharded environment, not only those the file touches."""


@dataclass(frozen=True)
class ShardMoveConfig:
    common: CommonConfig
    shards: int | None
    """``None``: the environment's ``shards`` setting."""
    batch: int = 500
    """URNs per ``pulumi state move`` (its argument list has a size limit)."""
