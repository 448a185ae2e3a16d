"""Who made a dataset, whom to ask about it, and how to cite it: what a feed declares (an EML's
creator, contact and citation, a CKAN package's author and maintainer), and the organization's
own contact when the feed names none.

Stored as `dataset.credits` (keys below, empty ones left out) and read back as `Credits`, for
REST, CKAN, DCAT and the page alike.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass

from hub.models import Dataset, Organization

EMAIL = re.compile(r"[^@\s<>\"']+@[^@\s<>\"']+\.[^@\s<>\"']+")
DOI = re.compile(r"(?:https?://(?:dx\.)?doi\.org/|doi:)?(10\.\d{4,9}/\S+)", re.IGNORECASE)


@dataclass(frozen=True)
class Credits:
    """A dataset's declared authorship; every field "" when undeclared."""

    creator: str = ""  # the person or body that made the data (dct:creator)
    contact_name: str = ""
    contact_email: str = ""
    citation: str = ""  # the citation its producer asks for, as written
    doi: str = ""  # as `10.x/y`: shown as https://doi.org/10.x/y

    def stored(self) -> dict[str, str] | None:
        """As `dataset.credits` keeps it: the declared keys only, None if none is."""
        kept = {key: value for key, value in asdict(self).items() if value}
        return kept or None


def declared(
    *,
    creator: str = "",
    contact_name: str = "",
    contact_email: str = "",
    citation: str = "",
    doi: str = "",
) -> Credits:
    """Credits from a feed's text: an e-mail that is not one, or a DOI that is not, is dropped."""
    email = contact_email.strip().removeprefix("mailto:")
    return Credits(
        creator=creator.strip(),
        contact_name=contact_name.strip(),
        contact_email=email if valid_email(email) else "",
        citation=citation.strip(),
        doi=doi_of(doi),
    )


def valid_email(text: str) -> bool:
    """Whether `text` is one plausible e-mail address (nothing around it)."""
    return bool(EMAIL.fullmatch(text.strip()))


def doi_of(text: str) -> str:
    """The DOI in `text` (`10.15468/abcd12`, from a doi.org link or `doi:` too), or ""."""
    found = DOI.search(text.strip())
    return found.group(1).rstrip(".,;") if found else ""


def credits_of(dataset: Dataset) -> Credits:
    """The dataset's stored credits."""
    stored = dataset.credits or {}
    return Credits(**{key: str(stored.get(key, "")) for key in Credits.__dataclass_fields__})


@dataclass(frozen=True)
class Contact:
    """Whom a reuser writes to about a dataset: its feed's contact, else its organization."""

    name: str
    email: str
    website: str


def contact_of(dataset: Dataset, organization: Organization | None) -> Contact:
    """The dataset's contact point: the feed's declared contact if it gave an e-mail, else the
    organization's e-mail and website (either may be "")."""
    own = credits_of(dataset)
    organization_name = organization.name if organization else dataset.organization_id
    website = organization.website if organization else ""
    if own.contact_email:
        return Contact(own.contact_name or organization_name, own.contact_email, website)
    return Contact(organization_name, organization.email if organization else "", website)


def doi_url(doi: str) -> str:
    """The resolvable link of a DOI."""
    return f"https://doi.org/{doi}" if doi else ""
