"""Private key files: created atomically with mode 0600, read only when nobody else can.

Every secret the project keeps on disk (the log's note key, the anchoring account, the
embedded TSA and CA keys, the evidence-signing key, the portal's session secret) goes
through these two functions, so there is one answer to "who may read this file".

A key file must be a regular file (not a symbolic link, directory or FIFO) owned by the
current user with no group or other permission bits, as OpenSSH asks of private keys:
a key others can read can sign in the portal's name. Messages name the path and its mode,
never the content.
"""

from __future__ import annotations

import errno
import os
import secrets
import stat
from pathlib import Path

from anchoring.errors import KeyFileError
from anchoring.notes import NoteSigner

__all__ = [
    "create_note_signer",
    "create_private",
    "load_note_signer",
    "load_or_create_note_signer",
    "read_private",
]

_PRIVATE_MODE = 0o600


def create_private(path: Path, content: bytes) -> None:
    """Create ``path`` holding ``content`` with mode 0600; never overwrite an existing file.

    The content is written to a temporary sibling, synced, then hard-linked into place, so
    a crash never leaves a partial key under ``path`` and, of two processes racing, exactly
    one creates the file: the other gets :class:`FileExistsError` (and should read the
    winner's key). The parent directory must exist.
    """
    path = Path(path)
    temporary = path.with_name(f".{path.name}.{secrets.token_hex(8)}.tmp")
    # O_EXCL: the temporary name is ours alone and is never a link planted by someone else.
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, _PRIVATE_MODE)
    try:
        try:
            os.fchmod(fd, _PRIVATE_MODE)  # the umask may have removed bits, never added
            view = memoryview(content)
            while view:
                view = view[os.write(fd, view) :]
            os.fsync(fd)
        finally:
            os.close(fd)
        # link(2), unlike rename(2), fails when the target exists: the first creator wins.
        os.link(temporary, path)
    finally:
        temporary.unlink(missing_ok=True)
    _sync_directory(path.parent)


def read_private(path: Path) -> bytes:
    """The bytes of the key file ``path``, refusing a file that others could read or swap.

    Raises :class:`FileNotFoundError` when ``path`` does not exist (callers may then create
    it) and :class:`~anchoring.errors.KeyFileError` when it is not a regular file, is a
    symbolic link, is not owned by the current user, or has any group or other permission
    bit set.
    """
    path = Path(path)
    try:
        # O_NOFOLLOW: a link could point at someone else's file; O_NONBLOCK: a FIFO must
        # not hang the open (it is refused below).
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    except FileNotFoundError:
        raise
    except OSError as error:
        if error.errno == errno.ELOOP and path.is_symlink():
            raise KeyFileError(
                f"key file {path} is a symbolic link (mode {_mode(path.lstat().st_mode)}), "
                f"not a regular file; put the key itself there and run chmod 600 {path}"
            ) from None
        raise KeyFileError(f"cannot open key file {path}: {error.strerror}") from None
    try:
        info = os.fstat(fd)
        _check(path, info)
        with os.fdopen(fd, "rb") as handle:
            fd = -1  # the handle owns it now
            return handle.read()
    finally:
        if fd >= 0:
            os.close(fd)


def load_note_signer(path: str | os.PathLike[str], name: str) -> NoteSigner:
    """The C2SP note signer stored in ``path``; never creates one.

    Raises :class:`FileNotFoundError` when ``path`` does not exist, and
    :class:`~anchoring.errors.KeyFileError` for a file that group or others may read or write,
    one that is not a regular file, one that does not hold a note private key, or one whose key
    name is not ``name``. The private key is never logged or printed.
    """
    path = Path(path)
    text = read_private(path)
    # Undecodable bytes become U+FFFD, which the parser refuses without echoing the key.
    signer = NoteSigner.from_private_key_string(text.decode("ascii", errors="replace"))
    if signer.name != name:
        raise KeyFileError(f"key file {path} holds a key named {signer.name!r}, not {name!r}")
    return signer


def create_note_signer(path: str | os.PathLike[str], name: str) -> NoteSigner:
    """A new C2SP note signer named ``name``, stored in ``path`` (mode 0600).

    Never overwrites: of two processes creating the key at once, the second gets
    :class:`FileExistsError` and should load the first one's key.
    """
    path = Path(path)
    signer = NoteSigner.generate(name)
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    create_private(path, (signer.private_key_string() + "\n").encode("ascii"))
    return signer


def load_or_create_note_signer(path: str | os.PathLike[str], name: str) -> NoteSigner:
    """The C2SP note signer stored in ``path``, creating a new key there (mode 0600) if absent.

    Refuses (:class:`~anchoring.errors.KeyFileError`) a key file that group or others may read
    or write, one that is not a regular file, one that does not hold a note private key, or one
    whose key name is not ``name``. Of two processes creating the key at once, both end up with
    the one that was written first. The private key is never logged or printed.
    """
    path = Path(path)
    try:
        text = read_private(path)
    except FileNotFoundError:
        signer = NoteSigner.generate(name)
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        try:
            create_private(path, (signer.private_key_string() + "\n").encode("ascii"))
            return signer
        except FileExistsError:
            text = read_private(path)  # another process created it first; use theirs
    # Undecodable bytes become U+FFFD, which the parser refuses without echoing the key.
    signer = NoteSigner.from_private_key_string(text.decode("ascii", errors="replace"))
    if signer.name != name:
        raise KeyFileError(f"key file {path} holds a key named {signer.name!r}, not {name!r}")
    return signer


def _check(path: Path, info: os.stat_result) -> None:
    mode = _mode(info.st_mode)
    if not stat.S_ISREG(info.st_mode):
        raise KeyFileError(
            f"key file {path} is not a regular file (mode {mode}); "
            f"put the key itself there and run chmod 600 {path}"
        )
    if info.st_uid != os.geteuid():
        raise KeyFileError(
            f"key file {path} (mode {mode}) is owned by uid {info.st_uid}, not by the "
            f"current user (uid {os.geteuid()}); chown it to the current user and run "
            f"chmod 600 {path}"
        )
    if info.st_mode & 0o077:
        raise KeyFileError(
            f"key file {path} has mode {mode}; it must not be readable or writable by "
            f"group or others (chmod 600 {path})"
        )


def _mode(st_mode: int) -> str:
    return f"{stat.S_IMODE(st_mode):04o}"


def _sync_directory(directory: Path) -> None:
    # The new name is durable only once the directory entry is on disk.
    fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
