"""Bounded update history of a file backend: which files go, and that nothing else does."""

from __future__ import annotations

from pathlib import Path

from components.watch.state_history import history_directories, prune_history, stale_files

STAMPS = [1796185006198370236, 1796185059096035339, 1796185077094359727, 1796185130124194823]


def history_names(stack: str, suffix: str = ".json") -> list[str]:
    """What the CLI leaves per update: a record and a checkpoint copy, each with its .attrs."""
    names = []
    for stamp in STAMPS:
        for kind in ("history", "checkpoint"):
            names += [f"{stack}-{stamp}.{kind}{suffix}", f"{stack}-{stamp}.{kind}{suffix}.attrs"]
    return names


def test_only_updates_older_than_the_newest_kept_are_named():
    names = history_names("prod.shard-1")
    stale = stale_files(names, "prod.shard-1", keep=2)
    assert stale == sorted(n for n in names if str(STAMPS[0]) in n or str(STAMPS[1]) in n)
    assert len(stale) == 8
    assert stale_files(names, "prod.shard-1", keep=4) == []
    assert stale_files(names, "prod.shard-1", keep=9) == []


def test_backups_and_compressed_records_count_by_their_own_stamps():
    backups = [f"prod.{s}.json.zst" for s in STAMPS] + [f"prod.{STAMPS[0]}.json.zst.attrs"]
    assert stale_files(backups, "prod", keep=3) == [
        f"prod.{STAMPS[0]}.json.zst",
        f"prod.{STAMPS[0]}.json.zst.attrs",
    ]
    gz = history_names("prod", ".json.gz")
    assert len(stale_files(gz, "prod", keep=1)) == 12


def test_other_stacks_and_foreign_files_are_never_named():
    names = history_names("prod.shard-1") + history_names("prod.shard-10")
    names += ["prod.shard-1-notes.txt", "prod.shard-1.json", "prod.shard-1.json.bak", "x.json"]
    stale = stale_files(names, "prod.shard-1", keep=1)
    assert stale and all(n.startswith("prod.shard-1-17") for n in stale)
    assert not [n for n in stale if "shard-10" in n]


def test_pruning_removes_the_files_and_keeps_the_rest(tmp_path: Path):
    root = tmp_path / "backend"
    history, legacy_history, backups, _ = history_directories(root, "proj", "org/proj/prod")
    assert history == root / ".pulumi" / "history" / "proj" / "prod"
    assert legacy_history == root / ".pulumi" / "history" / "prod"
    assert backups == root / ".pulumi" / "backups" / "proj" / "prod"
    history.mkdir(parents=True)
    backups.mkdir(parents=True)
    for name in history_names("prod"):
        (history / name).write_text("{}")
    for stamp in STAMPS:
        (backups / f"prod.{stamp}.json").write_text("{}")
    (history / "README").write_text("kept")
    removed = prune_history([history, legacy_history, backups], "prod", keep=3)
    assert len(removed) == 4 + 1
    assert sorted(p.name for p in backups.iterdir()) == [f"prod.{s}.json" for s in STAMPS[1:]]
    assert len(list(history.iterdir())) == 12 + 1
    assert prune_history([history, backups], "prod", keep=0) == []
    assert len(list(history.iterdir())) == 13
