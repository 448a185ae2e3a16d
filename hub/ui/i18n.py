"""The catalogue's languages: French by default and English, from Babel message catalogues.

Every `.po` file under `locales/<lang>/LC_MESSAGES/` is one part of that language's catalogue
(each page family keeps its own file); they are merged when the hub starts. Msgids are English.
The language of a request is its `hub_lang` cookie (the switch in the page header), else the best
of `Accept-Language`, else French. `missing()` lists the msgids the templates and views use that a
catalogue lacks or leaves untranslated: `hub i18n check` and the tests fail on any.
"""

from __future__ import annotations

import io
import re
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import UTC, date, datetime, timedelta
from functools import lru_cache
from pathlib import Path
from typing import Any

from babel import Locale
from babel.dates import format_date, format_skeleton, format_timedelta
from babel.messages.catalog import Catalog
from babel.messages.extract import extract_from_dir
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.numbers import NumberPattern, parse_pattern
from babel.support import Translations
from jinja2 import TemplateSyntaxError

from hub import localtimes

HERE = Path(__file__).parent
LOCALES_DIR = HERE / "locales"
LANGUAGES = ("fr", "en")
DEFAULT = "fr"
COOKIE = "hub_lang"
NAMES = {"fr": "Français", "en": "English"}
# gettext's usual plural rules (CLDR's French adds a third form for millions; no message needs it)
PLURALS = {"fr": (2, "(n > 1)"), "en": (2, "(n != 1)")}
# What extraction reads: the templates (Jinja2's own extractor) and the UI's Python modules.
KEYWORDS = {"_": None, "gettext": None, "ngettext": (1, 2), "N_": None}
METHODS = [("templates/**.html", "jinja2"), ("**.py", "python")]
# not silent: a template Jinja2 cannot parse would otherwise lend no message, and pass the check
JINJA_OPTIONS = {"extensions": "jinja2.ext.i18n", "trimmed": "true", "silent": "false"}

_current: ContextVar[str] = ContextVar("hub_ui_language", default=DEFAULT)


def negotiate(cookie: str | None, accept_language: str | None) -> str:
    """The language of a request: its cookie's if known, else the best `Accept-Language` match."""
    if cookie in LANGUAGES:
        return str(cookie)
    wanted: list[tuple[float, int, str]] = []
    for position, part in enumerate((accept_language or "").split(",")):
        tag, _, weight = part.strip().partition(";")
        quality = 1.0
        if weight.strip().startswith("q="):
            try:
                quality = float(weight.strip()[2:])
            except ValueError:
                continue
        primary = tag.strip().lower().split("-")[0]
        if primary in LANGUAGES and quality > 0:
            wanted.append((-quality, position, primary))
    return min(wanted)[2] if wanted else DEFAULT


def catalogue_of(language: str) -> Catalog:
    """One language's catalogue: every part under its LC_MESSAGES folder, merged."""
    merged = Catalog(locale=language, domain="messages", fuzzy=False)
    merged._num_plurals, merged._plural_expr = PLURALS[language]  # type: ignore[assignment]
    folder = LOCALES_DIR / language / "LC_MESSAGES"
    for part in sorted(folder.glob("*.po")):
        with part.open("rb") as handle:
            read = read_po(handle, locale=language)
        for message in read:
            if message.id:
                merged[message.id] = message
    return merged


@lru_cache(maxsize=len(LANGUAGES))
def translations(language: str) -> Translations:
    """The gettext translations of a language, compiled once per process."""
    buffer = io.BytesIO()
    write_mo(buffer, catalogue_of(language))
    buffer.seek(0)
    return Translations(fp=buffer, domain="messages")


def current() -> str:
    """The language the page being rendered speaks."""
    return _current.get()


@contextmanager
def speaking(language: str) -> Iterator[None]:
    """Render (and format) in `language` for the duration of the block."""
    token = _current.set(language if language in LANGUAGES else DEFAULT)
    try:
        yield
    finally:
        _current.reset(token)


