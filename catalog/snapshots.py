"""A content-addressed snapshot store for file datasets: blobs named by the sha256 of their bytes.

Layout: `<root>/<aa>/<bbbb…>` where `aabbbb…` is the hex sha256; identical bytes are stored
once (deduplicated), blobs are read-only, and every write goes through a temporary file that is
fsynced and renamed into place, so a crash never leaves a half-written blob or data file. The
root is `CHARTER_SNAPSHOT_ROOT` (default `<var>/snapshots`): any path a deployment mounts.

This module is storage only (no models, no ledger); catalog.versioning holds the governance.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import os
import re
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO

from django.conf import settings

CHUNK = 1024 * 1024
COPY_RANGE = 64 * CHUNK  # bytes per copy_file_range call
# copy_file_range refused: across file systems on old kernels, unsupported, or not a file.
_NO_KERNEL_COPY = {errno.EXDEV, errno.ENOSYS, errno.EINVAL, errno.EOPNOTSUPP, errno.EBADF}
_HEX = re.compile(r"^[0-9a-f]{64}$")


class SnapshotError(Exception):
    """A snapshot operation was refused; the message says why, for a person to read."""


class SnapshotMismatch(SnapshotError):
    """The bytes read did not hash to the fingerprint expected (the file changed)."""


def snapshot_root() -> Path:
    configured = getattr(settings, "CHARTER_SNAPSHOT_ROOT", None) or os.environ.get(
        "CHARTER_SNAPSHOT_ROOT"
    )
    return Path(configured) if configured else Path(settings.VAR_DIR) / "snapshots"


def _fsync_dir(path: Path) -> None:
    """Make a rename durable: fsync the directory that holds the new name (POSIX)."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(CHUNK), b""):
            digest.update(block)
    return digest.hexdigest()


def _sha256_of(handle: IO[bytes]) -> str:
    digest = hashlib.sha256()
    for block in iter(lambda: handle.read(CHUNK), b""):
        digest.update(block)
    return digest.hexdigest()


def _copy_hashing(src: IO[bytes], out: IO[bytes]) -> str:
    """Copy through Python, hashing each block on the way; return the hash."""
    digest = hashlib.sha256()
    for block in iter(lambda: src.read(CHUNK), b""):
        digest.update(block)
        out.write(block)
    return digest.hexdigest()


def _kernel_copy(src: IO[bytes], out: IO[bytes]) -> bool:
    """Copy all of `src` into the empty `out` inside the kernel; False (both files rewound,
    `out` emptied) where the platform or file system cannot, so the caller copies itself."""
    copy_range = getattr(os, "copy_file_range", None)  # Linux only
    if copy_range is None:
        return False
    try:
        while copy_range(src.fileno(), out.fileno(), COPY_RANGE):
            pass  # 0 means end of file, read up to then (a file still growing is refused later)
    except OSError as exc:
        if exc.errno not in _NO_KERNEL_COPY:
            raise
        src.seek(0)
        out.seek(0)
        out.truncate()
        return False
    return True


