"""pipelines.archives: zip and tar members extracted with caps; bombs, traversal, links refused."""

from __future__ import annotations

import gzip
import io
import stat
import tarfile
import zipfile
from pathlib import Path

import pytest

from pipelines import archives
from pipelines.archives import ArchiveError, extract, is_archive, is_tar, is_zip
from pipelines.flows import harvest_source
from pipelines.readers import Fetched, read_records
from pipelines.sources import Operator, Source, load_source

GBIF_ZIP = "biodiversity/gbif-results_0000006-130717145108713.zip"
GBIF_SOURCE = (
    Path(__file__).parents[1] / "pipelines" / "sources" / "gbif-chelonodon-fluviatilis.yaml"
)


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
    with pytest.raises(ArchiveError, match="archive bomb"):
        extract(archive, tmp_path / "out", 1 << 30)
    assert not any(p.is_file() for p in (tmp_path / "out").rglob("*"))


def test_the_total_size_is_capped(tmp_path: Path) -> None:
    archive = write_zip(tmp_path / "big.zip", {"a": b"a" * 600, "b": b"b" * 600})
    with pytest.raises(ArchiveError, match="over its size limit"):
        extract(archive, tmp_path / "out", 1000)
    assert not (tmp_path / "out").exists()  # the first member, written whole, is removed too


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


# --- tar, plain or gzip-compressed ---------------------------------------------------------


def write_tar(path: Path, members: dict[str, bytes], mode: str = "w:gz") -> Path:
    with tarfile.open(path, mode) as archive:  # type: ignore[call-overload]
        for name, data in members.items():
            archive.addfile(
                tarfile.TarInfo(name) if not data else sized(name, data), io.BytesIO(data)
            )
    return path


def sized(name: str, data: bytes) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    return info


def write_entry(path: Path, info: tarfile.TarInfo, data: bytes = b"") -> Path:
    """A gzipped tar holding one file, then the hostile entry `info`."""
    with tarfile.open(path, "w:gz") as archive:
        archive.addfile(sized("meta.xml", b"<archive/>"), io.BytesIO(b"<archive/>"))
        archive.addfile(info, io.BytesIO(data))
    return path


def leftovers(folder: Path) -> list[Path]:
    return [p for p in folder.rglob("*") if p.is_file()] if folder.exists() else []


@pytest.mark.parametrize(("mode", "name"), [("w:gz", "feed.tgz"), ("w", "feed.bin")])
def test_tar_members_are_extracted_whatever_the_file_is_called(
    tmp_path: Path, mode: str, name: str
) -> None:
    archive = write_tar(
        tmp_path / name, {"meta.xml": b"<archive/>", "data/occurrence.txt": b"id\n1\n"}, mode
    )
    assert is_archive(archive) and is_tar(archive) and not is_zip(archive)
    members = extract(archive, tmp_path / "out", 1 << 20)
    assert sorted(members) == ["data/occurrence.txt", "meta.xml"]
    assert members["data/occurrence.txt"].read_bytes() == b"id\n1\n"
    assert members["meta.xml"] == tmp_path / "out" / "meta.xml"


def test_only_archives_are_taken_for_tars(samples: Path, tmp_path: Path) -> None:
    csv = samples / "air" / "airbase_koeln_stations.csv"
    gzipped = tmp_path / "stations.tgz"  # gzip, but of a csv: named like a tar, it is none
    gzipped.write_bytes(gzip.compress(csv.read_bytes()))
    assert not any(is_tar(p) or is_archive(p) for p in (csv, gzipped))
    assert is_archive(samples / GBIF_ZIP) and not is_tar(samples / GBIF_ZIP)


def gbif_as_tar(samples: Path, path: Path) -> Path:
    """The GBIF download's members, repacked as a (gzipped) tar the way a feed could serve it."""
    with zipfile.ZipFile(samples / GBIF_ZIP) as opened, tarfile.open(path, "w:gz") as packed:
        for info in opened.infolist():
            entry = tarfile.TarInfo(info.filename.rstrip("/"))
            if info.is_dir():
                entry.type = tarfile.DIRTYPE
                packed.addfile(entry)
            else:
                entry.size = info.file_size
                with opened.open(info) as member:
                    packed.addfile(entry, member)
    return path


@pytest.mark.parametrize("name", ["gbif.tgz", "gbif.tar.gz"])  # .tar.gz: gunzipped by fetch
def test_a_darwin_core_archive_as_tar_harvests_as_the_zip_does(
    samples: Path, tmp_path: Path, engine: object, name: str
) -> None:
    feeds = tmp_path / "feeds"
    feeds.mkdir()
    gbif_as_tar(samples, feeds / name)
    text = GBIF_SOURCE.read_text(encoding="utf-8")
    zip_url = "url: file://{samples}/" + GBIF_ZIP
    assert zip_url in text
    (feeds / "gbif.yaml").write_text(text.replace(zip_url, f"url: file:{name}"), encoding="utf-8")
    outcome = harvest_source(load_source(feeds / "gbif.yaml"))
    # The counts tests/readers/test_biodiversity_readers.py asserts for the zip itself.
    assert (outcome.status, outcome.read, outcome.published, outcome.quarantined) == (
        "succeeded", 158, 158, 0,
    ), outcome.message  # fmt: skip


