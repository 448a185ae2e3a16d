"""The thesaurus: words that name the same thing, across French and English, as search synonyms.

Operators describe their data in their own language (GBIF, FIRMS and USGS in English, a city in
French), and an agent searches in hers: `incendie` must find "Active fires", `espèces` the
occurrences of a species. The schemas' enum labels already join the names of a code (`dioxyde
d'azote` is `no2`); the thesaurus joins the words of the four families that no schema holds. It
is reviewed data, like schemas and charters: YAML files of `groups` in `thesaurus/` and the
territory's folders of HUB_THESAURUS_PATH, read together (a territory adds its own words, it
cannot take the bundled ones away). A file that cannot be read is left out with a warning: one
broken file must not take the other synonyms away from every search.
"""

from __future__ import annotations

import logging
from pathlib import Path

import yaml

from hub.config import PROJECT_ROOT, get_settings

BUNDLED = PROJECT_ROOT / "thesaurus"
MAX_NAME = 100  # characters of one name: a phrase, not a text
MAX_GROUP = 50  # names of one group

log = logging.getLogger(__name__)


class ThesaurusError(ValueError):
    """A thesaurus file that cannot be used, with the file and the reasons."""

    def __init__(self, path: Path, problems: list[str]) -> None:
        self.path, self.problems = path, problems
        super().__init__(f"{path.name}: {'; '.join(problems)}")


def thesaurus_dirs() -> list[Path]:
    """Territory thesaurus folders first, then the bundled one."""
    return [*get_settings().thesaurus_path, BUNDLED]


def read_groups(folders: list[Path] | None = None) -> tuple[list[list[str]], list[ThesaurusError]]:
    """Every group of names of the folders' files, and the errors of the files left out."""
    groups: list[list[str]] = []
    errors: list[ThesaurusError] = []
    for folder in folders if folders is not None else thesaurus_dirs():
        for path in sorted(folder.glob("*.yaml")) if folder.is_dir() else []:
            try:
                groups += read_file(path)
            except ThesaurusError as exc:
                errors.append(exc)
    return groups, errors


def groups() -> list[list[str]]:
    """The usable groups, a warning logged for each file left out."""
    found, errors = read_groups()
    for error in errors:
        log.warning("thesaurus file left out: %s", error)
    return found


def read_file(path: Path) -> list[list[str]]:
    """One file's groups, checked; ThesaurusError naming what is wrong otherwise."""
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (yaml.YAMLError, UnicodeDecodeError) as exc:
        raise ThesaurusError(path, [f"not UTF-8 YAML: {exc}"]) from None
    if (
        not isinstance(data, dict)
        or set(data) - {"groups"}
        or not isinstance(data.get("groups"), list)
    ):
        raise ThesaurusError(path, ["a thesaurus file holds `groups:`, a list of lists of names"])
    problems = []
    for number, group in enumerate(data["groups"], start=1):
        if not isinstance(group, list) or not 2 <= len(group) <= MAX_GROUP:
            problems.append(f"group {number} is not a list of 2 to {MAX_GROUP} names")
        elif not all(isinstance(n, str) and n.strip() and len(n) <= MAX_NAME for n in group):
            problems.append(f"group {number} has a name that is not a text of 1 to {MAX_NAME}")
    if problems:
        raise ThesaurusError(path, problems)
    return [[name.strip() for name in group] for group in data["groups"]]
