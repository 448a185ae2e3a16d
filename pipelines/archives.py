"""Archives a feed arrives in (a Darwin Core Archive, a zipped NetCDF), opened with caps.

Zip and tar, plain or gzip-compressed, recognised by their content rather than their name. An
archive is hostile until shown otherwise: members are counted and measured as they are written
(never trusting the sizes the archive declares), an archive that expands more than MAX_RATIO
times or a total over the byte cap stops the extraction, and names that would land outside the
extraction folder (absolute, `..`, drive letters), links and special files are refused. A refused
archive leaves nothing behind: what it had written is removed.
"""

from __future__ import annotations

import gzip
import logging
import stat
import tarfile
import zipfile
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path, PurePosixPath
from typing import IO, BinaryIO

from pipelines.partial import writing

log = logging.getLogger(__name__)

MAX_MEMBERS = 10_000
MAX_RATIO = 200  # real data compresses 5-20 times; bombs compress a thousand times and more
RATIO_FLOOR = 1024 * 1024  # small members may compress far (a file of blanks) and do no harm
CHUNK_BYTES = 1024 * 1024
GZIP_MAGIC = b"\x1f\x8b"
ITSELF = (".", "./")  # the folder a `tar -C folder .` archive was made of, as its first member


class ArchiveError(ValueError):
    """An archive that cannot be opened safely: broken, too large, or hostile."""


def is_archive(path: Path) -> bool:
    """Whether the file is an archive `extract` opens (zip, tar, gzip-compressed tar)."""
    return is_zip(path) or is_tar(path)


def is_zip(path: Path) -> bool:
    """Whether the file is a zip archive, by its content rather than its name."""
    return zipfile.is_zipfile(path)


def is_tar(path: Path) -> bool:
    """Whether the file is a tar archive, plain or gzip-compressed, by its content."""
    try:
        with _decompressed(path) as stream:
            block = stream.read(tarfile.BLOCKSIZE)
        # What tarfile.is_tarfile checks (a header's checksum), without reading on.
        tarfile.TarInfo.frombuf(block, "utf-8", "surrogateescape")
    except (tarfile.HeaderError, OSError, EOFError, zlib.error):
        return False
    return True


def extract(archive: Path, folder: Path, max_bytes: int) -> dict[str, Path]:
    """Extract the archive's files into `folder`; returns member path (no `./`) → extracted path."""
    written = _Written(folder)
    try:
        if is_tar(archive):
            members = _extract_tar(archive, written, max_bytes)
        else:  # a zip, or something zipfile will name as broken
            members = _extract_zip(archive, written, max_bytes)
    except BaseException:
        written.remove()
        raise
    log.info("extracted %d files (%d bytes) from %s", len(members), written.total, archive.name)
    return members


def _extract_zip(archive: Path, written: _Written, max_bytes: int) -> dict[str, Path]:
    try:
        with zipfile.ZipFile(archive) as opened:
            infos = [info for info in opened.infolist() if not info.is_dir()]
            if len(infos) > MAX_MEMBERS:
                raise ArchiveError(f"{archive.name} holds {len(infos)} files, over {MAX_MEMBERS}")
            members = {}
            for info in infos:
                path = _safe_name(info.filename)
                if stat.S_ISLNK(info.external_attr >> 16):
                    raise ArchiveError(_refused(info.filename, "it is a symbolic link"))
                bomb_at = max(RATIO_FLOOR, MAX_RATIO * info.compress_size)
                with opened.open(info) as source:
                    target = written.file(path, source, max_bytes, bomb_at, info.filename)
                members[path.as_posix()] = target
    except (zipfile.BadZipFile, zipfile.LargeZipFile, EOFError, NotImplementedError) as exc:
        raise ArchiveError(f"{archive.name} is not a readable zip archive: {exc}") from exc
    return members