def gettext(message: str) -> str:
    """`message` in the current language."""
    return translations(current()).ugettext(message)


def ngettext(singular: str, plural: str, count: int) -> str:
    """The singular or plural form of a message in the current language."""
    return translations(current()).ungettext(singular, plural, count)


def number(value: float | int | None, digits: int = 3) -> str:
    """A number as the current language writes it (`12 345,6` or `12,345.6`); `—` for none."""
    if value is None:
        return "—"
    return _pattern(digits).apply(value, _locale(current()))


@lru_cache(maxsize=8)
def _pattern(digits: int) -> NumberPattern:
    """A number pattern, parsed once (parsing costs more than formatting)."""
    return parse_pattern(f"#,##0.{'#' * digits}")


@lru_cache(maxsize=len(LANGUAGES))
def _locale(language: str) -> Locale:
    return Locale.parse(language)


def moment(value: datetime | str | None, precise: bool = False) -> str:
    """A time for people, in the territory's zone with its offset, in the current language's
    style: `1er mars 2026 01:00 UTC+1`."""
    if value is None:
        return "—"
    stamp = local(value)
    # A 24-hour clock in both languages: "1 mars 2026 00:00", "Mar 1, 2026 00:00".
    language = current()
    zone = stamp.tzinfo
    when = first_as_ordinal(format_skeleton("yMMMd", stamp, tzinfo=zone, locale=language), stamp)
    clock = format_skeleton("Hms" if precise else "Hm", stamp, tzinfo=zone, locale=language)
    return f"{when} {clock} {localtimes.offset_label(stamp)}"


def day(value: date | datetime | str | None) -> str:
    """A date in the current language's long style (`2 décembre 2026`, `1er janvier 2026`); a
    moment's date is its day in the territory's zone."""
    if value is None:
        return "—"
    if isinstance(value, str | datetime):
        value = local(value).date()
    return first_as_ordinal(format_date(value, "long", locale=current()), value)


def local(value: datetime | str) -> datetime:
    """A moment in the territory's zone (HUB_TIMEZONE); one without a zone is UTC."""
    return _utc(value).astimezone(localtimes.territory_zone())


def first_as_ordinal(written: str, value: date) -> str:
    """A written date with the first of the month as French writes it: `1er janvier` (CLDR
    gives `1 janvier`); unchanged in other languages."""
    if current() == "fr" and value.day == 1:
        return re.sub(r"^1(?=\s)", "1er", written)
    return written


def ago(value: datetime | str | None, now: datetime | None = None) -> str:
    """How long ago, in words of the current language (`il y a 3 heures`)."""
    if value is None:
        return gettext("never")
    elapsed = (now or datetime.now(UTC)) - _utc(value)
    if elapsed < timedelta(minutes=1):
        return gettext("just now")
    return format_timedelta(-elapsed, add_direction=True, locale=current())


def _utc(value: datetime | str) -> datetime:
    if isinstance(value, str):
        value = datetime.fromisoformat(value.replace("Z", "+00:00"))
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def locale_name(language: str) -> str:
    """A language's own name, for the switch."""
    return NAMES.get(language) or Locale.parse(language).get_display_name(language) or language


def used_messages() -> dict[str, list[str]]:
    """Every msgid the templates and UI modules use, with where (`path:line`)."""
    return {msgid: places for msgid, (places, _plural) in _extracted().items()}


def _extracted() -> dict[str, tuple[list[str], str | None]]:
    """Every msgid used, with where, and its plural msgid when it has one."""
    found: dict[str, tuple[list[str], str | None]] = {}
    reading: list[str] = [""]  # the file being read, which Jinja2's error does not name
    try:
        for filename, line, message, _comments, _context in _each_message(reading):
            msgid = message[0] if isinstance(message, tuple) else message  # plural: by singular
            plural = message[1] if isinstance(message, tuple) and len(message) > 1 else None
            if msgid:
                places, known = found.setdefault(msgid, ([], plural))
                places.append(f"{filename}:{line}")
                if plural and not known:
                    found[msgid] = (places, plural)
    except TemplateSyntaxError as broken:
        raise UnreadableTemplate(f"{reading[0]}:{broken.lineno}: {broken}") from None
    return found