class SnapshotStore:
    def __init__(self, root: Path | str | None = None) -> None:
        self.root = Path(root) if root is not None else snapshot_root()

    # --- naming -------------------------------------------------------------------------------

    def path_for(self, digest: str) -> Path:
        if not _HEX.match(digest or ""):
            raise SnapshotError(f"{digest!r} is not a sha256 fingerprint.")
        return self.root / digest[:2] / digest[2:]

    def has(self, digest: str) -> bool:
        try:
            return self.path_for(digest).is_file()
        except SnapshotError:
            return False

    def digests(self) -> Iterator[str]:
        """Every blob in the store (for audits of the store itself)."""
        if not self.root.is_dir():
            return
        for sub in sorted(self.root.iterdir()):
            if len(sub.name) == 2 and sub.is_dir():
                for blob in sorted(sub.iterdir()):
                    if _HEX.match(sub.name + blob.name):
                        yield sub.name + blob.name

    # --- writing ------------------------------------------------------------------------------

    def _tmp_dir(self) -> Path:
        tmp = self.root / "tmp"
        tmp.mkdir(parents=True, exist_ok=True)
        return tmp

    def put_stream(self, chunks: Iterator[bytes], *, expected: str | None = None) -> str:
        """Store bytes from `chunks`; return their sha256. With `expected`, refuse (and store
        nothing) unless the bytes hash to it. Storing bytes already present is a no-op."""

        def write(out: IO[bytes]) -> str:
            digest = hashlib.sha256()
            for block in chunks:
                digest.update(block)
                out.write(block)
            return digest.hexdigest()

        return self._put(write, expected)

    def put_file(self, path: Path | str, *, expected: str | None = None) -> str:
        """Store a file's bytes, like `put_stream`.

        The kernel copies the file (`copy_file_range`: no trip through Python's buffers, which
        made the copy and its fsync 2-3x slower on a 1 GB file), then the copy itself is
        hashed. So the name is the hash of exactly the bytes kept, and a file that changed
        since it was fingerprinted is refused by `expected` as before.
        """
        with open(path, "rb") as handle:

            def write(out: IO[bytes]) -> str:
                if not _kernel_copy(handle, out):
                    return _copy_hashing(handle, out)
                out.seek(0)
                return _sha256_of(out)

            return self._put(write, expected)

    def _put(self, write: Callable[[IO[bytes]], str], expected: str | None) -> str:
        """Let `write` fill a temporary file and return the sha256 of what it wrote, then
        rename the file into place under that name (or refuse it if `expected` differs)."""
        fd, tmp_name = tempfile.mkstemp(dir=self._tmp_dir(), prefix="put-")
        tmp = Path(tmp_name)
        try:
            with os.fdopen(fd, "w+b") as out:
                value = write(out)
                out.flush()
                os.fsync(out.fileno())
            if expected is not None and value != expected:
                raise SnapshotMismatch(
                    f"The bytes read hash to {value[:12]}…, not {expected[:12]}…: the file "
                    "changed while it was read."
                )
            final = self.path_for(value)
            if final.is_file():
                return value  # deduplicated: same bytes, same name
            final.parent.mkdir(parents=True, exist_ok=True)
            os.chmod(tmp, 0o444)
            os.replace(tmp, final)
            _fsync_dir(final.parent)
            return value
        finally:
            with contextlib.suppress(FileNotFoundError):
                tmp.unlink()

    def put_bytes(self, data: bytes) -> str:
        return self.put_stream(iter([data]))

    def remove(self, digest: str) -> bool:
        """Delete one blob; returns whether it existed."""
        path = self.path_for(digest)
        try:
            os.chmod(path, 0o644)
            path.unlink()
        except FileNotFoundError:
            return False
        _fsync_dir(path.parent)
        return True

    # --- reading ------------------------------------------------------------------------------

    def open(self, digest: str):  # noqa: ANN201 - a binary file object
        path = self.path_for(digest)
        if not path.is_file():
            raise SnapshotError(f"No snapshot {digest[:12]}… is kept.")
        return open(path, "rb")

    def read_bytes(self, digest: str, *, verify: bool = True) -> bytes:
        with self.open(digest) as handle:
            data = handle.read()
        if verify and hashlib.sha256(data).hexdigest() != digest:
            raise SnapshotError(f"Snapshot {digest[:12]}… is damaged: its bytes no longer match.")
        return data

    # --- restoring ----------------------------------------------------------------------------

    def restore_to(self, digest: str, dest: Path | str, *, expected_current: str | None) -> None:
        """Replace `dest` with the blob's bytes atomically: write a temporary file beside it,
        fsync, rename over, fsync the folder. With `expected_current`, refuse when `dest` no
        longer holds those bytes (someone changed the file since it was read)."""
        dest = Path(dest)
        if expected_current is not None:
            current = file_sha256(dest) if dest.exists() else None
            if current != expected_current:
                raise SnapshotMismatch(
                    f"The file at {dest} changed since Charter last read it "
                    f"(now {str(current)[:12]}…, recorded {expected_current[:12]}…). "
                    "Profile it first so the change is recorded as a version."
                )
        source = self.path_for(digest)
        if not source.is_file():
            raise SnapshotError(f"No snapshot {digest[:12]}… is kept, so it cannot be restored.")
        fd, tmp_name = tempfile.mkstemp(dir=dest.parent, prefix=f".{dest.name}.restore-")
        tmp = Path(tmp_name)
        try:
            check = hashlib.sha256()
            with open(source, "rb") as src, os.fdopen(fd, "wb") as out:
                for block in iter(lambda: src.read(CHUNK), b""):
                    check.update(block)
                    out.write(block)
                out.flush()
                os.fsync(out.fileno())
            if check.hexdigest() != digest:
                raise SnapshotError(f"Snapshot {digest[:12]}… is damaged; nothing was restored.")
            if dest.exists():
                os.chmod(tmp, dest.stat().st_mode & 0o777)
            os.replace(tmp, dest)
            _fsync_dir(dest.parent)
        finally:
            with contextlib.suppress(FileNotFoundError):
                tmp.unlink()
