"""Catalogue rows as CKAN dicts: packages, resources, organizations, groups (themes) and tags."""

from __future__ import annotations

import json
from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlmodel import Session, col, select

from hub import access, citations, credits, gridsubsets, licences
from hub.api.dcat.vocabularies import file_type_of
from hub.api.rudi import has_coordinates
from hub.api.shapes import THEMES, as_utc, grid_download, web_url
from hub.models import Dataset, Organization, Resource
from hub.origins import origin_of

# Licences that meet the Open Definition, as the search index holds them (charter ids and the
# ids portals write); CKAN calls a package open only with one of them.
OPEN_LICENCES = {
    *(key.lower() for key, licence in licences.STANDARD.items() if licence.open),
    *("lo-2.0", "odc-odbl", "cc-by", "cc-by-sa", "cc-zero", "fr-lo", "other-open"),
}
# CKAN's own titles of the licences of its default list, by CKAN id: one entry for each, since
# several charter ids may share one (cc-by-sa: CC-BY-SA-3.0 and -4.0).
CKAN_TITLES = {
    "cc-by": "Creative Commons Attribution",
    "cc-by-sa": "Creative Commons Attribution Share-Alike",
    "cc-zero": "Creative Commons CCZero",
    "cc-nc": "Creative Commons Non-Commercial (Any)",
    "odc-by": "Open Data Commons Attribution License",
    "odc-odbl": "Open Data Commons Open Database License (ODbL)",
    "odc-pddl": "Open Data Commons Public Domain Dedication and License (PDDL)",
    "other-at": "Other (Attribution)",
    "other-pd": "Other (Public Domain)",
    "notspecified": "License not specified",
    "custom": "Other (each dataset's own licence: see its license_title)",
}


@dataclass
class Listing:
    """Everything the CKAN façade shows, loaded in three queries."""

    datasets: list[Dataset]
    organizations: dict[str, Organization]
    resources: dict[str, list[Resource]]


def load_listing(session: Session) -> Listing:
    """Every dataset with its organization and resources, by name."""
    datasets = list(session.exec(select(Dataset).order_by(col(Dataset.id))).all())
    organizations = {o.id: o for o in session.exec(select(Organization)).all()}
    resources: dict[str, list[Resource]] = defaultdict(list)
    for resource in session.exec(select(Resource).order_by(col(Resource.position))).all():
        resources[resource.dataset_id].append(resource)
    return Listing(datasets, organizations, resources)


def load_package(
    session: Session, dataset: Dataset, base: str, whole: bool = True
) -> dict[str, Any]:
    """One package dict, loading only what it needs."""
    resources = session.exec(
        select(Resource).where(Resource.dataset_id == dataset.id).order_by(col(Resource.position))
    ).all()
    version = citations.version_of(session, dataset.id)
    return package_dict(
        dataset,
        session.get(Organization, dataset.organization_id),
        list(resources),
        base,
        whole,
        version.label if version else None,
    )


def ckan_time(moment: datetime | None) -> str | None:
    """A time the way CKAN writes it: ISO 8601, UTC, without a zone suffix."""
    utc = as_utc(moment)
    return utc.replace(tzinfo=None).isoformat() if utc else None


def package_dict(
    dataset: Dataset,
    organization: Organization | None,
    resources: list[Resource],
    base: str,
    whole: bool = True,
    version: str | None = None,
) -> dict[str, Any]:
    """A dataset as CKAN's package_show returns it; `whole` False withholds what is computed
    from its rows (count, extent, time range) and its source URL. `version`: the last run that
    changed its data (hub.citations)."""
    tags = [tag_dict(k) for k in sorted(set(dataset.keywords or []))]
    org = organization_dict(organization, base) if organization else None
    licence_id = licences.ckan_id(dataset.licence_id)
    own, contact = credits.credits_of(dataset), credits.contact_of(dataset, organization)
    return {
        "id": dataset.id,
        "name": dataset.id,
        "title": dataset.title,
        "notes": dataset.description,
        "url": f"{base}datasets/{dataset.id}",
        "version": version,
        "author": own.creator or (org["title"] if org else None),
        "author_email": None,
        "maintainer": contact.name,
        "maintainer_email": contact.email or None,
        "license_id": licence_id,
        "license_title": dataset.licence_title or licence_id,
        "license_url": dataset.licence_url or None,
        "isopen": access.shared_level(dataset) == "open" and _is_open(dataset.licence_id),
        "owner_org": dataset.organization_id,
        "organization": org,
        "private": False,
        "state": "active",
        "type": "dataset",
        "metadata_created": ckan_time(dataset.created_at),
        "metadata_modified": ckan_time(dataset.modified_at),
        "creator_user_id": None,
        "num_resources": len(resources),
        "num_tags": len(tags),
        "tags": tags,
        "groups": [group_dict(dataset.theme)],
        "extras": extras_of(dataset, whole),
        "resources": [resource_dict(r, dataset, base, whole) for r in resources],
        "relationships_as_object": [],
        "relationships_as_subject": [],
    }


