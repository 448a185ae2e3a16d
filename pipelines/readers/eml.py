"""EML metadata (a Darwin Core Archive's eml.xml) as `About`, and the archive's safe XML parse.

Every XML document of an archive (meta.xml, the EML) goes through `load_xml`: defusedxml with
DTDs refused outright, since an archive needs none and a DTD is how XXE (entities reading
local files), external fetches and billion-laughs expansion get in.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator
from pathlib import Path
from xml.etree.ElementTree import Element, ParseError

import defusedxml.ElementTree as safe_xml
from defusedxml import DefusedXmlException, DTDForbidden

from hub import credits
from hub.batches import About
from pipelines.readers.base import ReaderError

log = logging.getLogger(__name__)

# What the hub reads of one XML document of an archive: GBIF's largest EMLs (long taxonomic
# coverages) are a few MB; a bigger one is refused before it is read, since parsing costs some
# 40 times its size in memory (a 29 MB EML took 1.1 GB) and its text would swamp the catalogue.
XML_MAX_BYTES = 4 * 1024 * 1024

# GBIF writes HTML line breaks into abstracts as escaped text: `&lt;br/&gt;`.
LINE_BREAK = re.compile(r"<br\s*/?>", re.IGNORECASE)
SPACES = re.compile(r"\s+")


def load_xml(path: Path, name: str) -> Element:
    """The root element of the XML file `path` (shown as `name`); hostile XML is refused."""
    try:
        with path.open("rb") as file:
            data = file.read(XML_MAX_BYTES + 1)
    except OSError as exc:
        raise ReaderError(f"{name}: cannot read it ({exc.strerror})") from exc
    if len(data) > XML_MAX_BYTES:
        raise ReaderError(
            f"{name} is refused: it is larger than the {XML_MAX_BYTES // 1024 // 1024} MiB the "
            "hub reads of an archive's XML document; shorten it (an EML's abstract and keyword "
            "sets) and publish the archive again"
        )
    if data[:1].isspace() and data.lstrip()[:1] == b"<":
        # GBIF wrote some downloads' metadata.xml with spaces before `<?xml`, which XML
        # forbids: whitespace is all it is, so it is dropped rather than the archive refused.
        data = data.lstrip()
    try:
        root: Element = safe_xml.fromstring(data, forbid_dtd=True)
    except DTDForbidden as exc:
        if exc.sysid:
            raise ReaderError(
                f"{name} is refused: it refers to an external DTD ({exc.sysid!r}), which the "
                "hub never fetches; a Darwin Core Archive document needs no DTD"
            ) from exc
        raise ReaderError(
            f"{name} is refused: it declares an inline DTD, whose entities could read local "
            "files (XXE) or expand without bound (billion laughs); a Darwin Core Archive "
            "document needs no DTD"
        ) from exc
    except DefusedXmlException as exc:
        raise ReaderError(f"{name} is refused: unsafe XML ({exc})") from exc
    except ParseError as exc:
        raise ReaderError(f"{name} is not well-formed XML: {exc}") from exc
    return root


def local_name(element: Element) -> str:
    """The tag without its namespace: archives in the wild use several, or none."""
    return element.tag.rpartition("}")[2] if isinstance(element.tag, str) else ""


def children(element: Element, name: str) -> Iterator[Element]:
    """The direct children of `element` whose local name is `name`."""
    return (child for child in element if local_name(child) == name)


def read_eml(path: Path, name: str) -> About:
    """What an EML document says of its dataset: title, abstract, keywords, licence, creator,
    contact, and the citation and DOI GBIF asks reusers to give."""
    root = load_xml(path, name)
    dataset = next(children(root, "dataset"), None)
    if local_name(root) != "eml" or dataset is None:
        raise ReaderError(
            f"{name} is not an EML document (its root is <{local_name(root)}>, "
            "not <eml> with a <dataset>)"
        )
    title = next(children(dataset, "title"), None)
    contact = next(children(dataset, "contact"), None)
    citation = next((e for e in root.iter() if local_name(e) == "citation"), None)
    about = About(
        title=_flat(title) if title is not None else "",
        description=_abstract(dataset),
        keywords=_keywords(dataset),
        licence=_licence(dataset),
        creator=_party_name(next(children(dataset, "creator"), None)),
        contact_name=_party_name(contact),
        contact_email=_email(contact),
        citation=_flat(citation) if citation is not None else "",
        doi=_doi(root, dataset, citation),
    )
    log.debug("%s: %r, %d keywords", name, about.title, len(about.keywords))
    return about


def _flat(element: Element) -> str:
    """An element's text, nested elements included, on one line."""
    return SPACES.sub(" ", "".join(element.itertext())).strip()


def _abstract(dataset: Element) -> str:
    """The abstract's paragraphs, separated by blank lines; escaped `<br/>` become line ends."""
    abstract = next(children(dataset, "abstract"), None)
    if abstract is None:
        return ""
    paragraphs = list(children(abstract, "para")) or [abstract]
    texts = []
    for paragraph in paragraphs:
        lines = LINE_BREAK.split("".join(paragraph.itertext()))
        text = "\n".join(SPACES.sub(" ", line).strip() for line in lines).strip()
        if text:
            texts.append(text)
    return "\n\n".join(texts)


def _keywords(dataset: Element) -> list[str]:
    """Every keyword of every keyword set, once each, in document order."""
    found: dict[str, None] = {}
    for keyword_set in children(dataset, "keywordSet"):
        for keyword in children(keyword_set, "keyword"):
            text = _flat(keyword)
            if text:
                found.setdefault(text, None)
    return list(found)


def _licence(dataset: Element) -> str:
    """The licence of intellectualRights: its link (a licence's url) if it has one, else text."""
    rights = next(children(dataset, "intellectualRights"), None)
    if rights is None:
        return ""
    for element in rights.iter():
        if local_name(element) == "ulink" and element.get("url"):
            return str(element.get("url")).strip()
    return _flat(rights)


def _party_name(party: Element | None) -> str:
    """An EML party's name: the person's (given and surname), else the organization's or the
    position's."""
    if party is None:
        return ""
    for kind in ("individualName", "organizationName", "positionName"):
        named = next(children(party, kind), None)
        parts = [_flat(part) for part in named] if named is not None else []
        text = " ".join(p for p in parts if p) or (_flat(named) if named is not None else "")
        if text:  # givenName and surName, in document order, or the name as one text
            return text
    return ""


def _email(party: Element | None) -> str:
    """An EML party's first e-mail address."""
    address = next(children(party, "electronicMailAddress"), None) if party is not None else None
    return _flat(address) if address is not None else ""


def _doi(root: Element, dataset: Element, citation: Element | None) -> str:
    """The dataset's DOI, as the EML writes it: GBIF's citation identifier, else the package id
    or an alternate identifier that is a DOI ("" if none is)."""
    found = [
        citation.get("identifier", "") if citation is not None else "",
        root.get("packageId", ""),
    ]
    found += [_flat(e) for e in children(dataset, "alternateIdentifier")]
    return next((text for text in found if "10." in text and credits.doi_of(text)), "")
