"""The CKAN actions the hub answers, read-only for now, in CKAN's parameter and result shapes."""

from __future__ import annotations

import inspect
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sqlmodel import Session, col, select

from hub import __version__, access, catalogue, charters, credits, search, searchcache
from hub.access import ANONYMOUS, Actor
from hub.api.ckan import apitokens, datastore, packages, writes
from hub.api.ckan import search as ckan_search
from hub.api.ckan.errors import (
    NotAuthorized,
    NotFound,
    ValidationError,
    as_bool,
    as_list,
    as_natural,
    as_text,
    echoed,
    require_text,
)
from hub.api.shapes import THEMES
from hub.batches import Publisher
from hub.licences import ckan_id
from hub.models import Dataset, Organization
from hub.reading import Caller

LIST_MAX = 1000


@dataclass(frozen=True)
class Call:
    """What an action runs with: a read session, the hub's root URL and who is calling."""

    session: Session
    base: str
    actor: Actor = ANONYMOUS
    purpose: str = ""  # what the caller reads for (`purpose` or X-Purpose, as on /api/v1)
    route: str = ""  # the path called, for the access log's entries of token actions

    def whole(self, dataset: Dataset) -> bool:
        """Whether the caller may see what is computed from all of a dataset's rows."""
        return access.sees_computed(dataset, self.actor)


Action = Callable[[Call, dict[str, Any]], Any]
ACTIONS: dict[str, Action] = {}

# CKAN's writing actions: known, so those the hub does not take are answered "not authorized"
# with a reason rather than "not known"; the ones it takes are in WRITES.
WRITE_ACTIONS = {
    f"{thing}_{verb}"
    for thing in (
        "package",
        "dataset",
        "resource",
        "organization",
        "group",
        "user",
        "member",
        "organization_member",
        "group_member",
        "resource_view",
        "package_relationship",
        "vocabulary",
        "tag",
        "api_token",
    )
    for verb in ("create", "update", "patch", "delete", "purge")
} | {
    "package_revise",
    "package_owner_org_update",
    "datastore_create",
    "datastore_upsert",
    "datastore_delete",
    "bulk_update_public",
    "bulk_update_private",
    "bulk_update_delete",
    "api_token_revoke",
}


WRITES: dict[str, Action] = {}
# Writes any token may call: they manage the caller's own organization's tokens, and check it.
OWN_TOKENS = {"api_token_create", "api_token_revoke"}


def action(function: Action) -> Action:
    """Register a side-effect-free action under its function name."""
    ACTIONS[function.__name__] = function
    return function


def write(function: Action) -> Action:
    """Register a writing action (POST only, an operator's token) under its function name."""
    WRITES[function.__name__] = function
    return function


@write
def package_create(call: Call, data: dict[str, Any]) -> Any:
    """A new dataset: name, title, notes, owner_org, a theme group, tags, linked files and the
    `charter` extra (else the organization's only charter in force for the theme)."""
    return writes.create_package(call.session, call.actor, call.base, data)


@write
def package_update(call: Call, data: dict[str, Any]) -> Any:
    """A dataset's metadata and linked files, replaced by those given."""
    return writes.update_package(call.session, call.actor, call.base, data)


@write
def package_patch(call: Call, data: dict[str, Any]) -> Any:
    """A dataset's metadata: the fields given replace those it has."""
    return writes.patch_package(call.session, call.actor, call.base, data)


@write
def resource_create(call: Call, data: dict[str, Any]) -> Any:
    """One more linked file of a dataset (by URL: the hub stores no uploads)."""
    return writes.create_resource(call.session, call.actor, call.base, data)


@write
def datastore_create(call: Call, data: dict[str, Any]) -> Any:
    """A dataset's record table under a hub schema, with its first records, validated."""
    return writes.create_datastore(call.session, call.actor, call.base, data)


@write
def datastore_upsert(call: Call, data: dict[str, Any]) -> Any:
    """Records pushed into a dataset, inserted or updated on the schema's primary key."""
    return writes.upsert_datastore(call.session, call.actor, call.base, data)


