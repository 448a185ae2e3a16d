"""CAP 1.1 and 1.0 in: the `cap` reader reads them as it reads CAP 1.2, and the hub serves them
as CAP 1.2 that the OASIS schema accepts (upgraded when it can be, else rebuilt from the rows).

The alerts below are written for these tests, in the shape the CAP 1.1 and 1.0 schemas give
(google/cap-library schema/cap11.xsd and cap10.xsd): NWS-style pairs in 1.1, 1.0's
`name=value` codes, its `<password>` and its `Very Likely`. Expected values are read from the
texts with a regex, not with the reader's parser.
"""

from __future__ import annotations

import base64
import json
import logging
import re
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import pytest
import xmlschema
from sqlalchemy import Engine
from sqlmodel import Session
from test_alerts_cap import canonical, cap_source, cap_xsd, harvested, served, stored_rows

from hub import catalogue
from pipelines.flows import harvest_source
from pipelines.readers import ReaderError
from pipelines.readers.cap_xml import HostileXML
from pipelines.sources import Operator, Source
from tests.readers.test_cap_reader import read_rows, write

CAP12 = "urn:oasis:names:tc:emergency:cap:1.2"
CAP11 = "urn:oasis:names:tc:emergency:cap:1.1"
CAP10 = "http://www.incident.com/cap/1.0"  # the namespace of the OASIS CAP 1.0 standard
CAP10_URN = "urn:oasis:names:tc:emergency:cap:1.0"  # as some 1.0 senders wrote it
DSIG = "http://www.w3.org/2000/09/xmldsig#"
SECRET = "s3cr3t-relay-pw"

# A flood warning as a county's CAP 1.1 system writes it: pairs for codes, two areas.
ALERT_11 = f"""<?xml version="1.0" encoding="UTF-8"?>
<alert xmlns="{CAP11}">
  <identifier>urn:test:county.flood.2011.42</identifier>
  <sender>warnings@county.example</sender>
  <sent>2011-03-14T06:30:00-05:00</sent>
  <status>Actual</status>
  <msgType>Alert</msgType>
  <scope>Public</scope>
  <note>Issued from the county's CAP 1.1 gateway.</note>
  <info>
    <language>en-US</language>
    <category>Met</category>
    <category>Safety</category>
    <event>Flood Warning</event>
    <responseType>Evacuate</responseType>
    <urgency>Immediate</urgency>
    <severity>Severe</severity>
    <certainty>Observed</certainty>
    <eventCode><valueName>SAME</valueName><value>FLW</value></eventCode>
    <effective>2011-03-14T06:30:00-05:00</effective>
    <onset>2011-03-14T08:00:00-05:00</onset>
    <expires>2011-03-14T18:00:00-05:00</expires>
    <senderName>County Emergency Management</senderName>
    <headline>Flood warning for the river valley</headline>
    <description>The river is over its banks at the gauge.</description>
    <instruction>Leave the low-lying streets now.</instruction>
    <web>https://county.example/flood</web>
    <parameter><valueName>VTEC</valueName><value>/O.NEW.KXXX.FL.W.0042.110314T1330Z/</value></parameter>
    <area>
      <areaDesc>River valley</areaDesc>
      <polygon>38.10,-97.40 38.30,-97.40 38.30,-97.10 38.10,-97.10 38.10,-97.40</polygon>
      <geocode><valueName>FIPS6</valueName><value>020155</value></geocode>
    </area>
    <area>
      <areaDesc>Mill creek</areaDesc>
      <circle>38.05,-97.25 4.5</circle>
    </area>
  </info>
</alert>
"""  # noqa: E501

