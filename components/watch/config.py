"""Command-line flags, each with an ``AWMS_WATCH_*`` environment default (for containers).

A flag beats its environment variable, which beats the built-in default. Settings the Pulumi
program already has (kubeconfig, bindings namespace, whether to write binding status) default to
the stack's own configuration, so the watcher looks at the same cluster the program writes to.
"""

from __future__ import annotations

import argparse
import os
from collections.abc import Mapping, Sequence
from pathlib import Path

from components.watch.run_configs import (
    CommonConfig,
    KubeConfig,
    PreviewConfig,
    ShardMoveConfig,
    UpConfig,
    WatchConfig,
)

ENV_PREFIX = "AWMS_WATCH_"
DEFAULT_PROJECT_DIR = Path(__file__).resolve().parents[2]

__all__ = [
    "CommonConfig",
    "ConfigError",
    "KubeConfig",
    "PreviewConfig",
    "ShardMoveConfig",
    "UpConfig",
    "WatchConfig",
    "build_parser",
    "env_name",
    "parse",
]


class ConfigError(ValueError):
    """A flag or environment variable is invalid; the message names it."""


def env_name(flag: str) -> str:
    return ENV_PREFIX + flag.lstrip("-").replace("-", "_").upper()


class _Env:
    def __init__(self, environ: Mapping[str, str]) -> None:
        self.environ = environ

    def text(self, flag: str, default: str) -> str:
        return self.environ.get(env_name(flag), default)

    def number(self, flag: str, default: float) -> float:
        raw = self.environ.get(env_name(flag))
        if raw is None or raw == "":
            return default
        try:
            return float(raw)
        except ValueError as error:
            raise ConfigError(f"{env_name(flag)}: not a number: {raw!r}") from error

    def flag(self, flag: str, default: bool | None) -> bool | None:
        raw = self.environ.get(env_name(flag), "").strip().lower()
        if raw in ("", "auto"):
            return default
        if raw in ("1", "true", "yes", "on"):
            return True
        if raw in ("0", "false", "no", "off"):
            return False
        raise ConfigError(f"{env_name(flag)}: not a boolean: {raw!r}")


