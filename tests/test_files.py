"""Durable writes: a file is whole or absent, never cut short, and no temporary name stays."""

from __future__ import annotations

import errno
import os
import stat
from pathlib import Path

import pytest

from feeds.files import StagedFiles, StagingError, write_durably, write_new_file


def names(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


def test_write_durably_replaces_the_file_whole_and_leaves_no_temporary_one(
        tmp_path: Path) -> None:
    target = tmp_path / "feed.atom"
    target.write_bytes(b"old")
    write_durably(target, b"new bytes")
    assert target.read_bytes() == b"new bytes"
    assert names(tmp_path) == ["feed.atom"]


def test_a_file_gets_its_mode_whatever_the_umask(tmp_path: Path) -> None:
    old = os.umask(0o077)
    try:
        write_durably(tmp_path / "page.html", b"<p>")
        write_durably(tmp_path / "secret.key", b"k", mode=0o600)
    finally:
        os.umask(old)
    assert stat.S_IMODE((tmp_path / "page.html").stat().st_mode) == 0o644
    assert stat.S_IMODE((tmp_path / "secret.key").stat().st_mode) == 0o600


def test_without_replace_the_first_writer_wins(tmp_path: Path) -> None:
    """A secret key made by two processes at once: the second keeps the first one's."""
    key = tmp_path / "secret.key"
    write_durably(key, b"first", mode=0o600, replace=False)
    with pytest.raises(FileExistsError):
        write_durably(key, b"second", mode=0o600, replace=False)
    assert key.read_bytes() == b"first"
    assert names(tmp_path) == ["secret.key"]


def test_write_new_file_never_overwrites(tmp_path: Path) -> None:
    target = tmp_path / "a"
    write_new_file(target, b"one")
    with pytest.raises(FileExistsError):
        write_new_file(target, b"two")
    assert target.read_bytes() == b"one"


def test_staged_files_appear_only_at_commit_and_unchanged_ones_are_not_staged(
        tmp_path: Path) -> None:
    (tmp_path / "same.html").write_bytes(b"same")
    files = StagedFiles()
    try:
        assert not files.add(tmp_path / "same.html", b"same")
        assert files.add(tmp_path / "deep" / "new.html", b"new")
        assert not (tmp_path / "deep" / "new.html").exists()
        files.commit()
        assert (tmp_path / "deep" / "new.html").read_bytes() == b"new"
        assert names(tmp_path / "deep") == ["new.html"]
    finally:
        files.close()


def test_a_failing_block_leaves_nothing_of_what_it_staged(tmp_path: Path) -> None:
    files = StagedFiles()
    try:
        with pytest.raises(RuntimeError), files.committed():
            files.add(tmp_path / "a.html", b"a")
            raise RuntimeError("rendering failed")
        assert names(tmp_path) == []
    finally:
        files.close()


def test_past_max_staged_a_batch_commits_by_itself(tmp_path: Path) -> None:
    files = StagedFiles(max_staged=3)
    try:
        for n in range(4):
            files.add(tmp_path / f"{n}.html", b"x")
        placed = [name for name in names(tmp_path) if not name.startswith(".")]
        assert placed == ["0.html", "1.html", "2.html"]
        assert len(files.files) == 1  # the fourth, staged
        files.commit()
        assert names(tmp_path) == [f"{n}.html" for n in range(4)]
    finally:
        files.close()


def test_a_rename_failing_midway_keeps_the_files_before_it_and_the_old_ones_after(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for n in range(4):
        (tmp_path / f"{n}.html").write_bytes(b"old")
    real, calls = os.replace, []

    def full_disk_at_the_third(src: str, dst: Path) -> None:
        calls.append(dst)
        if len(calls) == 3:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        real(src, dst)

    files = StagedFiles()
    try:
        for n in range(4):
            files.add(tmp_path / f"{n}.html", b"new")
        monkeypatch.setattr(os, "replace", full_disk_at_the_third)
        with pytest.raises(StagingError, match="No space left on device") as caught:
            files.commit()
    finally:
        files.close()
    assert caught.value.step == "write" and caught.value.path == tmp_path / "2.html"
    assert [(tmp_path / f"{n}.html").read_bytes() for n in range(4)] == [
        b"new", b"new", b"old", b"old"]
    assert names(tmp_path) == [f"{n}.html" for n in range(4)]
