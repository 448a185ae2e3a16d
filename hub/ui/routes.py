"""The catalogue UI's routes, one router per page family."""

from __future__ import annotations

from fastapi import APIRouter

from hub.ui import dataset_page, home, signin

router = APIRouter(include_in_schema=False)
for family in (home, dataset_page, signin):
    router.include_router(family.router)