# A CAP 1.0 chemical release notice: a password, `name=value` codes, certainty `Very Likely`.
ALERT_10 = f"""<?xml version="1.0" encoding="UTF-8"?>
<alert xmlns="{CAP10}">
  <identifier>urn:test:plant.release.2004.7</identifier>
  <sender>hazmat@plant.example</sender>
  <sent>2004-06-01T14:05:00+02:00</sent>
  <status>Actual</status>
  <msgType>Alert</msgType>
  <password>{SECRET}</password>
  <source>Plant safety officer</source>
  <scope>Public</scope>
  <info>
    <category>Safety</category>
    <event>Chemical release</event>
    <urgency>Immediate</urgency>
    <severity>Extreme</severity>
    <certainty>Very Likely</certainty>
    <eventCode>SAME=HMW</eventCode>
    <effective>2004-06-01T14:05:00+02:00</effective>
    <expires>2004-06-01T20:00:00+02:00</expires>
    <senderName>Plant Safety</senderName>
    <headline>Stay indoors downwind of the plant</headline>
    <area>
      <areaDesc>Downwind sector</areaDesc>
      <polygon>45.70,4.80 45.76,4.80 45.76,4.90 45.70,4.90 45.70,4.80</polygon>
      <geocode>INSEE=69123</geocode>
    </area>
  </info>
</alert>
"""
# The same 1.0 alert without what 1.2 writes otherwise: it can be upgraded as it stands.
PLAIN_10 = re.sub(r"\s*<(eventCode|geocode)>[^<]*</\1>", "", ALERT_10)

SIGNATURE = (
    f'<Signature xmlns="{DSIG}"><SignedInfo/><SignatureValue>AAAA</SignatureValue></Signature>'  # noqa: E501
)


def value(text: str, name: str) -> str:
    """The text of the first `<name>` element of a raw XML text."""
    found = re.search(rf"<{name}>(.*?)</{name}>", text, re.S)
    assert found, name
    return found.group(1).strip()


def as_cap12(text: str, namespace: str) -> str:
    """What the reader should see in an older alert: the same alert in CAP 1.2's namespace,
    without 1.0's password, its `Very Likely` named `Likely` as from 1.1 on."""
    text = text.replace(namespace, CAP12).replace("Very Likely", "Likely")
    return re.sub(r"\s*<password>[^<]*</password>", "", text)


# --- reading -----------------------------------------------------------------------------------


def source_of(url: str) -> Source:
    operator = Operator("county-em", "County Emergency Management")
    return Source(
        id="cap-versions", title="CAP versions", operator=operator, theme="risk", format="cap",
        url=url, schema="risk-alert", charter="seychelles-meteo-cap",
    )  # fmt: skip


Rows = list[dict[str, Any]]


def read(path: Path) -> tuple[Rows, list[Any]]:
    """The rows and problems of a CAP file, as the harvest reads them."""
    source = source_of(path.as_uri())
    source.path = path.parent / "cap.yaml"  # relative links resolve against the feed's folder
    return read_rows(path, source)


def without_document(rows: Rows) -> Rows:
    return [{**row, "cap_xml": "", "signed_xml": ""} for row in rows]


def test_a_cap_1_1_alert_gives_the_rows_of_the_same_alert_in_cap_1_2(tmp_path: Path) -> None:
    rows, problems = read(write(tmp_path, "flood11.xml", ALERT_11))
    same, _ = read(write(tmp_path, "flood12.xml", as_cap12(ALERT_11, CAP11)))
    assert problems == [] and len(rows) == 1
    assert without_document(rows) == without_document(same)
    (row,) = rows
    assert base64.b64decode(row["cap_xml"]) == ALERT_11.encode("utf-8")  # kept as received
    for name in ("identifier", "sender", "event", "urgency", "severity", "certainty", "web"):
        assert row[name] == value(ALERT_11, name), name
    assert (row["category"], row["responseType"]) == ("Met Safety", "Evacuate")
    assert row["area_desc"] == "River valley ; Mill creek"
    ring = json.loads(row["area"])["coordinates"][0][0]  # a MultiPolygon: polygon and circle
    pairs = [p.split(",") for p in value(ALERT_11, "polygon").split()]
    assert ring == [[float(lon), float(lat)] for lat, lon in pairs]


