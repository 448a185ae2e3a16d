"""The catalogue UI's routes, one router per page family."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.routing import APIRoute

from hub.ui import (
    charter_pages,
    dashboard,
    dataset_page,
    home,
    mydata,
    organizations,
    orgtokens,
    signin,
    situation,
    territory,
)

FAMILIES = (
    home,
    dataset_page,
    organizations,
    charter_pages,
    dashboard,
    orgtokens,
    mydata,
    signin,
    situation,
    territory,
)
router = APIRouter(include_in_schema=False)
for family in FAMILIES:
    router.include_router(family.router)

# The UI's views: a bad parameter there is answered with a page too (hub.api.invalid).
PAGE_ENDPOINTS = frozenset(
    route.endpoint
    for family in FAMILIES
    for route in family.router.routes
    if isinstance(route, APIRoute)
)
