"""The harvest source files the hub can read, for the pages and documents that describe them
(the operator's dashboard, the DCAT frequency of a dataset): surveyed again only when a file of
the source folders changes, since every dashboard and catalogue page asks."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from hub.config import get_settings

if TYPE_CHECKING:
    from pipelines.sources import Source

log = logging.getLogger(__name__)

_sources: dict[tuple[tuple[str, int], ...], tuple[list[Source], list[str]]] = {}


def all_sources() -> tuple[list[Source], list[str]]:
    """Every harvest source file that can be read (read again only when a file changes), and
    the names of those that cannot (`hub sources` says why)."""
    from pipelines.sources import SOURCE_SUFFIXES, survey_sources

    stamp = tuple(
        (str(path), path.stat().st_mtime_ns)
        for folder in get_settings().source_dirs
        if folder.is_dir()
        for path in sorted(folder.iterdir())
        if path.suffix in SOURCE_SUFFIXES
    )
    if stamp not in _sources:
        try:
            survey = survey_sources()
        except OSError as error:
            log.warning("the source folders cannot be read: %s", error)
            return [], ["?"]
        names = sorted({p.path.name for p in survey.problems if p.path is not None})
        _sources.clear()
        _sources[stamp] = (survey.sources, names)
    return _sources[stamp]


def dataset_of(source: Source) -> str:
    """The dataset a source publishes to."""
    from pipelines.portalfiles import dataset_of as published_to

    return published_to(source)
