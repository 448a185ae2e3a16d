"""The folders local feeds may be read from, and how paths are shown where the public reads.

A `file://` url or a plain path in a source file is read only under an allowed root: the source
file's own folder, the source folders (`HUB_SOURCES_PATH` and the bundled ones), the samples
folder (`HUB_SAMPLES_DIR`), the demo feeds (`{data}/demo`) and `HUB_FILE_ROOTS`. Never the rest of
the data folder: it holds the database, the secret key and other sources' downloads.

Run errors are public for open datasets: the hub's own folders never appear in them, only a path
relative to a known folder (`{samples}/air/x.csv`, `feeds/x.csv`) or a file name.
"""

from __future__ import annotations

from pathlib import Path

from hub.config import get_settings
from hub.redaction import without_folders

ROOTS_RULE = (
    "local feeds are read only under the source file's folder, HUB_SOURCES_PATH, the bundled "
    "sources, HUB_SAMPLES_DIR, the demo feeds ({data}/demo) or HUB_FILE_ROOTS"
)


def allowed_roots(base: Path | None) -> list[Path]:
    """The real folders a source whose file lives in `base` may read local feeds under."""
    settings = get_settings()
    folders = [
        *settings.source_dirs,
        settings.samples_dir,
        settings.data_dir / "demo",
        *settings.file_roots,
    ]
    # The source's own folder is implied, not chosen: a source file at / does not open the disk.
    if base is not None and base.resolve() != Path(base.resolve().anchor):
        folders.insert(0, base)
    return list(dict.fromkeys(folder.resolve() for folder in folders))


def root_of(path: Path, base: Path | None) -> Path | None:
    """The allowed root holding `path` once its links and `..` are resolved, if any."""
    real = path.resolve()
    data_dir = get_settings().data_dir
    # The data folder stays closed even inside a root (`hub harvest ./x.yaml` run beside ./var).
    if real.is_relative_to(data_dir.resolve()) and not real.is_relative_to(
        (data_dir / "demo").resolve()
    ):
        return None
    return next((root for root in allowed_roots(base) if real.is_relative_to(root)), None)


def downloads_dir() -> Path:
    """The folder fetched feeds land in, one subfolder per source."""
    return get_settings().data_dir / "downloads"


def without_paths(text: str, base: Path | None = None) -> str:
    """`text` with the hub's folders cut out: downloads to file names, others to relative paths."""
    return without_folders(text, [base] if base is not None else [], [downloads_dir()])