@pytest.mark.parametrize("namespace", [CAP10, CAP10_URN], ids=["incident.com", "urn"])
def test_a_cap_1_0_alert_is_read_without_its_password(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, namespace: str
) -> None:
    text = ALERT_10.replace(CAP10, namespace)
    with caplog.at_level(logging.WARNING, logger="pipelines.readers.cap"):
        rows, problems = read(write(tmp_path, "release10.xml", text))
    same, _ = read(write(tmp_path, "release12.xml", as_cap12(text, namespace)))
    assert problems == [] and without_document(rows) == without_document(same)
    (row,) = rows
    assert (row["certainty"], row["responseType"], row["scope"]) == ("Likely", "", "Public")
    assert row["signed_xml"] == ""
    kept = base64.b64decode(row["cap_xml"])
    assert SECRET.encode() not in kept and b"password" not in kept
    assert "<password> is dropped" in caplog.text and SECRET not in caplog.text
    # The rest of the alert is kept element for element, in its own namespace.
    original = ET.fromstring(text.encode("utf-8"))
    original.remove(original.find(f"{{{namespace}}}password"))  # type: ignore[arg-type]
    assert canonical(kept) == canonical(ET.tostring(original, encoding="utf-8"))


def test_a_signed_cap_1_0_alert_with_a_password_is_kept_unsigned_without_either(
    tmp_path: Path,
) -> None:
    signed = ALERT_10.replace("</alert>", f"{SIGNATURE}\n</alert>")
    (row,), _ = read(write(tmp_path, "signed10.xml", signed))
    kept = base64.b64decode(row["cap_xml"])
    assert row["signed_xml"] == "" and SECRET.encode() not in kept
    assert DSIG.encode() not in kept  # a signature of bytes that are no longer these


def test_a_signed_cap_1_1_alert_keeps_its_bytes(tmp_path: Path) -> None:
    signed = ALERT_11.replace("</alert>", f"{SIGNATURE}\n</alert>")
    (row,), _ = read(write(tmp_path, "signed11.xml", signed))
    assert (base64.b64decode(row["signed_xml"]), row["cap_xml"]) == (signed.encode(), "")


def body_of(text: str) -> str:
    """An alert text without its XML declaration."""
    return text.split("?>", 1)[1].strip()


def test_atom_and_rss_feeds_embed_and_link_cap_1_1_and_1_0_alerts(tmp_path: Path) -> None:
    write(tmp_path, "linked11.xml", ALERT_11.replace("flood.2011.42", "flood.2011.43"))
    write(tmp_path, "linked10.xml", ALERT_10.replace("release.2004.7", "release.2004.8"))
    # 1.0 under a prefix the feed declares: its bytes alone are no document.
    prefixed = re.sub(r"<(/?)(?=[A-Za-z])", r"<\1c:", body_of(ALERT_10))
    prefixed = prefixed.replace(f' xmlns="{CAP10}"', "")
    atom = (
        f'<?xml version="1.0" encoding="utf-8"?>\n<feed xmlns="http://www.w3.org/2005/Atom" '
        f'xmlns:c="{CAP10}"><title>CAP</title>'
        f'<entry><id>e1</id><content type="application/cap+xml">{body_of(ALERT_11)}</content>'
        "</entry>"
        f"<entry><id>e2</id><content>{prefixed}</content></entry>"
        '<entry><id>e3</id><link type="application/cap+xml" href="linked11.xml"/></entry>'
        "</feed>"
    )  # fmt: skip
    rss = (
        '<?xml version="1.0"?><rss version="2.0"><channel><title>CAP</title>'
        f"<item><title>1.1</title><description>{body_of(ALERT_11)}</description></item>"
        '<item><title>1.0</title><enclosure url="linked10.xml" type="application/cap+xml"/></item>'
        "</channel></rss>"
    )  # fmt: skip
    for name, text, expected in (
        ("feed.atom", atom, ["flood.2011.42", "release.2004.7", "flood.2011.43"]),
        ("feed.rss", rss, ["flood.2011.42", "release.2004.8"]),
    ):
        rows, problems = read(write(tmp_path, name, text))
        assert problems == [], name
        assert [row["identifier"].split(".", 1)[1] for row in rows] == expected, name
        for row in rows:
            kept = base64.b64decode(row["cap_xml"])
            alone = ET.fromstring(kept)  # every kept document reads alone
            assert alone.tag in (f"{{{CAP11}}}alert", f"{{{CAP10}}}alert"), name
            assert SECRET.encode() not in kept
            assert row["certainty"] in ("Observed", "Likely")


