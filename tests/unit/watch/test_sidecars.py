"""Empty blob-store metadata files are removed; anything else, and other files, are kept."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from components.watch.sidecars import empty_sidecars, repair_sidecars


def test_only_empty_metadata_files_are_found(tmp_path: Path) -> None:
    (tmp_path / "dev.json.attrs").write_bytes(b"")
    (tmp_path / "dev.json.bak.attrs").write_text('{"md5": "x"}')
    (tmp_path / "dev.json").write_bytes(b"")  # an empty data file is not this module's business
    (tmp_path / "dev.json.1a.tmp").write_bytes(b"")
    (tmp_path / "nested.attrs").mkdir()
    assert empty_sidecars([tmp_path, tmp_path / "missing"]) == [tmp_path / "dev.json.attrs"]


def test_a_sidecar_that_cannot_be_removed_is_reported_not_raised(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    sidecar = tmp_path / "dev.json.attrs"
    sidecar.write_bytes(b"")

    def refuse(self: Path, missing_ok: bool = False) -> None:
        raise PermissionError(13, "Permission denied", str(self))

    monkeypatch.setattr(Path, "unlink", refuse)
    with caplog.at_level(logging.WARNING):
        assert repair_sidecars([tmp_path]) == []
    assert sidecar.exists()
    assert "cannot remove it" in caplog.text and "Permission denied" in caplog.text
