"""Zip archives a feed arrives in (a Darwin Core Archive, a zipped NetCDF), opened with caps.

An archive is hostile until shown otherwise: members are counted and measured as they are
written (never trusting the sizes the archive declares), a member that expands more than
MAX_RATIO times or a total over the byte cap stops the extraction, and names that would land
outside the extraction folder (absolute, `..`, drive letters) or links are refused.
"""

from __future__ import annotations

import logging
import stat
import zipfile
from pathlib import Path, PurePosixPath

from pipelines.partial import writing

log = logging.getLogger(__name__)

MAX_MEMBERS = 10_000
MAX_RATIO = 200  # real data compresses 5-20 times; bombs compress a thousand times and more
RATIO_FLOOR = 1024 * 1024  # small members may compress far (a file of blanks) and do no harm
CHUNK_BYTES = 1024 * 1024


class ArchiveError(ValueError):
    """An archive that cannot be opened safely: broken, too large, or hostile."""


def is_zip(path: Path) -> bool:
    """Whether the file is a zip archive, by its content rather than its name."""
    return zipfile.is_zipfile(path)


def extract(archive: Path, folder: Path, max_bytes: int) -> dict[str, Path]:
    """Extract the archive's files into `folder`; returns member name → extracted path."""
    try:
        with zipfile.ZipFile(archive) as opened:
            infos = [info for info in opened.infolist() if not info.is_dir()]
            if len(infos) > MAX_MEMBERS:
                raise ArchiveError(f"{archive.name} holds {len(infos)} files, over {MAX_MEMBERS}")
            total, members = 0, {}
            for info in infos:
                target = folder / _safe_name(info)
                total += _extract_member(opened, info, target, max_bytes - total)
                members[info.filename] = target
    except (zipfile.BadZipFile, zipfile.LargeZipFile, EOFError, NotImplementedError) as exc:
        raise ArchiveError(f"{archive.name} is not a readable zip archive: {exc}") from exc
    log.info("extracted %d files (%d bytes) from %s", len(members), total, archive.name)
    return members


def _safe_name(info: zipfile.ZipInfo) -> PurePosixPath:
    """The member's relative path, or ArchiveError if it could land outside the folder."""
    name = info.filename.replace("\\", "/")
    path = PurePosixPath(name)
    if (
        not name
        or path.is_absolute()
        or ".." in path.parts
        or ":" in path.parts[0]
        or any(part in ("", ".") for part in name.split("/"))
    ):
        raise ArchiveError(f"refused archive member {info.filename!r}: its path leaves the archive")
    if stat.S_ISLNK(info.external_attr >> 16):
        raise ArchiveError(f"refused archive member {info.filename!r}: it is a symbolic link")
    return path


def _extract_member(
    opened: zipfile.ZipFile, info: zipfile.ZipInfo, target: Path, allowance: int
) -> int:
    """Write one member, stopping at the byte allowance or at a bomb's ratio; returns its size."""
    target.parent.mkdir(parents=True, exist_ok=True)
    compressed = max(info.compress_size, 1)
    written = 0
    with opened.open(info) as source, writing(target) as sink:
        while block := source.read(CHUNK_BYTES):
            written += len(block)
            if written > allowance:
                raise ArchiveError(f"{info.filename} takes the archive over its size limit")
            if written > RATIO_FLOOR and written / compressed > MAX_RATIO:
                raise ArchiveError(
                    f"{info.filename} expands over {MAX_RATIO} times its compressed size: "
                    "refused as a zip bomb"
                )
            sink.write(block)
    return written