@pytest.mark.parametrize("name", ["../escape.txt", "/etc/evil", "a/../../b", "C:/evil"])
def test_tar_paths_that_leave_the_folder_are_refused(tmp_path: Path, name: str) -> None:
    archive = write_entry(tmp_path / "evil.tgz", sized(name, b"x"), b"x")
    with tarfile.open(archive) as opened:
        assert opened.getnames()[-1] == name  # stored as written: nothing stripped on the way
    with pytest.raises(ArchiveError, match="leaves the archive"):
        extract(archive, tmp_path / "out", 1 << 20)
    assert not (tmp_path / "escape.txt").exists() and leftovers(tmp_path / "out") == []


@pytest.mark.parametrize(
    ("kind", "reason"),
    [
        (tarfile.SYMTYPE, "symbolic link"),
        (tarfile.LNKTYPE, "hard link"),
        (tarfile.FIFOTYPE, "special file"),
        (tarfile.CHRTYPE, "special file"),
    ],
)
def test_tar_links_and_special_files_are_refused(tmp_path: Path, kind: bytes, reason: str) -> None:
    entry = tarfile.TarInfo("occurrence.txt")
    entry.type, entry.linkname = kind, "meta.xml" if kind == tarfile.LNKTYPE else "/etc/passwd"
    archive = write_entry(tmp_path / "links.tgz", entry)
    with pytest.raises(ArchiveError, match=reason):
        extract(archive, tmp_path / "out", 1 << 20)
    assert leftovers(tmp_path / "out") == []  # meta.xml, extracted before, is removed


def test_a_tar_bomb_is_refused_by_its_ratio(tmp_path: Path) -> None:
    archive = write_tar(tmp_path / "bomb.tgz", {"zeros.csv": b"0" * (64 << 20)})
    assert archive.stat().st_size < 1 << 20  # 64 MiB of zeros compress to about 64 KiB
    with pytest.raises(ArchiveError, match="archive bomb"):
        extract(archive, tmp_path / "out", 1 << 30)
    assert leftovers(tmp_path / "out") == []


def test_a_bomb_hidden_in_a_long_name_header_is_stopped_while_reading(tmp_path: Path) -> None:
    # A GNU long-name block is read into memory whole: 64 MiB of name, 64 KiB compressed.
    entry = tarfile.TarInfo("././@LongLink")
    entry.type, entry.size = tarfile.GNUTYPE_LONGNAME, 64 << 20
    archive = write_entry(tmp_path / "longname.tgz", entry, b"a" * (64 << 20))
    with pytest.raises(ArchiveError, match="the whole archive.*archive bomb"):
        extract(archive, tmp_path / "out", 1 << 30)
    assert leftovers(tmp_path / "out") == []


def test_the_total_size_of_a_tar_is_capped(tmp_path: Path) -> None:
    archive = write_tar(tmp_path / "big.tar", {"a": b"a" * 600, "b": b"b" * 600}, "w")
    with pytest.raises(ArchiveError, match="b takes the archive over its size limit"):
        extract(archive, tmp_path / "out", 1000)
    assert not (tmp_path / "out").exists()


def test_a_tar_with_too_many_members_is_refused_and_removed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(archives, "MAX_MEMBERS", 3)
    archive = write_tar(tmp_path / "many.tgz", {f"d/{i}.txt": b"x" for i in range(4)})
    with pytest.raises(ArchiveError, match="holds over 3 members"):
        extract(archive, tmp_path / "out", 1 << 20)
    assert not (tmp_path / "out").exists()  # the three files and their folders written first


def tar_with_declared_size(declared: int, data: bytes) -> bytes:
    """A plain tar whose one header declares `declared` bytes for a member holding `data`."""
    header = sized("occurrence.txt", b"")
    header.size = declared
    padding = -len(data) % tarfile.BLOCKSIZE
    end = tarfile.NUL * (2 * tarfile.BLOCKSIZE)
    return header.tobuf(tarfile.GNU_FORMAT) + data + tarfile.NUL * padding + end