@write
def datastore_delete(call: Call, data: dict[str, Any]) -> Any:
    """Rows withdrawn from a records resource: resource_id and `filters` ({field: value or
    [values]}; {} for every row), each withdrawal a run of the dataset; a personal dataset's
    subject field takes the key as pushed."""
    return writes.delete_datastore(call.session, call.actor, call.base, data)


@write
def organization_create(call: Call, data: dict[str, Any]) -> Any:
    """A new organization (admins only): name, title, description, `kind` public|private, and
    its contact: `email` and `website` (whom reusers write to)."""
    if call.actor.role != "admin":
        raise NotAuthorized("only an admin's token creates organizations")
    name = require_text(data, "name")
    if not writes.NAME.fullmatch(name):
        raise ValidationError(
            {
                "name": [
                    "Must be purely lowercase alphanumeric (ascii) characters and these symbols: -_"
                ]
            }
        )
    kind = as_text(data, "kind") or "public"
    if kind not in ("public", "private"):
        raise ValidationError({"kind": ["public or private"]})
    email, website = as_text(data, "email").strip(), as_text(data, "website").strip()
    if email and not credits.valid_email(email):
        raise ValidationError({"email": ["not an e-mail address"]})
    if website and not writes.URL.fullmatch(website):
        raise ValidationError({"website": ["not an http(s) URL"]})
    publisher = Publisher(name, as_text(data, "title") or name, kind, email, website)
    try:
        organization = catalogue.register_organization(publisher, as_text(data, "description"))
    except catalogue.PublishRefused:
        raise ValidationError({"name": ["Group name already exists in database"]}) from None
    return packages.organization_dict(organization, call.base, 0)


@action
def status_show(call: Call, data: dict[str, Any]) -> dict[str, Any]:
    """Describe this site: title, URL, locale, extensions and the CKAN API version it speaks."""
    return {
        "site_title": "Territorial data hub",
        "site_description": "Environmental and crisis data of a territory, harvested, "
        "validated against shared schemas and legal charters.",
        "site_url": call.base.rstrip("/"),
        "error_emails_to": None,
        "locale_default": "en",
        "extensions": ["hub-catalogue", "hub-charters", "hub-records"],
        "ckan_version": "2.10.0",
        "hub_version": __version__,
    }


@action
def package_list(call: Call, data: dict[str, Any]) -> list[str]:
    """Names of every public dataset, by name; `limit` and `offset` page them."""
    statement = select(Dataset.id).order_by(col(Dataset.id))
    offset = as_natural(data, "offset", 0) or 0
    limit = as_natural(data, "limit")
    statement = statement.offset(offset) if limit is None else statement.offset(offset).limit(limit)
    return list(call.session.exec(statement))


@action
def package_show(call: Call, data: dict[str, Any]) -> dict[str, Any]:
    """One dataset by `id` (or name): metadata, organization, extras and resources."""
    name = require_text(data, "id", "name_or_id")  # a dataset's name is its id
    # As a page of package_search shows it, and kept with the pages' packages: the index's
    # generation is read before the dataset, so a change committed meanwhile is not kept.
    derived = searchcache.Derived(call.session.connection())
    found = ckan_search.page_packages(call.session, derived, [name], call.base, call.whole)
    if not found:
        raise NotFound(f"Dataset {echoed(name)} was not found")
    derived.keep()
    return found[0]


@action
def package_search(call: Call, data: dict[str, Any]) -> dict[str, Any]:
    """Search datasets: q, fq, fq_list, ext_bbox, rows (≤ 1000), start, sort, facet.field, fl."""
    return ckan_search.search(call.session, data, call.base, call.actor, call.whole)


@action
def resource_show(call: Call, data: dict[str, Any]) -> dict[str, Any]:
    """One resource by `id`; its URL is the records' CSV export."""
    resource_id = require_text(data, "id")
    resource = packages.find_resource(call.session, resource_id)
    if resource is None:
        raise NotFound(f"Resource {echoed(resource_id)} was not found")
    dataset = catalogue.get(call.session, resource.dataset_id)
    return packages.resource_dict(resource, dataset, call.base, call.whole(dataset))