# --- refused -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "words"),
    [
        (
            ALERT_11.replace(CAP11, "urn:oasis:names:tc:emergency:cap:2.0"),
            r"x\.xml is a CAP alert of namespace 'urn:oasis:names:tc:emergency:cap:2\.0': "
            r"this reader reads CAP 1\.2, 1\.1, 1\.0 \(urn:oasis:names:tc:emergency:cap:1\.2, ",
        ),
        (
            ALERT_11.replace(CAP11, "urn:example:alerts"),
            r"x\.xml is neither a CAP alert \(CAP 1\.2, 1\.1, 1\.0\) nor an Atom or RSS feed of "
            r"alerts: its root element is <alert> of namespace 'urn:example:alerts'",
        ),
        (
            ALERT_11.replace(f' xmlns="{CAP11}"', ""),
            r"x\.xml is neither a CAP alert .* its root element is <alert>$",
        ),
    ],
    ids=["cap-2.0", "other-namespace", "no-namespace"],
)
def test_an_unknown_namespace_is_refused_by_name(tmp_path: Path, text: str, words: str) -> None:
    with pytest.raises(ReaderError, match=words):
        read(write(tmp_path, "x.xml", text))


def test_a_feed_entry_of_an_unknown_cap_namespace_is_quarantined(tmp_path: Path) -> None:
    write(tmp_path, "future.xml", ALERT_11.replace(CAP11, "urn:oasis:names:tc:emergency:cap:1.3"))
    future = ALERT_11.replace(CAP11, "urn:oasis:names:tc:emergency:cap:1.3")
    atom = (
        '<?xml version="1.0"?><feed xmlns="http://www.w3.org/2005/Atom"><title>CAP</title>'
        '<entry><id>e1</id><link type="application/cap+xml" href="future.xml"/></entry>'
        f"<entry><id>e2</id><content>{body_of(future)}</content></entry>"
        f"<entry><id>e3</id><content>{body_of(ALERT_11)}</content></entry></feed>"
    )
    rows, problems = read(write(tmp_path, "feed.atom", atom))
    assert [p.row for p in problems] == [2, 3] and rows[2]["event"] == "Flood Warning"
    assert problems[0].note.endswith(
        "future.xml, a CAP alert of namespace 'urn:oasis:names:tc:emergency:cap:1.3': this "
        f"reader reads CAP 1.2, 1.1, 1.0 ({CAP12}, {CAP11}, {CAP10}, {CAP10_URN})"
    )
    assert problems[1].note == "entry 2 neither embeds a CAP alert nor links to one"


def hostile(namespace: str) -> dict[str, str]:
    """XML attacks wrapped around an alert of the given namespace."""
    laughs = "".join(f'<!ENTITY l{i} "{f"&l{i - 1};" * 10}">' for i in range(1, 10))
    return {
        "xxe": '<?xml version="1.0"?>\n<!DOCTYPE alert [<!ENTITY s SYSTEM "file:///etc/passwd">]>'
        f'\n<alert xmlns="{namespace}"><identifier>&s;</identifier></alert>',
        "billion-laughs": f'<?xml version="1.0"?>\n<!DOCTYPE alert [<!ENTITY l0 "lol">{laughs}]>'
        f'\n<alert xmlns="{namespace}"><identifier>&l9;</identifier></alert>',
        "external-dtd": '<?xml version="1.0"?>\n<!DOCTYPE alert SYSTEM "http://127.0.0.1:9/c.dtd">'
        f'\n<alert xmlns="{namespace}"><identifier>x</identifier></alert>',
    }


