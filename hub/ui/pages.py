"""How a page is rendered: the templates, their filters, the language and the visitor.

Every page goes through `render`, which speaks the visitor's language (hub.ui.i18n), gives the
templates who is signed in and the form token, and sets the cookies the page needs.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from fastapi import Request
from fastapi.templating import Jinja2Templates
from jinja2 import Environment, FileSystemLoader, pass_context, select_autoescape
from jinja2.runtime import Context
from markupsafe import Markup, escape
from starlette.responses import RedirectResponse, Response

from hub import languages, localtimes
from hub.api.origin import site_path
from hub.ui import i18n
from hub.ui.i18n import gettext as _
from hub.ui.visitors import Visitor, csrf_valid, keep_csrf

HERE = Path(__file__).parent
STATIC_DIR = HERE / "static"

environment = Environment(
    loader=FileSystemLoader(HERE / "templates"),
    autoescape=select_autoescape(),
    extensions=["jinja2.ext.i18n"],
)
environment.policies["ext.i18n.trimmed"] = True
environment.install_gettext_callables(  # type: ignore[attr-defined]
    i18n.gettext, i18n.ngettext, newstyle=True
)
templates = Jinja2Templates(env=environment)


def sentence(text: str) -> str:
    """Text starting with a capital letter (the gate's reasons start lower-case)."""
    return text[:1].upper() + text[1:]


def ticks(text: str | None) -> Markup:
    """Escape text and show `backticked` words as code, as schema descriptions write them."""
    escaped = str(escape(text or ""))
    return Markup(re.sub(r"`([^`]+)`", r"<code>\1</code>", escaped))


FIELD_DIGITS = 7  # decimals a record's number keeps on a page (a coordinate's, to the decimetre)


def field_text(value: Any, kind: str = "") -> str:
    """A record's value as the page's language writes it, by its Table Schema type (`kind`):
    numbers with the language's separators, datetimes as moments in the territory's zone, dates
    as days."""
    if value is None or value == "":
        return "—"
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, int | float):
        return i18n.number(value, FIELD_DIGITS)
    if isinstance(value, dict | list):
        return json.dumps(value, ensure_ascii=False)
    try:
        if kind == "datetime":
            return i18n.moment(value)
        if kind == "date":
            return i18n.day(value)
    except (TypeError, ValueError):  # not the type its schema says: shown as it is
        pass
    return str(value)


def link(base: Any, **params: Any) -> str:
    """`base` with the non-empty query parameters (so facet links stay clean)."""
    query = urlencode({k: v for k, v in params.items() if v}, doseq=True)
    return f"{base}?{query}" if query else str(base)


@pass_context
def href(context: Context, path: str) -> str:
    """A route path (`/organizations`) as the page's links must write it: under the hub's root
    path, which a proxy publishing the hub under a prefix puts in front (hub.api.origin)."""
    return site_path(context["request"].scope, path)


def redirect(request: Request, path: str) -> Response:
    """303 See Other to a route path (`/me?flash=…`), under the hub's root path."""
    return RedirectResponse(site_path(request.scope, path), status_code=303)


def N_(text: str) -> str:
    """Mark a message for extraction; it is translated where it is shown."""
    return text


# The themes' names as the catalogues translate them (hub.api.shapes.THEMES holds the API's).
THEME_NAMES = {
    "air-quality": N_("Air quality"),
    "energy": N_("Energy"),
    "biodiversity": N_("Biodiversity"),
    "risk": N_("Risks"),
}
ACCESS_NAMES = {
    "open": N_("open"),
    "restricted": N_("restricted"),
    "personal": N_("personal"),
    "crisis": N_("crisis"),
}


# The states of a run through the gate (hub.models.HarvestRun.status).
RUN_STATUSES = {
    "running": N_("running"),
    "succeeded": N_("succeeded"),
    "partial": N_("partly published"),
    "failed": N_("failed"),
    "refused": N_("refused"),
}
# The purposes the bundled charters name (a charter may name others: they show as written).
PURPOSE_NAMES = {
    "biodiversity-planning": N_("biodiversity planning"),
    "crisis-management": N_("crisis management"),
    "crisis-preparedness": N_("crisis preparedness"),
    "energy-planning": N_("energy planning"),
    "energy-saving-advice": N_("energy-saving advice"),
    "public-information": N_("public information"),
    "research": N_("research"),
    "risk-prevention": N_("risk prevention"),
    "self-data": N_("self data (a person's use of their own data)"),
    "service-development": N_("service development"),
}
# The roles of tokens (hub.access).
ROLE_NAMES = {
    "admin": N_("administrator"),
    "operator": N_("operator"),
    "agency": N_("agency"),
    "service": N_("service"),
    "crisis-cell": N_("crisis cell"),
    "subject": N_("person the data concern"),
}


