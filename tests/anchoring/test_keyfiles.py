"""Private key files: created 0600 without overwriting, read only when nobody else can."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from anchoring import keyfiles
from anchoring.errors import KeyFileError
from anchoring.keyfiles import create_private, load_or_create_note_signer, read_private

SECRET = b"PRIVATE+KEY+veraz.test/log+0123abcd+c2VjcmV0IGtleSBieXRlcw==\n"
NOBODY = 65534


def mode_of(path: Path) -> int:
    return stat.S_IMODE(os.stat(path, follow_symlinks=False).st_mode)


def test_created_0600_and_read_back(tmp_path: Path) -> None:
    path = tmp_path / "log.key"
    create_private(path, SECRET)
    assert mode_of(path) == 0o600
    assert stat.S_ISREG(os.stat(path).st_mode)
    assert read_private(path) == SECRET
    assert sorted(p.name for p in tmp_path.iterdir()) == ["log.key"]  # no temporary left


def test_created_0600_whatever_the_umask(tmp_path: Path) -> None:
    previous = os.umask(0)
    try:
        create_private(tmp_path / "log.key", SECRET)
    finally:
        os.umask(previous)
    assert mode_of(tmp_path / "log.key") == 0o600


def test_never_overwrites(tmp_path: Path) -> None:
    path = tmp_path / "log.key"
    create_private(path, SECRET)
    with pytest.raises(FileExistsError):
        create_private(path, b"another key")
    assert read_private(path) == SECRET
    assert sorted(p.name for p in tmp_path.iterdir()) == ["log.key"]


def test_never_writes_through_a_link(tmp_path: Path) -> None:
    target = tmp_path / "elsewhere"
    (tmp_path / "log.key").symlink_to(target)  # dangling: a plain open would create target
    with pytest.raises(FileExistsError):
        create_private(tmp_path / "log.key", SECRET)
    assert not target.exists()


def test_failure_leaves_no_partial_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def broken_fsync(fd: int) -> None:
        raise OSError(5, "Input/output error")

    monkeypatch.setattr(keyfiles.os, "fsync", broken_fsync)
    with pytest.raises(OSError, match="Input/output"):
        create_private(tmp_path / "log.key", SECRET)
    assert list(tmp_path.iterdir()) == []


def test_failed_link_leaves_no_temporary(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def broken_link(source: str, target: str) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(keyfiles.os, "link", broken_link)
    with pytest.raises(OSError, match="No space"):
        create_private(tmp_path / "log.key", SECRET)
    assert list(tmp_path.iterdir()) == []


def test_missing_file_is_file_not_found(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        read_private(tmp_path / "absent.key")


@pytest.mark.parametrize("mode", [0o644, 0o640, 0o604, 0o660, 0o602, 0o620, 0o606, 0o610])
def test_loose_mode_is_refused_with_the_fix(tmp_path: Path, mode: int) -> None:
    path = tmp_path / "log.key"
    create_private(path, SECRET)
    path.chmod(mode)
    with pytest.raises(KeyFileError) as info:
        read_private(path)
    message = str(info.value)
    assert str(path) in message
    assert f"{mode:04o}" in message
    assert f"chmod 600 {path}" in message
    assert SECRET.decode().strip() not in message and SECRET.decode().strip() not in repr(info.value)


@pytest.mark.parametrize("mode", [0o400, 0o600, 0o700])
def test_owner_only_modes_are_accepted(tmp_path: Path, mode: int) -> None:
    path = tmp_path / "log.key"
    create_private(path, SECRET)
    path.chmod(mode)
    assert read_private(path) == SECRET


def test_directory_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "log.key"
    path.mkdir(mode=0o700)
    with pytest.raises(KeyFileError, match="not a regular file") as info:
        read_private(path)
    assert f"chmod 600 {path}" in str(info.value) and "0700" in str(info.value)


def test_fifo_is_refused_without_hanging(tmp_path: Path) -> None:
    path = tmp_path / "log.key"
    os.mkfifo(path, 0o600)
    with pytest.raises(KeyFileError, match="not a regular file"):
        read_private(path)


def test_symlink_is_refused_even_to_a_private_file(tmp_path: Path) -> None:
    real = tmp_path / "real.key"
    create_private(real, SECRET)
    link = tmp_path / "log.key"
    link.symlink_to(real)
    with pytest.raises(KeyFileError, match="symbolic link") as info:
        read_private(link)
    assert f"chmod 600 {link}" in str(info.value)


@pytest.mark.skipif(os.geteuid() != 0, reason="giving a file to another user needs root")
def test_symlink_to_someone_elses_file_is_refused(tmp_path: Path) -> None:
    theirs = tmp_path / "theirs.key"
    create_private(theirs, SECRET)
    os.chown(theirs, NOBODY, NOBODY)
    link = tmp_path / "log.key"
    link.symlink_to(theirs)
    with pytest.raises(KeyFileError, match="symbolic link"):
        read_private(link)


@pytest.mark.skipif(os.geteuid() != 0, reason="giving a file to another user needs root")
def test_someone_elses_file_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "log.key"
    create_private(path, SECRET)
    os.chown(path, NOBODY, NOBODY)
    with pytest.raises(KeyFileError, match=f"owned by uid {NOBODY}") as info:
        read_private(path)
    assert "0600" in str(info.value) and f"chmod 600 {path}" in str(info.value)
    assert SECRET.decode().strip() not in str(info.value)


# --- The log's note key -----------------------------------------------------------------------


def test_note_key_file_created_0600_and_reloaded(tmp_path):
    path = tmp_path / "keys" / "log.key"
    first = load_or_create_note_signer(path, "veraz.test/log")
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert path.read_text().startswith("PRIVATE+KEY+veraz.test/log+")
    again = load_or_create_note_signer(path, "veraz.test/log")
    assert again.public_key == first.public_key
    assert str(again.verifier()) == str(first.verifier())


def test_note_key_file_readable_by_others_refused(tmp_path):
    path = tmp_path / "log.key"
    load_or_create_note_signer(path, "veraz.test/log")
    os.chmod(path, 0o644)
    with pytest.raises(KeyFileError, match="chmod 600"):
        load_or_create_note_signer(path, "veraz.test/log")


def test_note_key_file_for_other_name_refused(tmp_path):
    path = tmp_path / "log.key"
    load_or_create_note_signer(path, "veraz.test/log")
    with pytest.raises(KeyFileError, match="named"):
        load_or_create_note_signer(path, "veraz.test/other")


def test_note_key_file_garbage_refused(tmp_path):
    path = tmp_path / "log.key"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT, 0o600)
    os.write(fd, b"not a key\n")
    os.close(fd)
    with pytest.raises(KeyFileError):
        load_or_create_note_signer(path, "veraz.test/log")