@pytest.mark.parametrize("attack", ["xxe", "billion-laughs", "external-dtd"])
@pytest.mark.parametrize("namespace", [CAP11, CAP10], ids=["cap-1.1", "cap-1.0"])
def test_hostile_cap_1_1_and_1_0_documents_are_refused_alone_and_linked(
    tmp_path: Path, namespace: str, attack: str
) -> None:
    text = hostile(namespace)[attack]
    with pytest.raises(HostileXML, match=r"evil\.xml declares a document type"):
        read(write(tmp_path, "evil.xml", text))
    atom = (
        '<?xml version="1.0"?><feed xmlns="http://www.w3.org/2005/Atom"><title>CAP</title>'
        f"<entry><id>e1</id><content>{body_of(ALERT_11)}</content></entry>"
        '<entry><id>e2</id><link type="application/cap+xml" href="evil.xml"/></entry></feed>'
    )
    with pytest.raises(HostileXML, match=r"evil\.xml declares a document type"):
        read(write(tmp_path, "feed.atom", atom))


# --- served as CAP 1.2 -------------------------------------------------------------------------


@pytest.fixture
def cap_schema() -> xmlschema.XMLSchema:
    return cap_xsd()


def texts(element: ET.Element, name: str) -> list[str]:
    return [child.text or "" for child in element.iter(f"{{{CAP12}}}{name}")]


def test_a_harvested_cap_1_1_alert_is_served_upgraded_with_all_it_holds(
    engine: Engine, tmp_path: Path, cap_schema: xmlschema.XMLSchema
) -> None:
    harvested(cap_source(tmp_path, "cap-flood", [ALERT_11]))
    body = served(engine, "cap-flood", value(ALERT_11, "sender"), value(ALERT_11, "identifier"))
    cap_schema.validate(body)
    assert canonical(body) == canonical(as_cap12(ALERT_11, CAP11).encode("utf-8"))
    again = ET.fromstring(body)
    assert texts(again, "areaDesc") == ["River valley", "Mill creek"]  # each area apart
    assert all(texts(again, name) for name in ("note", "eventCode", "parameter", "geocode"))


@pytest.mark.parametrize(
    ("text", "upgraded"), [(PLAIN_10, True), (ALERT_10, False)], ids=["plain", "name=value-codes"]
)
def test_a_harvested_cap_1_0_alert_is_served_valid_and_without_its_password(
    engine: Engine, tmp_path: Path, cap_schema: xmlschema.XMLSchema, text: str, upgraded: bool
) -> None:
    harvested(cap_source(tmp_path, "cap-release", [text]))
    sender, identifier = value(text, "sender"), value(text, "identifier")
    body = served(engine, "cap-release", sender, identifier)
    cap_schema.validate(body)
    assert SECRET.encode() not in body and b"password" not in body
    stored = json.dumps(stored_rows(engine, "cap-release", sender, identifier), default=str)
    assert SECRET not in stored and SECRET not in base64.b64decode(
        re.findall(r'"cap_xml": "([^"]+)"', stored)[0]
    ).decode("utf-8")
    again = ET.fromstring(body)
    assert texts(again, "certainty") == ["Likely"] and texts(again, "source") == (
        ["Plant safety officer"] if upgraded else []  # rebuilt: what the rows keep, no more
    )
    if upgraded:
        assert canonical(body) == canonical(as_cap12(text, CAP10).encode("utf-8"))
    else:  # 1.0's `SAME=HMW` is no 1.2 eventCode: rebuilt from the rows
        assert texts(again, "eventCode") == texts(again, "geocode") == []
        assert texts(again, "event") == ["Chemical release"]


