"""The catalogue UI's routes, one router per page family."""

from __future__ import annotations

from fastapi import APIRouter

from hub.ui import (
    charter_pages,
    dashboard,
    dataset_page,
    home,
    mydata,
    organizations,
    signin,
    situation,
    territory,
)

router = APIRouter(include_in_schema=False)
for family in (
    home,
    dataset_page,
    organizations,
    charter_pages,
    dashboard,
    mydata,
    signin,
    situation,
    territory,
):
    router.include_router(family.router)