def extras_of(dataset: Dataset, whole: bool = True) -> list[dict[str, str]]:
    """What CKAN has no field for, as sorted {key, value} extras (values are strings)."""
    values: dict[str, Any] = {
        "theme": dataset.theme,
        "schema": dataset.schema_name,
        "schema_version": dataset.schema_version,
        "charter": dataset.charter_id,
        "charter_version": dataset.charter_version,
        "access": access.shared_level(dataset),
        "mandatory_mention": dataset.mandatory_mention,
        "published_at": ckan_time(dataset.published_at),
    }
    if whole:
        values.update(
            {
                "source_url": web_url(dataset.source_url),
                "record_count": str(dataset.record_count),
                "temporal_start": ckan_time(dataset.time_min),
                "temporal_end": ckan_time(dataset.time_max),
            }
        )
    values.update(origin_extras(dataset, whole))
    own = credits.credits_of(dataset)  # the producer's citation and DOI, as its feed declares
    values.update({"citation": own.citation, "doi": credits.doi_url(own.doi)})
    if dataset.bbox and whole:
        values["bbox"] = ",".join(str(v) for v in dataset.bbox)
        # ckanext-spatial harvesters read the extent from a GeoJSON `spatial` extra.
        values["spatial"] = json.dumps(bbox_polygon(dataset.bbox))
    return [{"key": k, "value": str(v)} for k, v in sorted(values.items()) if v not in (None, "")]


def origin_extras(dataset: Dataset, whole: bool = True) -> dict[str, str | None]:
    """A portal dataset's original under ckanext-dcat's extras: `issued` and `modified` (its
    dct: dates), and for callers who may read every row `guid` and `uri` (its identifier and
    IRI), which harvesters deduplicate on. CKAN's metadata_* stay the hub's."""
    origin = origin_of(dataset)
    if origin is None:
        return {}
    extras = {"issued": ckan_time(origin.issued), "modified": ckan_time(origin.modified)}
    if whole:
        extras |= {"guid": origin.identifier or web_url(origin.iri), "uri": web_url(origin.iri)}
    return extras


# Table Schema types as CKAN's datastore names them.
CKAN_TYPES = {
    "string": "text",
    "integer": "int",
    "number": "numeric",
    "boolean": "bool",
    "datetime": "timestamp",
    "date": "date",
    "time": "time",
    "year": "int",
}


def ckan_type(table_schema_type: str | None) -> str:
    """A field's datastore type (geojson, object and array cells are JSON)."""
    return CKAN_TYPES.get(table_schema_type or "string", "json")


def bbox_polygon(bbox: list[float]) -> dict[str, Any]:
    """A WGS84 bounding box as a GeoJSON Polygon."""
    x0, y0, x1, y1 = bbox
    return {"type": "Polygon", "coordinates": [[[x0, y0], [x1, y0], [x1, y1], [x0, y1], [x0, y0]]]}


def resource_dict(
    resource: Resource, dataset: Dataset, base: str, whole: bool = True
) -> dict[str, Any]:
    """A resource as CKAN's resource_show returns it; a record table's URL is its CSV export."""
    if resource.kind != "records":
        return _linked_resource_dict(resource, dataset, base, whole)
    return {
        "id": resource.id,
        "package_id": dataset.id,
        "url": f"{base}api/v1/datasets/{dataset.id}/records?format=csv",
        "name": resource.name,
        "description": f"Records of {dataset.title}, as CSV "
        + (
            "(JSON and GeoJSON from the same URL with format=json|geojson)."
            if has_coordinates(resource)
            else "(JSON from the same URL with format=json)."
        ),
        "format": "CSV",
        "mimetype": "text/csv",
        "mimetype_inner": None,
        "hash": "",
        "size": None,
        "created": ckan_time(resource.created_at),
        "last_modified": ckan_time(resource.modified_at),
        "metadata_modified": ckan_time(resource.modified_at),
        "position": resource.position,
        "resource_type": "api",
        "url_type": None,
        "state": "active",
        "cache_url": None,
        "datastore_active": True,  # datastore_search serves its rows
        "access": access.shared_level(dataset),
        "record_count": resource.row_count if whole else None,
        "schema": resource.schema_descriptor,
    }