@action
def organization_list(call: Call, data: dict[str, Any]) -> list[Any]:
    """Organizations by name, or dicts with `all_fields`; sort, q, limit, offset, organizations."""
    counts = facet_counts(call, "organization")
    chosen = catalogue.organizations(call.session)
    wanted = as_list(data, "organizations") or as_list(data, "groups")
    if wanted:
        chosen = [o for o in chosen if o.id in wanted]
    needle = as_text(data, "q").lower()
    if needle:
        chosen = [o for o in chosen if needle in o.id.lower() or needle in o.name.lower()]
    chosen = sort_groups(
        chosen, as_text(data, "sort") or "title asc", lambda o: (o.id, o.name, counts[o.id])
    )
    offset = as_natural(data, "offset", 0) or 0
    limit = min(as_natural(data, "limit", LIST_MAX) or 0, LIST_MAX)
    chosen = chosen[offset : offset + limit]
    if not as_bool(data, "all_fields"):
        return [o.id for o in chosen]
    with_count = as_bool(data, "include_dataset_count", True)
    return [
        packages.organization_dict(o, call.base, counts[o.id] if with_count else None)
        for o in chosen
    ]


@action
def organization_show(call: Call, data: dict[str, Any]) -> dict[str, Any]:
    """One organization by `id`, with its dataset count and, on request, its datasets."""
    org_id = require_text(data, "id")
    organization = call.session.get(Organization, org_id)
    if organization is None:
        raise NotFound(f"Organization {echoed(org_id)} was not found")
    found = search.find(
        call.session,
        search.Query(filters={"organization": [org_id]}, sort=(("name", False),), limit=LIST_MAX),
        call.actor,
    )
    datasets = search.datasets(call.session, found.ids)
    result = packages.organization_dict(organization, call.base, found.total)
    if as_bool(data, "include_datasets"):
        result["packages"] = [
            packages.package_dict(d, organization, [], call.base, call.whole(d)) for d in datasets
        ]
    result["users"] = []
    return result


@action
def group_list(call: Call, data: dict[str, Any]) -> list[Any]:
    """The themes, as CKAN groups: names, or dicts with `all_fields`."""
    counts = facet_counts(call, "theme")
    themes = sorted(set(THEMES) | set(counts))
    themes = sort_groups(
        themes, as_text(data, "sort") or "title asc", lambda t: (t, THEMES.get(t, t), counts[t])
    )
    offset = as_natural(data, "offset", 0) or 0
    limit = min(as_natural(data, "limit", LIST_MAX) or 0, LIST_MAX)
    themes = themes[offset : offset + limit]
    if not as_bool(data, "all_fields"):
        return themes
    return [packages.group_dict(t, counts[t]) for t in themes]


@action
def group_show(call: Call, data: dict[str, Any]) -> dict[str, Any]:
    """One theme, as a CKAN group, by `id`."""
    theme = require_text(data, "id")
    listing = packages.load_listing(call.session)
    members = [d for d in listing.datasets if d.theme == theme]
    if theme not in THEMES and not members:
        raise NotFound(f"Group {echoed(theme)} was not found")
    result = packages.group_dict(theme, len(members))
    if as_bool(data, "include_datasets"):
        result["packages"] = [
            packages.package_dict(
                d, listing.organizations.get(d.organization_id), [], call.base, call.whole(d)
            )
            for d in members
        ]
    return result


@action
def tag_list(call: Call, data: dict[str, Any]) -> list[Any]:
    """Keywords in use, by name; `query` filters, `all_fields` gives dicts."""
    if as_text(data, "vocabulary_id"):
        return []  # the hub has free tags only
    tags = sorted(facet_counts(call, "tags"))
    needle = (as_text(data, "query") or as_text(data, "q")).lower()
    tags = [t for t in tags if needle in t.lower()]
    return [packages.tag_dict(t) for t in tags] if as_bool(data, "all_fields") else tags


@action
def user_list(call: Call, data: dict[str, Any]) -> list[Any]:
    """The hub keeps no user accounts (callers are known by their API tokens): none to list, so
    that `ckanapi dump users` and portals that list users go on."""
    return []