@pytest.mark.parametrize(
    ("declared", "error"),
    [
        (100, "unreadable header at byte 1024: a member's declared size is wrong"),
        (100_000, "not a readable tar archive: unexpected end of data"),
    ],
)
def test_a_header_whose_size_lies_is_refused(tmp_path: Path, declared: int, error: str) -> None:
    body = b"id,name\n" + b"1,x" * 500  # the data following the first 100 bytes is no header
    archive = tmp_path / "lying.tar"
    archive.write_bytes(tar_with_declared_size(declared, body))
    assert is_tar(archive)
    with pytest.raises(ArchiveError, match=error):
        extract(archive, tmp_path / "out", 1 << 20)
    assert leftovers(tmp_path / "out") == []


def test_a_truncated_gzipped_tar_is_a_clear_error(tmp_path: Path) -> None:
    whole = write_tar(
        tmp_path / "whole.tgz", {f"{i}.csv": bytes(range(256)) * 64 for i in range(8)}
    )
    cut = tmp_path / "cut.tgz"
    cut.write_bytes(whole.read_bytes()[: whole.stat().st_size // 2])
    with pytest.raises(ArchiveError, match="not a readable tar archive"):
        extract(cut, tmp_path / "out", 1 << 20)
    assert leftovers(tmp_path / "out") == []


def test_a_tar_cut_between_members_is_truncated_not_shorter(tmp_path: Path) -> None:
    whole = write_tar(tmp_path / "whole.tar", {"a.csv": b"a" * 600, "b.csv": b"b" * 600}, "w")
    cut = tmp_path / "cut.tar"
    cut.write_bytes(whole.read_bytes()[: 3 * tarfile.BLOCKSIZE])  # a.csv's header and data
    with pytest.raises(ArchiveError, match="truncated: it ends before its end-of-archive"):
        extract(cut, tmp_path / "out", 1 << 20)
    assert leftovers(tmp_path / "out") == []


# python-dwca-reader's dwca/test/sample_files/dwca-simple-test-archive.tgz (BelgianBiodiversity
# Platform/python-dwca-reader): made with `tar -C folder .`, its members are named `./meta.xml`,
# `./occurrence.txt` … Its meta.xml and occurrence.txt, as they are there (its eml.xml and the
# AppleDouble `./._*` files left out).
SIMPLE_META = """<archive xmlns="http://rs.tdwg.org/dwc/text/" metadata="eml.xml">
  <core encoding="utf-8" fieldsTerminatedBy="\\t" linesTerminatedBy="\\n" fieldsEnclosedBy="" ignoreHeaderLines="1" rowType="http://rs.tdwg.org/dwc/terms/Occurrence">
    <files>
      <location>occurrence.txt</location>
    </files>
    <id index="0" />
    <field index="1" term="http://rs.tdwg.org/dwc/terms/basisOfRecord"/>
    <field index="2" term="http://rs.tdwg.org/dwc/terms/locality"/>
    <field index="3" term="http://rs.tdwg.org/dwc/terms/family"/>
    <field index="4" term="http://rs.tdwg.org/dwc/terms/scientificName"/>
  </core>
</archive>
"""  # noqa: E501
SIMPLE_OCCURRENCES = (
    "id\tbasisOfRecord\tlocality\tfamily\tscientificName\n"
    "3\tObservation\tBorneo\tTetraodontidae\ttetraodon fluviatilis\n"
    "0\tObservation\tMumbai\tOsphronemidae\tbetta splendens\n"
)


def test_members_named_from_dot_are_read_by_the_dwca_reader(tmp_path: Path) -> None:
    archive = tmp_path / "dwca-simple-test-archive.tgz"
    with tarfile.open(archive, "w:gz") as packed:
        folder = tarfile.TarInfo("./")  # what `tar -C folder .` writes first
        folder.type = tarfile.DIRTYPE
        packed.addfile(folder)
        for name, text in (("meta.xml", SIMPLE_META), ("occurrence.txt", SIMPLE_OCCURRENCES)):
            data = text.encode("utf-8")
            packed.addfile(sized(f"./{name}", data), io.BytesIO(data))
    members = extract(archive, tmp_path / "out", 1 << 20)
    assert sorted(members) == ["meta.xml", "occurrence.txt"]
    source = Source(
        id="simple", title="Simple", operator=Operator("gbif", "GBIF"), theme="biodiversity",
        format="dwca", url="file:x.tgz", schema="biodiversity-occurrence", charter="gbif-cc-by",
    )  # fmt: skip
    chunks = list(read_records(source, Fetched(archive, members=members)))
    names = [name for c in chunks for name in c.frame["scientificName"].to_list()]
    assert names == ["tetraodon fluviatilis", "betta splendens"]


def test_a_link_already_in_the_folder_is_not_followed_out(tmp_path: Path) -> None:
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "data").symlink_to(elsewhere)  # left by something other than extract
    archive = write_tar(tmp_path / "feed.tgz", {"data/occurrence.txt": b"id\n1\n"})
    with pytest.raises(ArchiveError, match="outside the destination"):
        extract(archive, tmp_path / "out", 1 << 20)
    assert not any(elsewhere.iterdir())
