"""A dataset's authorship in the REST API: whom to ask about it, who made it, how to cite it."""

from __future__ import annotations

from datetime import date

from pydantic import BaseModel, Field

from hub import citations, credits
from hub.models import Dataset, Organization


class ContactOut(BaseModel):
    """Whom a reuser writes to about the dataset (DCAT's contact point)."""

    name: str
    email: str | None = Field(
        description="the feed's declared contact, else the organization's; null when neither "
        "is declared"
    )
    website: str | None = Field(description="the organization's website; null when undeclared")


class CreditsOut(BaseModel):
    """What the dataset's feed declares of its authorship (an EML, a CKAN package)."""

    contact: ContactOut
    creator: str | None = Field(description="who made the data (dct:creator)")
    citation: str | None = Field(
        description="the citation its producer asks for, as declared (GBIF's EML citation)"
    )
    doi: str | None = Field(description="its DOI, as a https://doi.org/ link")


def credits_out(dataset: Dataset, organization: Organization | None) -> CreditsOut:
    """The dataset's contact and declared authorship."""
    contact = credits.contact_of(dataset, organization)
    own = credits.credits_of(dataset)
    return CreditsOut(
        contact=ContactOut(
            name=contact.name, email=contact.email or None, website=contact.website or None
        ),
        creator=own.creator or None,
        citation=own.citation or None,
        doi=credits.doi_url(own.doi) or None,
    )


class CitationOut(BaseModel):
    """How to cite the dataset: a copy-ready attribution line, its version and last update."""

    text: str = Field(
        description="producer, title, licence and its URL, last update, version and the "
        "dataset's page: what Licence Ouverte 2.0 and CC BY ask a reuse to give"
    )
    version: str | None = Field(
        description="the id of the last run that published, updated or withdrew rows (its run "
        "history names it); null when no run changed data. Rows are upserted: it says which "
        "run last changed them, not a snapshot to fetch"
    )
    updated: date = Field(description="the day of that run (else of the last metadata change)")


def citation_out(
    dataset: Dataset,
    organization: Organization | None,
    version: citations.Version | None,
    base: str,
) -> CitationOut:
    """The dataset's attribution line (in English; the page words it in its own language)."""
    citation = citations.citation_of(dataset, organization, version, base)
    return CitationOut(
        text=citations.attribution(citation),
        version=citation.version or None,
        updated=citation.updated,
    )