@action
def user_show(call: Call, data: dict[str, Any]) -> dict[str, Any]:
    """No user account has any id: the hub knows callers by their API tokens."""
    wanted = require_text(data, "id")
    raise NotFound(f"User not found: {wanted[:100]!r} (the hub has API tokens, not user accounts)")


@action
def license_list(call: Call, data: dict[str, Any]) -> list[dict[str, Any]]:
    """The licences of the charters in force and of the datasets, as CKAN describes licences:
    one entry per CKAN id (a bespoke licence's charters share `custom`)."""
    licences: dict[str, dict[str, str]] = {}
    for charter_id in charters.known_charters():
        for version in charters.charter_versions(charter_id):
            licence = version.licence or {}
            if licence.get("id"):
                licences.setdefault(ckan_id(str(licence["id"])), licence)
    for dataset_licence in call.session.exec(
        select(Dataset.licence_id, Dataset.licence_title, Dataset.licence_url).distinct()
    ):
        identifier, title, url = dataset_licence
        if identifier:
            licences.setdefault(ckan_id(identifier), {"id": identifier, "label": title, "uri": url})
    return [packages.license_dict(licence) for _, licence in sorted(licences.items())]


@action
def datastore_search(call: Call, data: dict[str, Any]) -> dict[str, Any]:
    """A records resource's rows: filters, limit (≤ 32 000), offset, fields, sort, include_total;
    only the rows the caller's grant opens, every read logged."""
    caller = Caller(actor=call.actor, route="ckan datastore_search", purpose=call.purpose)
    return datastore.search(call.session, caller, data, call.base)


@action
def datastore_search_sql(call: Call, data: dict[str, Any]) -> Any:
    """Refused: the hub runs no SQL written by callers; datastore_search takes filters."""
    raise NotAuthorized(
        "the hub does not run SQL sent by callers: use datastore_search (filters, q, sort) or "
        "the REST API's records"
    )


@write
def api_token_create(call: Call, data: dict[str, Any]) -> Any:
    """A new token of the caller's organization and role (`user`: that organization; `name`;
    `expires_in` with `unit` seconds, or `expires` as 90d or a date): `{"token": …}`, once."""
    return apitokens.create(call.session, call.actor, call.route, data)


@write
def api_token_revoke(call: Call, data: dict[str, Any]) -> Any:
    """Revoke one of the organization's tokens of the caller's role, by `token` or `jti`."""
    return apitokens.revoke(call.session, call.actor, call.route, data)


@action
def api_token_list(call: Call, data: dict[str, Any]) -> Any:
    """The live tokens of the caller's organization (`user_id` or `user`) and role."""
    return apitokens.listing(call.session, call.actor, data)


def facet_counts(call: Call, field: str) -> Counter[str]:
    """How many datasets have each value of one search field (the one search's facets)."""
    query = search.Query(limit=0, facets=(field,), facet_limit=-1)
    return Counter(dict(search.find(call.session, query, call.actor).facets[field]))


@action
def help_show(call: Call, data: dict[str, Any]) -> str:
    """The documentation of the action named `name`."""
    name = require_text(data, "name")
    if name not in ACTIONS:
        raise NotFound("Action function not found")
    return inspect.getdoc(ACTIONS[name]) or ""


def sort_groups(
    items: list[Any], sort: str, keys: Callable[[Any], tuple[str, str, int]]
) -> list[Any]:
    """Sort organizations or groups by `name`, `title` or `package_count`, asc or desc."""
    field, _, direction = sort.strip().partition(" ")
    direction = direction.strip().lower() or "asc"
    positions = {"name": 0, "title": 1, "package_count": 2}
    if field not in positions or direction not in ("asc", "desc"):
        raise ValidationError(
            {"sort": [f"Cannot sort by {sort!r}: use name, title or package_count, asc or desc"]}
        )
    index = positions[field]

    def key(item: Any) -> tuple[Any, str]:
        value = keys(item)[index]
        return (value.lower() if isinstance(value, str) else value, keys(item)[0])

    return sorted(items, key=key, reverse=direction == "desc")
