"""NetCDF grids (CAMS, ERA-Interim …): one file, described from its own metadata.

The grid is not turned into rows: the reader hands the gate the file and what `hub.grids`
reads of it (variables, dimensions, extent, time range, global attributes); the gate stores the
file and registers it as a grid resource. A zipped grid arrives as archive members: the one
`.nc` member is taken, or the one `options.member` names when the archive holds several.
"""

from __future__ import annotations

import logging
from pathlib import Path

from hub.batches import GridBatch
from hub.grids import GridDescription, GridError, describe_grid
from pipelines.readers.base import Fetched, Reader, ReaderError, batch_header
from pipelines.sources import Source

log = logging.getLogger(__name__)

SUFFIXES = (".nc", ".nc4", ".netcdf", ".cdf")


def read(source: Source, fetched: Fetched) -> GridBatch:
    """The grid batch of a NetCDF source: its file and its description."""
    path = grid_file(source, fetched)
    try:
        grid = describe_grid(path)
    except GridError as exc:
        raise ReaderError(f"source {source.id!r}: {exc}") from exc
    log.info("%s: %d variable(s), dimensions %s", source.id, len(grid.variables), grid.dimensions)
    return GridBatch(
        **batch_header(source, _description(source, grid)),
        path=path,
        variables=grid.variables,
        dimensions=grid.dimensions,
        bbox=grid.bbox,
        time_min=grid.time_min,
        time_max=grid.time_max,
        attributes=grid.attributes,
    )


def grid_file(source: Source, fetched: Fetched) -> Path:
    """The NetCDF file to describe: the fetched file, or the chosen member of an archive."""
    if not fetched.members:
        return fetched.path
    chosen = source.options.get("member")
    if chosen:
        return fetched.member(str(chosen))
    grids = sorted(
        name
        for name in fetched.members
        if name.lower().endswith(SUFFIXES) and not name.startswith("__MACOSX/")
    )
    if len(grids) == 1:
        return fetched.members[grids[0]]
    if not grids:
        held = ", ".join(sorted(fetched.members))
        raise ReaderError(f"source {source.id!r}: the archive holds no .nc file (it holds: {held})")
    raise ReaderError(
        f"source {source.id!r}: the archive holds several NetCDF files ({', '.join(grids)}): "
        "name the one to publish in options.member"
    )


def _description(source: Source, grid: GridDescription) -> str:
    """The source's description, then the file's own title and what of the file was not read."""
    title = grid.attributes.get("title", "")
    added = [f"File title: {title}"] if title and title not in source.description else []
    added += [f"Not read from the file: {note}." for note in grid.notes]
    if not added:
        return source.description
    return "\n\n".join([source.description, *added]).strip()


# `options.member` (which file of an archive) is a fetch option: no option of its own.
READER = Reader("netcdf", "grids", read)