# Table Schema's field types and constraints, as the schema table of a dataset page names them.
FIELD_TYPES = {
    "string": N_("text"),
    "number": N_("number"),
    "integer": N_("integer"),
    "boolean": N_("true or false"),
    "date": N_("date"),
    "datetime": N_("date and time"),
    "time": N_("time of day"),
    "year": N_("year"),
    "duration": N_("duration"),
    "geojson": N_("GeoJSON geometry"),
    "geopoint": N_("point"),
    "object": N_("JSON object"),
    "array": N_("JSON list"),
    "any": N_("any value"),
}
CONSTRAINT_NAMES = {
    "required": N_("required"),
    "unique": N_("unique"),
    "minLength": N_("at least this many characters"),
    "maxLength": N_("at most this many characters"),
    "minimum": N_("minimum"),
    "maximum": N_("maximum"),
    "exclusiveMinimum": N_("more than"),
    "exclusiveMaximum": N_("less than"),
    "pattern": N_("pattern"),
    "enum": N_("one of"),
}


def _named(names: dict[str, str], code: str) -> str:
    return _(names[code]) if code in names else code


def run_status_name(status: str) -> str:
    """A run's state in the current language."""
    return _named(RUN_STATUSES, status)


def purpose_name(purpose: str) -> str:
    """A charter's purpose in the current language (an unknown code as written)."""
    return _named(PURPOSE_NAMES, purpose)


def role_name(role: str) -> str:
    """A token's role in the current language."""
    return _named(ROLE_NAMES, role)


def field_type_name(kind: str) -> str:
    """A Table Schema field type in the current language (an unknown one as written)."""
    return _named(FIELD_TYPES, kind)


def constraint_name(name: str) -> str:
    """A Table Schema constraint in the current language (an unknown one as written)."""
    return _named(CONSTRAINT_NAMES, name)


def theme_name(theme: str) -> str:
    """A theme's name in the current language."""
    return _(THEME_NAMES[theme]) if theme in THEME_NAMES else theme


def lang_attribute(page: str, text: str | None, *context: str | None) -> Markup:
    """` lang="xx"` for an element holding a text written in another language than the page's
    (WCAG 3.1.2), else nothing: hub.languages tells it from the text's words, else its context's."""
    told = languages.language_unless(page, text, *context)
    return Markup(f' lang="{told}"') if told else Markup("")


def access_name(level: str) -> str:
    """An access level's name in the current language."""
    return _(ACCESS_NAMES[level]) if level in ACCESS_NAMES else level


templates.env.filters.update(
    ago=i18n.ago,
    moment=i18n.moment,  # in the territory's zone, its offset written
    day=i18n.day,
    iso=lambda m: (
        i18n._utc(m).isoformat().replace("+00:00", "Z") if m else ""  # <time datetime>
    ),
    number=i18n.number,
    field=field_text,
    sentence=sentence,
    ticks=ticks,
)
templates.env.globals.update(
    themes=THEME_NAMES,
    theme_name=theme_name,
    access_name=access_name,
    run_status_name=run_status_name,
    purpose_name=purpose_name,
    role_name=role_name,
    field_type_name=field_type_name,
    constraint_name=constraint_name,
    lang_attribute=lang_attribute,
    link=link,
    href=href,
    languages=i18n.LANGUAGES,
    timezone_name=lambda: localtimes.zone_label(localtimes.territory_zone()),
)


def render(
    request: Request,
    visitor: Visitor,
    template: str,
    context: dict[str, Any],
    status_code: int = 200,
    language: str | None = None,
) -> Response:
    """A page in the visitor's language, with who is signed in and the form token; an error
    status, or `page_error` in the context (a form's refusal shown on a 200 page), makes it a
    page that reports an error (its title says so, focus goes to its message); `page_outcome`,
    one that reports what a form just did (focus goes to that message)."""
    chosen = language or i18n.negotiate(
        request.cookies.get(i18n.COOKIE), request.headers.get("accept-language")
    )
    with i18n.speaking(chosen):
        page = templates.TemplateResponse(
            request,
            template,
            {
                **context,
                "visitor": visitor,
                "actor": visitor.actor,
                "csrf": visitor.csrf,
                "language": chosen,
                "language_names": i18n.NAMES,
                "page_error": bool(context.get("page_error")) or status_code >= 400,
                "page_outcome": bool(context.get("page_outcome")),
            },
            status_code=status_code,
        )
    page.headers["Content-Language"] = chosen
    vary = {v.strip() for v in page.headers.get("Vary", "").split(",") if v.strip()}
    page.headers["Vary"] = ", ".join(sorted(vary | {"Accept-Language", "Cookie"}))
    keep_csrf(page, request, visitor)
    return page


def forged_form(
    request: Request, visitor: Visitor, submitted: str, template: str
) -> Response | None:
    """The 400 page (`state` csrf) of a form post without the session's own form token."""
    if csrf_valid(visitor, submitted):
        return None
    return render(request, visitor, template, {"state": "csrf"}, 400)