def _extract_tar(archive: Path, written: _Written, max_bytes: int) -> dict[str, Path]:
    """Read the tar in one pass, headers checked before and sizes counted while writing."""
    # The whole decompressed stream, headers included, is held to the ratio: a GNU long name
    # or pax header claiming gigabytes would otherwise be read into memory whole.
    bomb_at = max(RATIO_FLOOR, MAX_RATIO * archive.stat().st_size)
    members: dict[str, Path] = {}
    try:
        with (
            _decompressed(archive) as raw,
            tarfile.open(fileobj=_Capped(raw, bomb_at, archive.name), mode="r:") as opened,
        ):
            for count, member in enumerate(opened, start=1):
                if count > MAX_MEMBERS:
                    raise ArchiveError(f"{archive.name} holds over {MAX_MEMBERS} members")
                if member.isdir() and member.name in ITSELF:
                    continue
                path = _tar_path(member, written.root)
                if member.isdir():
                    written.folder_for(path)
                    continue
                if member.size > max_bytes - written.total:
                    raise ArchiveError(_over_size(member.name, "its header declares"))
                if member.size > bomb_at - written.total:
                    raise ArchiveError(_bomb(member.name, "its header declares"))
                source = opened.extractfile(member)
                assert source is not None  # a regular file, checked above
                with source:
                    members[path.as_posix()] = written.file(
                        path, source, max_bytes, bomb_at - written.total, member.name, member.size
                    )
            _check_end(opened, archive.name)
    except (tarfile.TarError, EOFError, zlib.error) as exc:
        raise ArchiveError(f"{archive.name} is not a readable tar archive: {exc}") from exc
    except OSError as exc:  # gzip.BadGzipFile; a member name both a file and a folder
        raise ArchiveError(f"{archive.name} cannot be extracted: {exc}") from exc
    return members


def _tar_path(member: tarfile.TarInfo, folder: Path) -> PurePosixPath:
    """A tar member's relative path, or ArchiveError unless it is a plain file or folder."""
    path = _safe_name(member.name)
    reasons = [
        (member.issym(), "it is a symbolic link"),
        (member.islnk(), "it is a hard link"),
        (member.issparse(), "it is a sparse file"),  # its data expands past what it stores
        (not (member.isreg() or member.isdir()), "it is a device, FIFO or other special file"),
    ]
    if reason := next((reason for refused, reason in reasons if refused), None):
        raise ArchiveError(_refused(member.name, reason))
    try:  # the standard library's own rules too: it also resolves links already in `folder`
        tarfile.data_filter(member, str(folder))
    except tarfile.FilterError as exc:
        raise ArchiveError(_refused(member.name, str(exc))) from exc
    return path


def _check_end(opened: tarfile.TarFile, name: str) -> None:
    """Refuse a tar whose reading stopped short of its end-of-archive marker.

    tarfile ends its member list quietly at the first unreadable header: a member whose header
    claims fewer bytes than it holds, or an archive cut off between members, would otherwise
    pass for a whole archive with fewer files.
    """
    capped = opened.fileobj
    assert isinstance(capped, _Capped)
    if capped.last_block == tarfile.NUL * tarfile.BLOCKSIZE:
        return
    if len(capped.last_block) < tarfile.BLOCKSIZE:
        raise ArchiveError(f"{name} is truncated: it ends before its end-of-archive marker")
    raise ArchiveError(
        f"{name} holds an unreadable header at byte {opened.offset}: a member's declared size "
        "is wrong or the archive is damaged"
    )


def _safe_name(name: str) -> PurePosixPath:
    """The member's relative path, or ArchiveError if it could land outside the folder."""
    slashed = name.replace("\\", "/").rstrip("/")  # a tar folder's name may end with "/"
    while slashed.startswith("./"):  # `tar -czf feed.tgz -C folder .` names members ./x
        slashed = slashed[2:]
    path = PurePosixPath(slashed)
    if (
        not slashed
        or path.is_absolute()
        or ".." in path.parts
        or ":" in path.parts[0]
        or any(part in ("", ".") for part in slashed.split("/"))
    ):
        raise ArchiveError(_refused(name, "its path leaves the archive"))
    return path


def _refused(name: str, reason: str) -> str:
    return f"refused archive member {name!r}: {reason}"


