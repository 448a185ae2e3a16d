"""My data: a citizen's own page (/me), where they link themselves to their rows of personal
datasets, see those rows and who read them, give and revoke services' consents, and download
their rows or their whole portability export."""

from fastapi import APIRouter

from hub.ui.mydata import consent_form, downloads, link_form, page

router = APIRouter(include_in_schema=False)
for part in (page, link_form, consent_form, downloads):
    router.include_router(part.router)
