"""Flags, their AWMS_WATCH_* environment defaults, and refusals."""

from __future__ import annotations

from pathlib import Path

import pytest

from components.watch.config import (
    ConfigError,
    PreviewConfig,
    ShardMoveConfig,
    UpConfig,
    WatchConfig,
    env_name,
    parse,
)


def test_watch_defaults_and_environment() -> None:
    config = parse(["watch", "--stack", "dev"], environ={})
    assert isinstance(config, WatchConfig)
    assert config.common.stack == "dev" and config.scoped and config.report_status is None
    assert config.kube.namespace is None and config.initial_run == "full"
    env = {
        "AWMS_WATCH_STACK": "prod",
        "AWMS_WATCH_DEBOUNCE": "0.5",
        "AWMS_WATCH_SCOPED": "false",
        "AWMS_WATCH_REPORT_STATUS": "yes",
        "AWMS_WATCH_LOG_FORMAT": "json",
    }
    from_env = parse(["watch"], environ=env)
    assert isinstance(from_env, WatchConfig)
    assert from_env.common.stack == "prod" and from_env.debounce == 0.5
    assert not from_env.scoped and from_env.report_status is True
    assert from_env.common.log_format == "json"
    flagged = parse(["watch", "--scoped", "--debounce", "1"], environ=env)
    assert isinstance(flagged, WatchConfig) and flagged.scoped and flagged.debounce == 1.0


def test_up_and_preview() -> None:
    up = parse(["up", "--stack", "dev", "--attempts", "5"], environ={})
    assert isinstance(up, UpConfig) and up.attempts == 5
    preview = parse(
        ["preview", "--stack", "dev", "--bindings-file", "b.yaml", "--overlay"], environ={}
    )
    assert isinstance(preview, PreviewConfig)
    assert preview.bindings_file == Path("b.yaml") and preview.overlay


def test_shard_move_defaults_to_the_setting() -> None:
    move = parse(["shard-move", "--stack", "prod"], environ={})
    assert isinstance(move, ShardMoveConfig) and move.shards is None and move.batch == 500
    five = parse(["shard-move", "--stack", "prod", "--shards", "5"], environ={})
    assert isinstance(five, ShardMoveConfig) and five.shards == 5


@pytest.mark.parametrize(
    ("argv", "environ"),
    [
        (["watch"], {}),
        (["watch", "--stack", "dev"], {"AWMS_WATCH_DEBOUNCE": "soon"}),
        (["watch", "--stack", "dev"], {"AWMS_WATCH_SCOPED": "maybe"}),
        (["watch", "--stack", "dev", "--debounce", "-1"], {}),
        (["up", "--stack", "dev", "--attempts", "0"], {}),
        (["shard-move", "--stack", "dev", "--shards", "0"], {}),
        (["shard-move", "--stack", "dev", "--batch", "0"], {}),
        (["up", "--stack", "dev", "--keep-history", "-1"], {}),
        (["watch", "--stack", "dev"], {"AWMS_WATCH_KEEP_HISTORY": "many"}),
    ],
)
def test_refusals(argv: list[str], environ: dict[str, str]) -> None:
    with pytest.raises(ConfigError):
        parse(argv, environ=environ)


def test_history_is_kept_whole_unless_a_count_is_given() -> None:
    assert parse(["up", "--stack", "dev"], environ={}).common.keep_history == 0
    up = parse(["up", "--stack", "dev", "--keep-history", "3"], environ={})
    assert up.common.keep_history == 3
    watch = parse(["watch", "--stack", "dev"], environ={"AWMS_WATCH_KEEP_HISTORY": "50"})
    assert watch.common.keep_history == 50


def test_env_name() -> None:
    assert env_name("--grace-period") == "AWMS_WATCH_GRACE_PERIOD"


def test_repair_drift_is_on_for_the_watcher_and_opt_in_for_up() -> None:
    watch = parse(["watch", "--stack", "dev"], environ={})
    assert isinstance(watch, WatchConfig) and watch.repair_drift
    off = parse(["watch", "--stack", "dev", "--no-repair-drift"], environ={})
    assert isinstance(off, WatchConfig) and not off.repair_drift
    up = parse(["up", "--stack", "dev"], environ={})
    assert isinstance(up, UpConfig) and not up.repair_drift
    opted = parse(["up", "--stack", "dev"], environ={"AWMS_WATCH_REPAIR_DRIFT": "true"})
    assert isinstance(opted, UpConfig) and opted.repair_drift


def test_the_login_fast_path_is_on_unless_turned_off() -> None:
    default = parse(["watch", "--stack", "dev"], environ={})
    assert isinstance(default, WatchConfig) and default.fast_path
    off = parse(["watch", "--stack", "dev"], environ={"AWMS_WATCH_FAST_PATH": "false"})
    assert isinstance(off, WatchConfig) and not off.fast_path
    flagged = parse(["watch", "--stack", "dev", "--no-fast-path"], environ={})
    assert isinstance(flagged, WatchConfig) and not flagged.fast_path