def _linked_resource_dict(
    resource: Resource, dataset: Dataset, base: str, whole: bool
) -> dict[str, Any]:
    """A file a portal listed, or a stored grid, as CKAN's resource_show returns it; a grid's
    URL is the hub's grid route (whole as NetCDF, or described and cut), read through the grant."""
    details = resource.details or {}
    url, file_format = web_url(resource.url), resource.format
    media_type = media_type_of(file_format)
    if resource.kind == "grid":  # whole as NetCDF when one answer may hold it, else described
        download = grid_download(dataset.id, base, resource, whole)
        url = download or f"{base}api/v1/datasets/{dataset.id}/grid"
        file_format = "NetCDF" if download else "JSON"
        media_type = gridsubsets.NETCDF_MEDIA_TYPE if download else "application/json"
    return {
        "id": resource.id,
        "package_id": dataset.id,
        "url": url,
        "name": resource.name,
        "description": details.get("description") or "",
        "format": file_format,
        "mimetype": media_type,
        "mimetype_inner": None,
        "hash": "",
        # A file's size is its URL's; a grid's URL serves the hub's NetCDF-4, re-encoded and
        # decoded, not the harvested file the size was measured on: no size to declare.
        "size": details.get("size") if whole and resource.kind != "grid" else None,
        "created": ckan_time(resource.created_at),
        "last_modified": ckan_time(resource.modified_at),
        "metadata_modified": ckan_time(resource.modified_at),
        "position": resource.position,
        "resource_type": resource.kind,
        "url_type": None,
        "state": "active",
        "cache_url": None,
        "datastore_active": False,
        "access": access.shared_level(dataset),
    }


def media_type_of(format_name: str) -> str | None:
    """The IANA media type of a file's format, as DCAT's mediaType gives it; None if unknown."""
    file_type = file_type_of(format_name or "")
    return file_type.media_type if file_type else None


def organization_dict(
    organization: Organization, base: str, package_count: int | None = None
) -> dict[str, Any]:
    """An organization as CKAN's organization_show returns it."""
    result: dict[str, Any] = {
        "id": organization.id,
        "name": organization.id,
        "title": organization.name,
        "display_name": organization.name,
        "description": organization.description,
        "image_url": "",
        "image_display_url": "",
        "created": ckan_time(organization.created_at),
        "is_organization": True,
        "type": "organization",
        "state": "active",
        "approval_status": "approved",
        "num_followers": 0,
        "extras": [
            {"key": key, "value": value}
            for key, value in (
                ("email", organization.email),
                ("kind", organization.kind),
                ("website", organization.website),
            )
            if value
        ],
    }
    if package_count is not None:
        result["package_count"] = package_count
    return result


def group_dict(theme: str, package_count: int | None = None) -> dict[str, Any]:
    """A theme as a CKAN group."""
    title = THEMES.get(theme, theme.replace("-", " ").capitalize())
    result: dict[str, Any] = {
        "id": theme,
        "name": theme,
        "title": title,
        "display_name": title,
        "description": "",
        "image_url": "",
        "image_display_url": "",
        "is_organization": False,
        "type": "group",
        "state": "active",
        "approval_status": "approved",
    }
    if package_count is not None:
        result["package_count"] = package_count
    return result


def _is_open(licence_id: str) -> bool:
    """A charter's licence meets the Open Definition (a portal's id too, as it wrote it)."""
    return licences.is_open(licence_id) or licence_id.lower() in OPEN_LICENCES


def license_dict(licence: dict[str, str]) -> dict[str, Any]:
    """A charter's licence as CKAN's license_list gives one, under CKAN's id where it has one."""
    given = str(licence.get("id", ""))
    identifier = licences.ckan_id(given)
    open_data = _is_open(given)
    return {
        "id": identifier,
        "title": CKAN_TITLES.get(identifier) or licence.get("label") or identifier,
        "url": licence.get("uri") or "",
        "status": "active",
        "maintainer": "",
        "family": "",
        "od_conformance": "approved" if open_data else "not reviewed",
        "osd_conformance": "not reviewed",
        "domain_content": False,
        "domain_data": open_data,
        "domain_software": False,
        "is_generic": identifier.startswith("other-"),
        "is_okd_compliant": open_data,
        "is_osi_compliant": False,
    }


def tag_dict(name: str) -> dict[str, Any]:
    """A keyword as a free CKAN tag."""
    return {
        "id": name,
        "name": name,
        "display_name": name,
        "state": "active",
        "vocabulary_id": None,
    }


def find_resource(session: Session, resource_id: str) -> Resource | None:
    """A resource by id."""
    return session.get(Resource, resource_id)