class UnreadableTemplate(ValueError):
    """A template Jinja2 cannot parse: its messages cannot be listed, nor the page shown."""


def _each_message(reading: list[str]) -> Iterator[tuple[str, int, Any, list[str], str | None]]:
    """Babel's extraction of the UI's messages; `reading[0]` names the file being read."""
    return extract_from_dir(
        HERE,
        METHODS,
        options_map={"templates/**.html": JINJA_OPTIONS},
        keywords=KEYWORDS,
        directory_filter=lambda path: "node_modules" not in path,
        callback=lambda filename, _method, _options: reading.__setitem__(0, filename),
    )


_PLACEHOLDER = re.compile(r"%\((\w+)\)[sd]")


def missing() -> list[tuple[str, str, str]]:
    """(language, msgid, what is wrong) for every used message a catalogue lacks, leaves empty
    or fuzzy, or translates with other placeholders than the msgid's (the page would crash)."""
    used = used_messages()
    gaps = []
    for language in LANGUAGES:
        catalogue = catalogue_of(language)
        for msgid, places in sorted(used.items()):
            entry = catalogue.get(msgid)
            forms = () if entry is None else _forms(entry.string)
            if entry is None or not all(forms) or entry.fuzzy:
                gaps.append((language, msgid, f"{places[0]}: untranslated"))
                continue
            wanted = set(_PLACEHOLDER.findall(" ".join(_forms(entry.id))))
            if any(set(_PLACEHOLDER.findall(form)) - wanted for form in forms):
                gaps.append((language, msgid, f"{places[0]}: unknown placeholder"))
    return gaps


def _forms(text: str | tuple[str, ...] | list[str] | None) -> tuple[str, ...]:
    return tuple(text) if isinstance(text, tuple | list) else (text or "",)


def add_missing(part: str, sources: list[str]) -> int:
    """Add to part `part` of every catalogue the messages used in `sources` (globs under
    hub/ui) that no part holds yet: English filled in (msgids are English), others left empty
    for a translator. Returns how many were added."""
    from fnmatch import fnmatch

    from babel.messages.pofile import write_po

    used = {
        msgid: plural
        for msgid, (places, plural) in _extracted().items()
        if any(fnmatch(p.rsplit(":", 1)[0], pattern) for p in places for pattern in sources)
    }
    added = 0
    for language in LANGUAGES:
        known = catalogue_of(language)
        path = LOCALES_DIR / language / "LC_MESSAGES" / f"{part}.po"
        if path.exists():
            with path.open("rb") as handle:
                target = read_po(handle, locale=language)
        else:
            path.parent.mkdir(parents=True, exist_ok=True)
            target = Catalog(
                locale=language,
                domain="messages",
                project="territorial-data-hub",
                header_comment=f"# The catalogue UI in {NAMES[language]}: {part}.",
                last_translator="territorial-data-hub",
                language_team=NAMES[language],
            )
            target._num_plurals, target._plural_expr = PLURALS[language]  # type: ignore[assignment]
            target.fuzzy = False
        new = [m for m in used if m not in known]
        for msgid in new:
            plural = used[msgid]
            english: str | tuple[str, str] = (msgid, plural) if plural else msgid
            target.add(
                (msgid, plural) if plural else msgid,
                english if language == "en" else (("", "") if plural else ""),
                locations=[],
            )
        with path.open("wb") as handle:
            write_po(handle, target, width=0, omit_header=False, sort_output=False)
        added = max(added, len(new))
    return added
