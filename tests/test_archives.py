"""pipelines.archives: zip members extracted with caps; bombs, traversal and links refused."""

from __future__ import annotations

import stat
import zipfile
from pathlib import Path

import pytest

from pipelines import archives
from pipelines.archives import ArchiveError, extract, is_zip


def write_zip(path: Path, members: dict[str, bytes], **kwargs: int) -> Path:
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED, **kwargs) as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return path


def test_members_are_extracted_by_their_archive_names(tmp_path: Path) -> None:
    archive = write_zip(
        tmp_path / "a.zip", {"meta.xml": b"<archive/>", "data/occurrence.txt": b"id\n1\n"}
    )
    members = extract(archive, tmp_path / "out", 1 << 20)
    assert sorted(members) == ["data/occurrence.txt", "meta.xml"]
    assert members["data/occurrence.txt"].read_bytes() == b"id\n1\n"
    assert members["meta.xml"].parent == tmp_path / "out"


def test_the_real_darwin_core_archive_opens(samples: Path, tmp_path: Path) -> None:
    sample = samples / "biodiversity" / "gbif-results_0000006-130717145108713.zip"
    assert is_zip(sample) and not is_zip(samples / "air" / "airbase_koeln_stations.csv")
    members = extract(sample, tmp_path / "out", 1 << 30)
    assert "meta.xml" in members and all(p.is_file() for p in members.values())


@pytest.mark.parametrize("name", ["../escape.txt", "/etc/evil", "a/../../b", "C:/evil", "a//b"])
def test_member_paths_that_leave_the_folder_are_refused(tmp_path: Path, name: str) -> None:
    archive = tmp_path / "evil.zip"
    with zipfile.ZipFile(archive, "w") as opened:
        opened.writestr(zipfile.ZipInfo(name), b"x")
    with pytest.raises(ArchiveError, match="leaves the archive"):
        extract(archive, tmp_path / "out", 1 << 20)
    assert not (tmp_path / "escape.txt").exists()


def test_symbolic_links_are_refused(tmp_path: Path) -> None:
    archive = tmp_path / "link.zip"
    info = zipfile.ZipInfo("link")
    info.external_attr = (stat.S_IFLNK | 0o777) << 16
    with zipfile.ZipFile(archive, "w") as opened:
        opened.writestr(info, "/etc/passwd")
    with pytest.raises(ArchiveError, match="symbolic link"):
        extract(archive, tmp_path / "out", 1 << 20)


def test_a_zip_bomb_is_stopped_by_its_ratio_without_writing_it_out(tmp_path: Path) -> None:
    archive = write_zip(tmp_path / "bomb.zip", {"zeros.csv": b"0" * (64 << 20)})
    assert archive.stat().st_size < 1 << 20  # 64 MiB of zeros compress to about 64 KiB
    with pytest.raises(ArchiveError, match="zip bomb"):
        extract(archive, tmp_path / "out", 1 << 30)
    assert not any(p.is_file() for p in (tmp_path / "out").rglob("*"))


def test_the_total_size_is_capped(tmp_path: Path) -> None:
    archive = write_zip(tmp_path / "big.zip", {"a": b"a" * 600, "b": b"b" * 600})
    with pytest.raises(ArchiveError, match="over its size limit"):
        extract(archive, tmp_path / "out", 1000)


def test_too_many_members_are_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(archives, "MAX_MEMBERS", 3)
    archive = write_zip(tmp_path / "many.zip", {f"{i}.txt": b"x" for i in range(4)})
    with pytest.raises(ArchiveError, match="holds 4 files, over 3"):
        extract(archive, tmp_path / "out", 1 << 20)


def test_a_truncated_archive_is_a_clear_error(tmp_path: Path) -> None:
    whole = write_zip(tmp_path / "whole.zip", {"a.csv": b"a,b\n" * 1000})
    cut = tmp_path / "cut.zip"
    cut.write_bytes(whole.read_bytes()[:-40])
    with pytest.raises(ArchiveError, match="not a readable zip archive"):
        extract(cut, tmp_path / "out", 1 << 20)