def _over_size(name: str, how: str) -> str:
    return f"{name} takes the archive over its size limit ({how})"


def _bomb(name: str, how: str) -> str:
    return (
        f"{name} expands over {MAX_RATIO} times its compressed size ({how}): "
        "refused as an archive bomb"
    )


@contextmanager
def _decompressed(path: Path) -> Iterator[BinaryIO]:
    """The file's bytes, gunzipped if they start with gzip's magic number."""
    with path.open("rb") as file:
        if file.read(len(GZIP_MAGIC)) != GZIP_MAGIC:
            file.seek(0)
            yield file
            return
        file.seek(0)
        with gzip.GzipFile(fileobj=file, mode="rb") as unzipped:
            yield unzipped  # type: ignore[misc]  # GzipFile is a binary file


class _Capped:
    """A forward-only view of a stream that stops at `limit` bytes read (skips included),
    remembering the last block read: tarfile reads each header as one 512-byte block."""

    def __init__(self, raw: IO[bytes], limit: int, name: str) -> None:
        self.raw, self.limit, self.name = raw, limit, name
        self.position = 0
        self.last_block = b""

    def read(self, size: int = -1) -> bytes:
        wanted = self.limit + 1 - self.position
        block = self.raw.read(wanted if size < 0 else min(size, wanted))
        self.position += len(block)
        if self.position > self.limit:
            raise ArchiveError(_bomb(self.name, "the whole archive"))
        self.last_block = block
        return block

    def seek(self, offset: int, whence: int = 0) -> int:
        if whence != 0 or offset < self.position:
            raise ArchiveError(f"{self.name}: the tar reader seeks backwards (not supported)")
        while self.position < offset:  # skipped bytes are decompressed too: they count
            if self.position >= self.limit:
                raise ArchiveError(_bomb(self.name, "the whole archive"))
            skipped = self.raw.read(min(CHUNK_BYTES, offset - self.position))
            if not skipped:
                break  # past the end: the read that follows finds nothing
            self.position += len(skipped)
        return self.position

    def tell(self) -> int:
        return self.position

    def write(self, data: bytes) -> int:  # tarfile's protocol names it; reading never calls it
        raise OSError("a capped archive stream is read-only")

    def close(self) -> None:
        """Nothing to close: the stream underneath belongs to whoever opened it."""


class _Written:
    """The files and folders an extraction made, so a refused archive leaves none behind."""

    def __init__(self, folder: Path) -> None:
        self.root = folder
        self.total = 0
        self.paths: list[Path] = []

    def folder_for(self, relative: PurePosixPath) -> Path:
        """The folder at `relative`, made (with its parents) if missing."""
        if not self.root.is_dir():
            self.root.mkdir(parents=True)
            self.paths.append(self.root)
        folder = self.root
        for part in relative.parts:
            folder = folder / part
            if not folder.is_dir():
                folder.mkdir()  # a file of that name: FileExistsError
                self.paths.append(folder)
        return folder

    def file(
        self,
        relative: PurePosixPath,
        source: IO[bytes],
        max_bytes: int,
        bomb_at: int,
        name: str,
        declared: int | None = None,
    ) -> Path:
        """Copy one member, stopping at the byte cap or past `bomb_at` bytes, as written."""
        target = self.folder_for(relative.parent) / relative.name
        written = 0
        with writing(target) as sink:
            while block := source.read(CHUNK_BYTES):
                written += len(block)
                if self.total + written > max_bytes:
                    raise ArchiveError(_over_size(name, "counted while writing"))
                if written > bomb_at:
                    raise ArchiveError(_bomb(name, "counted while writing"))
                sink.write(block)
            if declared is not None and written != declared:
                raise ArchiveError(f"{name} holds {written} bytes, its header declares {declared}")
            self.paths.append(target)
        self.total += written
        return target

    def remove(self) -> None:
        """Remove what this extraction wrote, newest first (a folder after its contents)."""
        for path in reversed(self.paths):
            if not path.is_dir():
                path.unlink(missing_ok=True)
            elif not any(path.iterdir()):  # a folder that held files before is not ours to empty
                path.rmdir()