def build_parser(environ: Mapping[str, str] | None = None) -> argparse.ArgumentParser:
    env = _Env(os.environ if environ is None else environ)
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--project-dir",
        type=Path,
        default=Path(env.text("--project-dir", str(DEFAULT_PROJECT_DIR))),
        help="the Pulumi project directory (default: this checkout)",
    )
    common.add_argument(
        "--stack",
        default=env.text("--stack", ""),
        help="stack to run against, e.g. dev or org/awms-browser-workspaces/prod (required)",
    )
    common.add_argument("--log-level", default=env.text("--log-level", "INFO"))
    common.add_argument(
        "--log-format", choices=["text", "json"], default=env.text("--log-format", "text")
    )
    common.add_argument(
        "--foreign-lock-timeout",
        type=float,
        default=env.number("--foreign-lock-timeout", 0.0),
        help="treat a file-backend stack lock written on another host as abandoned after this "
        "many seconds (0, the default: never; only for a sole writer whose host name changes)",
    )
    common.add_argument(
        "--keep-history",
        type=int,
        default=int(env.number("--keep-history", 0)),
        help="on a file backend, keep the newest N updates of each stack run (update records, "
        "checkpoint copies and backups) and remove older ones after each up (0, the default: "
        "keep all)",
    )

    kube = argparse.ArgumentParser(add_help=False)
    kube.add_argument(
        "--kubeconfig",
        default=env.text("--kubeconfig", ""),
        help="kubeconfig to watch bindings with (default: the stack's kubeconfig setting, "
        "then $KUBECONFIG, then in-cluster)",
    )
    kube.add_argument(
        "--namespace",
        default=env.text("--namespace", "") or None,
        help="namespace of the bindings (default: the stack's bindingsNamespace; empty = all)",
    )

    retry = argparse.ArgumentParser(add_help=False)
    retry.add_argument(
        "--backoff-initial",
        type=float,
        default=env.number("--backoff-initial", 2.0),
        help="seconds before the first retry of a failed run (doubles each time)",
    )
    retry.add_argument(
        "--backoff-max",
        type=float,
        default=env.number("--backoff-max", 300.0),
        help="longest wait between retries",
    )
    shards = argparse.ArgumentParser(add_help=False)
    shards.add_argument(
        "--all-shards",
        action=argparse.BooleanOptionalAction,
        default=env.flag("--all-shards", False),
        help="in a sharded environment, run every shard, not only those a change touches",
    )
    refused = argparse.ArgumentParser(add_help=False)
    refused.add_argument(
        "--allow-refused",
        action=argparse.BooleanOptionalAction,
        default=env.flag("--allow-refused", False),
        help="exit 0 instead of 4 when bindings are refused as invalid (the rest converges "
        "either way)",
    )

    retry.add_argument(
        "--cancel-timeout",
        type=float,
        default=env.number("--cancel-timeout", 20.0),
        help="after asking a running update to stop (SIGINT), how long to wait for it",
    )

    parser = argparse.ArgumentParser(
        prog="python -m components.watch",
        description="Run the awms-browser-workspaces Pulumi program when bindings change.",
    )
    commands = parser.add_subparsers(dest="command", required=True)

    watch = commands.add_parser(
        "watch",
        parents=[common, kube, retry, shards],
        help="watch bindings and workspaces; run targeted or full updates (long-running)",
    )
    watch.add_argument(
        "--debounce",
        type=float,
        default=env.number("--debounce", 0.25),
        help="seconds a burst must be quiet before it runs",
    )
    watch.add_argument(
        "--max-delay",
        type=float,
        default=env.number("--max-delay", 5.0),
        help="longest a change waits for its burst to end",
    )
    watch.add_argument(
        "--resync-interval",
        type=float,
        default=env.number("--resync-interval", 3600.0),
        help="seconds between periodic full runs (0 disables)",
    )
    watch.add_argument(
        "--grace-period",
        type=float,
        default=env.number("--grace-period", 20.0),
        help="on SIGTERM, how long a running update may finish before it is interrupted",
    )
    watch.add_argument(
        "--escalate-after",
        type=int,
        default=int(env.number("--escalate-after", 2)),
        help="failed targeted attempts after which the whole program runs instead",
    )
    watch.add_argument(
        "--scoped",
        action=argparse.BooleanOptionalAction,
        default=env.flag("--scoped", True),
        help="targeted runs make the program declare only the targeted bindings (default on)",
    )
    watch.add_argument(
        "--report-status",
        action=argparse.BooleanOptionalAction,
        default=env.flag("--report-status", None),
        help="write failures to status.statusText (default: the stack's writeBindingStatus)",
    )
    watch.add_argument(
        "--initial-run",
        choices=["full", "none"],
        default=env.text("--initial-run", "full"),
        help="full (default): converge at start-up; none: only react to changes (benchmarks)",
    )
    watch.add_argument(
        "--watch-workspaces",
        action=argparse.BooleanOptionalAction,
        default=env.flag("--watch-workspaces", True),
        help="also run the program when an AnalyticsWorkspace spec changes",
    )
    watch.add_argument(
        "--watch-timeout",
        type=int,
        default=int(env.number("--watch-timeout", 300)),
        help="seconds before a watch request is renewed",
    )

    watch.add_argument(
        "--max-preemptions",
        type=int,
        default=int(env.number("--max-preemptions", 3)),
        help="how often one full run may be interrupted so a login goes first (0: never)",
    )
    watch.add_argument(
        "--outputs-settle",
        type=float,
        default=env.number("--outputs-settle", 600.0),
        help="quiet seconds after a scoped run before a full run restores the stack outputs "
        "(0: leave it to the periodic resync)",
    )

    _repair_drift_flag(watch, env, True, "at start-up and each periodic resync")

    watch.add_argument(
        "--fast-path",
        action=argparse.BooleanOptionalAction,
        default=env.flag("--fast-path", True),
        help="scale a browser's Deployment as soon as its binding's spec.replicas changes, "
        "then record it with the targeted run (default on)",
    )

    up = commands.add_parser(
        "up",
        parents=[common, retry, refused, shards],
        help="one full update (for a pipeline), retried, waiting for other writers' locks",
    )
    up.add_argument("--attempts", type=int, default=int(env.number("--attempts", 3)))
    up.add_argument(
        "--timeout",
        type=float,
        default=env.number("--timeout", 3600.0),
        help="give up after this many seconds (lock waits included)",
    )
    _repair_drift_flag(up, env, False, "before the update")

    preview = commands.add_parser(
        "preview",
        parents=[common, kube, refused, shards],
        help="preview what a bindings file would change, without applying it (for review)",
    )
    preview.add_argument(
        "--bindings-file",
        type=Path,
        required=not env.text("--bindings-file", ""),
        default=Path(env.text("--bindings-file", ".")),
        help="YAML file or directory of AnalyticsWorkspaceBinding manifests",
    )
    preview.add_argument(
        "--overlay",
        action=argparse.BooleanOptionalAction,
        default=env.flag("--overlay", False),
        help="apply the file on top of the cluster's current bindings instead of replacing them",
    )
    preview.add_argument(
        "--json",
        dest="json_out",
        type=Path,
        default=None,
        help="also write the change summary as JSON to this file",
    )
    preview.add_argument(
        "--markdown",
        dest="markdown_out",
        type=Path,
        default=None,
        help="also write the access review as Markdown (a merge-request comment) to this file",
    )
    preview.add_argument(
        "--engine-diff",
        default=None,
        metavar="FILE",
        help="write the engine's full diff to this file ('-': print it after the summary)",
    )
    move = commands.add_parser(
        "shard-move",
        parents=[common],
        help="move the environment's resources into its shard stacks (or between shard counts) "
        "with pulumi state move, recreating nothing",
    )
    move.add_argument(
        "--shards",
        type=int,
        default=None,
        help="the shard count to move to (default: the shards setting); set in the stack file "
        "once the resources are gathered",
    )
    move.add_argument(
        "--batch",
        type=int,
        default=500,
        help="resources per pulumi state move (its argument list has a size limit)",
    )
    return parser