def test_a_signed_cap_1_1_alert_is_served_upgraded_without_its_signature(
    engine: Engine, tmp_path: Path, cap_schema: xmlschema.XMLSchema
) -> None:
    signed = ALERT_11.replace("</alert>", f"{SIGNATURE}\n</alert>")
    harvested(cap_source(tmp_path, "cap-signed", [signed]))
    sender, identifier = value(signed, "sender"), value(signed, "identifier")
    (row,) = stored_rows(engine, "cap-signed", sender, identifier)
    assert base64.b64decode(str(row["signed_xml"])) == body_of(signed).encode("utf-8")
    body = served(engine, "cap-signed", sender, identifier)
    cap_schema.validate(body)
    assert DSIG.encode() not in body  # a signature of 1.1 bytes holds for no 1.2 ones
    assert canonical(body) == canonical(as_cap12(ALERT_11, CAP11).encode("utf-8"))


def test_a_cap_1_1_alert_the_upgrade_leaves_invalid_is_rebuilt_valid(
    engine: Engine, tmp_path: Path, cap_schema: xmlschema.XMLSchema
) -> None:
    # CAP 1.1 takes `Z` times and a resource without mimeType; CAP 1.2 takes neither.
    text = ALERT_11.replace("<sent>2011-03-14T06:30:00-05:00", "<sent>2011-03-14T11:30:00Z")
    resource = "<resource><resourceDesc>Map</resourceDesc></resource>"
    text = text.replace("    <area>", f"    {resource}\n    <area>", 1)
    harvested(cap_source(tmp_path, "cap-old-times", [text]))
    body = served(engine, "cap-old-times", value(text, "sender"), value(text, "identifier"))
    cap_schema.validate(body)
    again = ET.fromstring(body)
    assert again.findtext(f"{{{CAP12}}}sent") == "2011-03-14T11:30:00+00:00"
    assert texts(again, "resourceDesc") == [] and texts(again, "event") == ["Flood Warning"]
    assert texts(again, "areaDesc") == ["River valley ; Mill creek"]  # rebuilt: one area


def test_a_cap_1_0_alert_without_scope_is_quarantined_with_its_reason(
    engine: Engine, tmp_path: Path
) -> None:
    # CAP 1.0 makes <scope> optional; risk-alert, like CAP 1.1 and 1.2, requires it.
    text = ALERT_10.replace("<scope>Public</scope>", "")
    others = [ALERT_11, ALERT_11.replace("flood.2011.42", "flood.2011.44")]
    outcome = harvest_source(cap_source(tmp_path, "cap-no-scope", [*others, text]))
    assert (outcome.read, outcome.published, outcome.quarantined) == (3, 2, 1), outcome
    with Session(engine) as session:
        (held,) = catalogue.quarantined(session, "cap-no-scope")
    assert "scope" in json.dumps(held.model_dump(), default=str)


ALERT_11_ID = "urn:test:county.flood.2011.42"


def test_a_hostile_cap_1_1_feed_changes_nothing(engine: Engine, tmp_path: Path) -> None:
    harvested(cap_source(tmp_path, "cap-county", [ALERT_11]))
    before = stored_rows(engine, "cap-county", value(ALERT_11, "sender"), ALERT_11_ID)
    source = cap_source(tmp_path, "cap-county", [])
    Path(source.url.removeprefix("file://")).write_text(hostile(CAP11)["xxe"], encoding="utf-8")
    outcome = harvest_source(source)
    assert outcome.status == "failed"
    assert outcome.message.startswith("HostileXML: cap-county.atom declares a document type")
    assert stored_rows(engine, "cap-county", value(ALERT_11, "sender"), ALERT_11_ID) == before