def _repair_drift_flag(
    parser: argparse.ArgumentParser, env: _Env, default: bool, when: str
) -> None:
    parser.add_argument(
        "--repair-drift",
        action=argparse.BooleanOptionalAction,
        default=env.flag("--repair-drift", default),
        help=f"{when}, compare the Guacamole rows with the state and refresh the drifted ones "
        "so the update repairs them (a password reset, an edit in the UI); default "
        + ("on" if default else "off"),
    )


def parse(
    argv: Sequence[str] | None = None, environ: Mapping[str, str] | None = None
) -> WatchConfig | UpConfig | PreviewConfig | ShardMoveConfig:
    args = build_parser(environ).parse_args(argv)
    if not args.stack:
        raise ConfigError(f"--stack (or {env_name('--stack')}) is required")
    common = CommonConfig(
        project_dir=args.project_dir.resolve(),
        stack=args.stack,
        log_level=args.log_level.upper(),
        log_format=args.log_format,
        foreign_lock_timeout=args.foreign_lock_timeout,
        keep_history=args.keep_history,
    )
    if args.keep_history < 0:
        raise ConfigError(f"--keep-history must be 0 (keep all) or more, not {args.keep_history}")
    if args.command == "up":
        _positive(args.attempts, "--attempts")
        return UpConfig(
            common,
            args.timeout,
            args.attempts,
            args.cancel_timeout,
            args.backoff_initial,
            args.backoff_max,
            allow_refused=bool(args.allow_refused),
            repair_drift=bool(args.repair_drift),
            all_shards=bool(args.all_shards),
        )
    if args.command == "shard-move":
        if args.shards is not None:
            _positive(args.shards, "--shards")
        _positive(args.batch, "--batch")
        return ShardMoveConfig(common, args.shards, args.batch)
    kube = KubeConfig(args.kubeconfig, args.namespace)
    if args.command == "preview":
        return PreviewConfig(
            common,
            kube,
            args.bindings_file,
            bool(args.overlay),
            args.json_out,
            args.markdown_out,
            args.engine_diff,
            allow_refused=bool(args.allow_refused),
            all_shards=bool(args.all_shards),
        )
    for flag in ("debounce", "max_delay", "grace_period", "cancel_timeout", "max_preemptions"):
        if getattr(args, flag) < 0:
            raise ConfigError(f"--{flag.replace('_', '-')} must not be negative")
    _positive(args.escalate_after, "--escalate-after")
    return WatchConfig(
        common=common,
        kube=kube,
        debounce=args.debounce,
        max_delay=args.max_delay,
        resync_interval=args.resync_interval,
        grace_period=args.grace_period,
        cancel_timeout=args.cancel_timeout,
        backoff_initial=args.backoff_initial,
        backoff_max=args.backoff_max,
        escalate_after=args.escalate_after,
        scoped=bool(args.scoped),
        report_status=args.report_status,
        initial_run=args.initial_run,
        watch_workspaces=bool(args.watch_workspaces),
        watch_timeout=args.watch_timeout,
        max_preemptions=args.max_preemptions,
        outputs_settle=args.outputs_settle,
        repair_drift=bool(args.repair_drift),
        fast_path=bool(args.fast_path),
        all_shards=bool(args.all_shards),
    )


def _positive(value: int, flag: str) -> None:
    if value < 1:
        raise ConfigError(f"{flag} must be at least 1")
