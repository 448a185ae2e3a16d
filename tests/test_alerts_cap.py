"""CAP 1.2 out: harvested alerts re-published valid and faithful, signed ones verbatim, Update and
Cancel chains, expiry plus 48 h, and hostile input that changes nothing.

Every document is checked against the OASIS CAP 1.2 schema (../shared/reference/cap) with
xmlschema; expected values are read from the sample files with a regex, not with the hub's code.
"""

from __future__ import annotations

import base64
import re
import xml.etree.ElementTree as ET
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from pathlib import Path
from typing import Any

import pytest
import xmlschema
from sqlalchemy import Engine
from sqlmodel import Session, select

from hub.alerts import current, derived, document
from hub.config import PROJECT_ROOT, get_settings
from hub.models import Event
from hub.reading import Caller
from pipelines.flows import harvest_source
from pipelines.sources import Source, load_source

BUNDLED = PROJECT_ROOT / "pipelines" / "sources"
CAP = "{urn:oasis:names:tc:emergency:cap:1.2}"
SAMPLES = {
    "cap-seychelles-aldabra-winds": "risk/cap_seychelles_sc_no_signature.xml",
    "cap-seychelles-aldabra-winds-signed": "risk/cap_seychelles_sc_valid_signed.xml",
    "cap-burkina-faso-storms": "risk/cap_burkinafaso_bf_no_signature.xml",
}
INFO_TEXTS = (
    "language", "event", "urgency", "severity", "certainty", "senderName", "headline",
    "description", "instruction", "web",
)  # fmt: skip
TIMES = ("effective", "onset", "expires")
Record = dict[str, Any]
CAP_TIME = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d[+-]\d\d:\d\d$")


@lru_cache(maxsize=1)
def cap_xsd() -> xmlschema.XMLSchema:
    """The OASIS CAP 1.2 schema, from the shared reference folder."""
    path = get_settings().samples_dir.parent / "reference" / "cap" / "CAP-v1.2.xsd"
    return xmlschema.XMLSchema(str(path))


@pytest.fixture
def cap_schema() -> xmlschema.XMLSchema:
    """The CAP 1.2 schema, loaded once."""
    return cap_xsd()


# --- CAP texts for the tests -------------------------------------------------------------------


def cap_alert(
    identifier: str,
    sent: datetime,
    *,
    msg_type: str = "Alert",
    references: str = "",
    expires: datetime | None = None,
    severity: str = "Moderate",
    sender: str = "info@meteo.gov.sc",
) -> str:
    """A CAP 1.2 alert of two infos (English and French): a polygon and a circle of 10 km."""
    infos = "".join(
        f"""
  <info>
    <language>{language}</language>
    <category>Met</category><category>Safety</category>
    <event>{event}</event>
    <responseType>Prepare</responseType><responseType>Monitor</responseType>
    <urgency>Expected</urgency><severity>{severity}</severity><certainty>Likely</certainty>
    <effective>{_cap(sent)}</effective>
    <onset>{_cap(sent + timedelta(hours=1), "+04:00")}</onset>
    {f"<expires>{_cap(expires, '+04:00')}</expires>" if expires else ""}
    <senderName>Seychelles Meteorological Authority</senderName>
    <headline>{event} over Mahé</headline>
    <description>Gusts to 70 km/h &amp; rough seas.</description>
    <instruction>Stay ashore.</instruction>
    <web>https://www.meteo.sc/alerts/{identifier.rsplit(".", 1)[-1]}</web>
    <area>
      <areaDesc>Mahé</areaDesc>
      <polygon>-4.55,55.40 -4.60,55.55 -4.80,55.52 -4.75,55.38 -4.55,55.40</polygon>
      <circle>-4.62,55.45 10</circle>
    </area>
  </info>"""
        for language, event in (("en", "Strong Winds"), ("fr", "Vents forts"))
    )
    refs = f"<references>{references}</references>" if references else ""
    return (
        "<?xml version='1.0' encoding='utf-8'?>\n"
        '<alert xmlns="urn:oasis:names:tc:emergency:cap:1.2">\n'
        f"  <identifier>{identifier}</identifier><sender>{sender}</sender>\n"
        f"  <sent>{_cap(sent, '+04:00')}</sent><status>Actual</status>"
        f"<msgType>{msg_type}</msgType><scope>Public</scope>{refs}{infos}\n</alert>\n"
    )


def _cap(moment: datetime, offset: str = "+00:00") -> str:
    """A time as CAP writes it, in the given offset (+hh:00)."""
    hours = int(offset[:3])
    local = moment.astimezone(UTC) + timedelta(hours=hours)
    return local.strftime("%Y-%m-%dT%H:%M:%S") + offset


def cap_source(folder: Path, name: str, alerts: list[str], **extra: str) -> Source:
    """A `cap` source of an Atom feed embedding the alerts (Seychelles' open charter by default)."""
    entries = "".join(
        f"<entry><id>urn:test:{n}</id><title>a{n}</title><updated>2024-05-19T13:18:00Z</updated>"
        f'<content type="application/cap+xml">{text.split("?>", 1)[1]}</content></entry>'
        for n, text in enumerate(alerts)
    )
    feed = folder / f"{name}.atom"
    feed.write_text(
        '<?xml version="1.0" encoding="utf-8"?>\n<feed xmlns="http://www.w3.org/2005/Atom">'
        f"<title>CAP</title>{entries}</feed>",
        encoding="utf-8",
    )
    operator = extra.get("operator", "{id: seychelles-meteo, name: Seychelles Meteorological}")
    path = folder / f"{name}.yaml"
    path.write_text(
        "\n".join(
            [
                f"id: {name}",
                f"title: CAP test feed {name}",
                f"operator: {operator}",
                "theme: risk",
                "format: cap",
                f"url: {feed.as_uri()}",
                "schema: risk-alert",
                f"charter: {extra.get('charter', 'seychelles-meteo-cap')}",
            ]
        ),
        encoding="utf-8",
    )
    return load_source(path)


def harvested(source: Source) -> None:
    """Harvest a source; it must publish every row."""
    outcome = harvest_source(source)
    assert outcome.status == "succeeded", outcome


def served(engine: Engine, dataset: str, sender: str, identifier: str) -> bytes:
    """The CAP document the hub serves for an alert, read as anyone reads it."""
    with Session(engine) as session:
        alert_id = current.alert_id(dataset, sender, identifier)
        return document.cap_document(current.find_alert(session, Caller(), alert_id).rows)


def stored_rows(engine: Engine, dataset: str, sender: str, identifier: str) -> list[Record]:
    """The stored rows of an alert, read as anyone reads them."""
    with Session(engine) as session:
        alert_id = current.alert_id(dataset, sender, identifier)
        return current.find_alert(session, Caller(), alert_id).rows


def canonical(data: bytes) -> str:
    """An XML document in canonical form (C14N 2.0), prefixes rewritten, without comments."""
    return ET.canonicalize(data.decode("utf-8"), rewrite_prefixes=True, strip_text=True)


def current_keys(engine: Engine, now: datetime) -> list[tuple[str, str]]:
    """(identifier, msgType) of the alerts current at `now`, for anyone."""
    with Session(engine) as session:
        found = current.current_alerts(session, Caller(), now)
    return [(alert.identifier, alert.msg_type) for alert in found]


def texts(element: ET.Element, name: str) -> list[str]:
    return [child.text or "" for child in element.iter(f"{CAP}{name}")]


def instant(text: str) -> datetime:
    return datetime.fromisoformat(text).astimezone(UTC)


def pairs(text: str) -> list[tuple[float, float]]:
    return [(float(a), float(b)) for a, b in (p.split(",") for p in text.split())]


# --- harvested samples, re-published -----------------------------------------------------------


@pytest.mark.parametrize("name", sorted(SAMPLES))
def test_every_bundled_sample_alert_is_republished_byte_for_byte(
    engine: Engine, samples: Path, cap_schema: xmlschema.XMLSchema, name: str
) -> None:
    harvested(load_source(BUNDLED / f"{name}.yaml"))
    raw = (samples / SAMPLES[name]).read_bytes()
    original = ET.fromstring(raw)
    sender, identifier = original.findtext(f"{CAP}sender"), original.findtext(f"{CAP}identifier")
    assert sender and identifier
    body = served(engine, name, sender, identifier)
    assert body == raw  # signed or not, the document as its sender wrote it
    cap_schema.validate(body)


@pytest.mark.parametrize("name", sorted(SAMPLES))
def test_a_sample_stored_without_its_document_is_rebuilt_valid_with_every_row_field(
    engine: Engine, samples: Path, cap_schema: xmlschema.XMLSchema, name: str
) -> None:
    # Rows stored before risk-alert 1.2.0 hold no document: the rows are all there is.
    harvested(load_source(BUNDLED / f"{name}.yaml"))
    raw = (samples / SAMPLES[name]).read_bytes()
    original = ET.fromstring(raw)
    sender, identifier = original.findtext(f"{CAP}sender"), original.findtext(f"{CAP}identifier")
    rows = stored_rows(engine, name, sender or "", identifier or "")
    body = document.cap_document([{**row, "signed_xml": "", "cap_xml": ""} for row in rows])
    cap_schema.validate(body)
    assert_rows_kept(ET.fromstring(body), original)


def assert_rows_kept(again: ET.Element, original: ET.Element) -> None:
    """A rebuilt one-info alert says what the original says in the fields rows keep."""
    for field in ("identifier", "sender", "status", "msgType", "scope"):
        assert again.findtext(f"{CAP}{field}") == original.findtext(f"{CAP}{field}")
    assert instant(again.findtext(f"{CAP}sent") or "") == instant(
        original.findtext(f"{CAP}sent") or ""
    )
    (info,), (before,) = again.findall(f"{CAP}info"), original.findall(f"{CAP}info")
    for field in INFO_TEXTS:
        default = "en-US" if field == "language" else None  # CAP's default, written out
        assert info.findtext(f"{CAP}{field}") == before.findtext(f"{CAP}{field}", default), field
    assert texts(info, "category") == texts(before, "category")
    assert texts(info, "responseType") == texts(before, "responseType")
    for field in TIMES:
        written = info.findtext(f"{CAP}{field}")
        if before.findtext(f"{CAP}{field}") is None and field != "effective":
            assert written is None, field
            continue
        assert written and CAP_TIME.match(written) and not written.endswith("Z")
        sent_time = before.findtext(f"{CAP}{field}") or original.findtext(f"{CAP}sent") or ""
        assert instant(written) == instant(sent_time)  # `effective` defaults to `sent`
    assert texts(info, "areaDesc") == [" ; ".join(texts(before, "areaDesc"))]
    for polygon, sent_polygon in zip(
        texts(info, "polygon"), [p for p in texts(before, "polygon") if p.strip()], strict=True
    ):
        assert pairs(polygon) == pairs(sent_polygon)  # lat,lon, closed, every vertex as sent


def test_a_multi_info_alert_with_a_circle_is_rebuilt_whole(
    engine: Engine, tmp_path: Path, cap_schema: xmlschema.XMLSchema
) -> None:
    sent = datetime(2024, 5, 19, 9, 0, tzinfo=UTC)
    text = cap_alert("urn:test:sc.1", sent, expires=sent + timedelta(hours=6))
    harvested(cap_source(tmp_path, "cap-mahe", [text]))
    body = served(engine, "cap-mahe", "info@meteo.gov.sc", "urn:test:sc.1")
    cap_schema.validate(body)
    again, before = ET.fromstring(body), ET.fromstring(text)
    assert [i.findtext(f"{CAP}language") for i in again.iter(f"{CAP}info")] == ["en", "fr"]
    assert texts(again, "event") == ["Strong Winds", "Vents forts"]
    assert texts(again, "category") == texts(before, "category")
    assert texts(again, "responseType") == texts(before, "responseType")
    assert texts(again, "description") == ["Gusts to 70 km/h & rough seas."] * 2
    for info, sent_info in zip(again.iter(f"{CAP}info"), before.iter(f"{CAP}info"), strict=True):
        assert pairs(texts(info, "polygon")[0]) == pairs(texts(sent_info, "polygon")[0])
        (circle,) = texts(info, "circle")
        assert circle == "-4.62,55.45 10"  # kept as a circle, centre and radius as sent
        for field in TIMES:
            assert instant(info.findtext(f"{CAP}{field}") or "") == instant(
                sent_info.findtext(f"{CAP}{field}") or ""
            )


# --- chains and expiry -------------------------------------------------------------------------


def test_an_update_replaces_its_alert_and_a_cancel_removes_the_chain(
    engine: Engine, tmp_path: Path, cap_schema: xmlschema.XMLSchema
) -> None:
    sent = datetime(2024, 5, 19, 9, 0, tzinfo=UTC)
    expires = sent + timedelta(hours=12)
    first = cap_alert("urn:test:chain.1", sent, expires=expires)
    harvested(cap_source(tmp_path, "cap-chain", [first]))
    assert current_keys(engine, sent + timedelta(hours=1)) == [("urn:test:chain.1", "Alert")]
    triple = f"info@meteo.gov.sc,urn:test:chain.1,{_cap(sent, '+04:00')}"
    update = cap_alert(
        "urn:test:chain.2",
        sent + timedelta(hours=2),
        msg_type="Update",
        references=triple,
        expires=expires,
        severity="Severe",
    )
    harvested(cap_source(tmp_path, "cap-chain", [first, update]))
    assert current_keys(engine, sent + timedelta(hours=3)) == [("urn:test:chain.2", "Update")]
    updated = ET.fromstring(served(engine, "cap-chain", "info@meteo.gov.sc", "urn:test:chain.2"))
    assert updated.findtext(f"{CAP}references") == triple
    assert texts(updated, "severity") == ["Severe", "Severe"]
    second = f"info@meteo.gov.sc,urn:test:chain.2,{_cap(sent + timedelta(hours=2), '+04:00')}"
    cancel = cap_alert(
        "urn:test:chain.3",
        sent + timedelta(hours=4),
        msg_type="Cancel",
        references=f"{triple} {second}",
    )
    harvested(cap_source(tmp_path, "cap-chain", [first, update, cancel]))
    assert current_keys(engine, sent + timedelta(hours=5)) == []
    cap_schema.validate(served(engine, "cap-chain", "info@meteo.gov.sc", "urn:test:chain.3"))


def test_an_expired_alert_leaves_the_index_48_hours_after_its_expiry(
    engine: Engine, tmp_path: Path
) -> None:
    sent = datetime(2024, 5, 19, 9, 0, tzinfo=UTC)
    expires = sent + timedelta(hours=6)
    harvested(
        cap_source(tmp_path, "cap-expiry", [cap_alert("urn:test:x.1", sent, expires=expires)])
    )
    listed = [("urn:test:x.1", "Alert")]
    assert current_keys(engine, expires - timedelta(hours=1)) == listed
    assert current_keys(engine, expires + timedelta(hours=47, minutes=59)) == listed
    assert current_keys(engine, expires + timedelta(hours=48, minutes=1)) == []
    # Gone from the index, the document itself is still served.
    assert b"urn:test:x.1" in served(engine, "cap-expiry", "info@meteo.gov.sc", "urn:test:x.1")


def test_an_alert_without_expiry_stays_current_until_cancelled(
    engine: Engine, tmp_path: Path
) -> None:
    sent = datetime(2024, 5, 19, 9, 0, tzinfo=UTC)
    harvested(cap_source(tmp_path, "cap-open", [cap_alert("urn:test:o.1", sent)]))
    assert current_keys(engine, sent + timedelta(days=30)) == [("urn:test:o.1", "Alert")]


# --- hostile input -----------------------------------------------------------------------------

LAUGHS = (
    '<?xml version="1.0"?>\n<!DOCTYPE lolz [<!ENTITY lol0 "lol">'
    + "".join(f'<!ENTITY lol{i} "{f"&lol{i - 1};" * 10}">' for i in range(1, 10))
    + ']>\n<alert xmlns="urn:oasis:names:tc:emergency:cap:1.2">'
    + "<identifier>&lol9;</identifier></alert>"
)
EXTERNAL = (
    '<?xml version="1.0"?>\n<!DOCTYPE alert [<!ENTITY ext SYSTEM "file:///etc/hostname">]>\n'
    '<alert xmlns="urn:oasis:names:tc:emergency:cap:1.2"><identifier>&ext;</identifier></alert>'
)


@pytest.mark.parametrize("hostile", [LAUGHS, EXTERNAL], ids=["billion-laughs", "external-entity"])
def test_a_hostile_feed_is_refused_and_the_index_unchanged(
    engine: Engine, tmp_path: Path, hostile: str
) -> None:
    sent = datetime(2024, 5, 19, 9, 0, tzinfo=UTC)
    harvested(cap_source(tmp_path, "cap-hostile", [cap_alert("urn:test:h.1", sent)]))
    before = current_keys(engine, sent)
    source = cap_source(tmp_path, "cap-hostile", [])
    Path(source.url.removeprefix("file://")).write_text(hostile, encoding="utf-8")
    outcome = harvest_source(source)
    assert outcome.status == "failed"
    assert outcome.message.startswith("HostileXML: cap-hostile.atom declares a document type")
    assert current_keys(engine, sent) == before == [("urn:test:h.1", "Alert")]


def test_an_id_that_is_not_one_is_unknown(engine: Engine) -> None:
    with Session(engine) as session:
        for text in ("nope", "", "W10", current.alert_id("no-such-dataset", "a", "b")):
            with pytest.raises(current.UnknownAlert):
                current.find_alert(session, Caller(), text)


def test_a_feed_linking_a_hostile_alert_fails_whole_and_stores_nothing(
    engine: Engine, tmp_path: Path
) -> None:
    sent = datetime(2024, 5, 19, 9, 0, tzinfo=UTC)
    (tmp_path / "evil.xml").write_text(LAUGHS, encoding="utf-8")
    source = cap_source(tmp_path, "cap-linked", [cap_alert("urn:test:l.1", sent)])
    feed = Path(source.url.removeprefix("file://"))
    link = "<entry><id>urn:evil</id><title>evil</title><updated>2024-05-19T13:18:00Z</updated>"
    link += '<link rel="alternate" type="application/cap+xml" href="evil.xml"/></entry>'
    feed.write_text(feed.read_text(encoding="utf-8").replace("</feed>", f"{link}</feed>"))
    outcome = harvest_source(source)
    assert outcome.status == "failed"
    assert (
        outcome.message.startswith("HostileXML: ") and "declares a document type" in outcome.message
    )
    assert current_keys(engine, sent) == []  # the good alert beside it was not published either


# --- what the rows do not keep ------------------------------------------------------------------

# An unsigned alert with every element CAP 1.2 has beyond the rows' fields, and two areas.
RICH = """<alert xmlns="urn:oasis:names:tc:emergency:cap:1.2">
  <identifier>urn:test:rich.1</identifier>
  <sender>vigilance@meteo.example</sender>
  <sent>2024-05-19T17:18:00+04:00</sent>
  <status>Actual</status>
  <msgType>Alert</msgType>
  <source>Forecaster on duty</source>
  <scope>Restricted</scope>
  <restriction>Civil protection and mayors</restriction>
  <addresses>"Civil protection" mairies@example.org</addresses>
  <code>IPAWSv1.0</code>
  <code>profile:CAP-FR:1.0</code>
  <note>Issued after the 15:00 run.</note>
  <incidents>storm-2024-05</incidents>
  <info>
    <language>fr-FR</language>
    <category>Met</category>
    <event>Vent violent</event>
    <responseType>Prepare</responseType>
    <urgency>Expected</urgency>
    <severity>Severe</severity>
    <certainty>Likely</certainty>
    <audience>Maires et services de secours</audience>
    <eventCode><valueName>SAME</valueName><value>HWW</value></eventCode>
    <eventCode><valueName>profile:CAP-FR:event</valueName><value>wind</value></eventCode>
    <effective>2024-05-19T17:18:00+04:00</effective>
    <onset>2024-05-20T06:00:00+04:00</onset>
    <expires>2024-05-20T18:00:00+04:00</expires>
    <senderName>Météo Exemple</senderName>
    <headline>Vent violent &amp; mer forte</headline>
    <description>Rafales à 110 km/h.</description>
    <instruction>Restez chez vous.</instruction>
    <web>https://meteo.example/vigilance?id=1&amp;lang=fr</web>
    <contact>+33 1 23 45 67 89</contact>
    <parameter><valueName>awareness_level</valueName><value>3; orange; Severe</value></parameter>
    <parameter><valueName>VTEC</valueName><value>/O.NEW.KXXX.HW.W.0001.240520T0200Z/</value></parameter>
    <resource>
      <resourceDesc>Carte de vigilance</resourceDesc>
      <mimeType>image/png</mimeType>
      <size>20480</size>
      <uri>https://meteo.example/carte.png</uri>
      <digest>2c26b46b68ffc68ff99b453c1d30413413422d706483bfa0f98a5e886266e7ae</digest>
    </resource>
    <area>
      <areaDesc>Hérault</areaDesc>
      <polygon>43.2,3.0 43.9,3.0 43.9,4.2 43.2,4.2 43.2,3.0</polygon>
      <geocode><valueName>INSEE_DEP</valueName><value>34</value></geocode>
      <altitude>0</altitude>
      <ceiling>2000.5</ceiling>
    </area>
    <area>
      <areaDesc>Gard</areaDesc>
      <circle>43.84,4.36 25</circle>
      <geocode><valueName>INSEE_DEP</valueName><value>30</value></geocode>
    </area>
  </info>
</alert>"""
RICH_ELEMENTS = (
    "source", "restriction", "addresses", "code", "note", "incidents", "audience", "eventCode",
    "contact", "parameter", "resource", "geocode", "altitude", "ceiling",
)  # fmt: skip


def test_an_unsigned_alert_in_a_feed_is_served_as_received_with_all_it_holds(
    engine: Engine, tmp_path: Path, cap_schema: xmlschema.XMLSchema
) -> None:
    harvested(cap_source(tmp_path, "cap-rich", [f"<?xml version='1.0'?>{RICH}"]))
    body = served(engine, "cap-rich", "vigilance@meteo.example", "urn:test:rich.1")
    assert body == RICH.encode("utf-8")  # the bytes of the feed's <alert> element
    cap_schema.validate(body)
    again = ET.fromstring(body)
    assert all(texts(again, name) for name in RICH_ELEMENTS)
    assert texts(again, "areaDesc") == ["Hérault", "Gard"]  # each area apart, as sent


def test_an_alert_under_a_prefix_of_its_feed_is_served_whole_element_for_element(
    engine: Engine, tmp_path: Path, cap_schema: xmlschema.XMLSchema
) -> None:
    # `cap:` is declared by the feed, not by the alert: its bytes alone are no document, so
    # the reader keeps the same elements written as one.
    prefixed = re.sub(r"<(/?)(?=[A-Za-z])", r"<\1cap:", RICH).replace(
        ' xmlns="urn:oasis:names:tc:emergency:cap:1.2"', ""
    )
    source = cap_source(tmp_path, "cap-prefixed", [f"<?xml version='1.0'?>{prefixed}"])
    feed = Path(source.url.removeprefix("file://"))
    feed.write_text(
        feed.read_text(encoding="utf-8").replace(
            '<feed xmlns="http://www.w3.org/2005/Atom">',
            '<feed xmlns="http://www.w3.org/2005/Atom" '
            'xmlns:cap="urn:oasis:names:tc:emergency:cap:1.2">',
        ),
        encoding="utf-8",
    )
    harvested(source)
    body = served(engine, "cap-prefixed", "vigilance@meteo.example", "urn:test:rich.1")
    cap_schema.validate(body)
    assert canonical(body) == canonical(RICH.encode("utf-8"))


def test_an_original_the_schema_refuses_is_rebuilt_valid(
    engine: Engine, tmp_path: Path, cap_schema: xmlschema.XMLSchema
) -> None:
    # `Z` times: read fine, refused by CAP 1.2's schema, so never served as received.
    sent = datetime(2024, 5, 19, 9, 0, tzinfo=UTC)
    text = cap_alert("urn:test:z.1", sent, expires=sent + timedelta(hours=6))
    zulu = re.sub(r"(<(sent|effective)>[^<]*)\+04:00<", r"\1Z<", text)
    zulu = zulu.replace("+00:00<", "Z<")
    assert "Z</sent>" in zulu and "Z</effective>" in zulu
    with pytest.raises(xmlschema.XMLSchemaValidationError):
        cap_schema.validate(zulu.split("?>", 1)[1])
    harvested(cap_source(tmp_path, "cap-zulu", [zulu]))
    rows = stored_rows(engine, "cap-zulu", "info@meteo.gov.sc", "urn:test:z.1")
    assert all(row["cap_xml"] for row in rows)  # kept, but not served as it is
    body = document.cap_document(rows)
    cap_schema.validate(body)
    again = ET.fromstring(body)
    assert texts(again, "event") == ["Strong Winds", "Vents forts"]
    written = re.search(r"<sent>([^<]*)Z</sent>", zulu)
    assert written and again.findtext(f"{CAP}sent") == f"{written.group(1)}+00:00"


NWS_11 = """<?xml version = '1.0' encoding = 'UTF-8' standalone = 'yes'?>
<alert xmlns = 'urn:oasis:names:tc:emergency:cap:1.1'>
 <identifier>NOAA-NWS-ALERTS-MI1251789D1A1C.LakeEffectSnowAdvisory.125178BAA9B0MI.MQTWSWMQT.3d0d3874140d30ee7d3c0c4b085be682</identifier>
 <sender>w-nws.webmaster@noaa.gov</sender>
 <sent>2014-11-25T16:27:00-05:00</sent>
 <status>Actual</status>
 <msgType>Alert</msgType>
 <scope>Public</scope>
 <note>Alert for Gogebic; Ontonagon (Michigan) Issued by the National Weather Service</note>
 <info>
 <category>Met</category>
 <event>Lake Effect Snow Advisory</event>
 <urgency>Expected</urgency>
 <severity>Minor</severity>
 <certainty>Likely</certainty>
 <eventCode>
 <valueName>SAME</valueName>
 <value>WSW</value>
 </eventCode>
 <effective>2014-11-25T16:27:00-05:00</effective>
 <expires>2014-11-27T10:00:00-05:00</expires>
 <senderName>NWS Marquette (Northern Michigan)</senderName>
 <headline>Lake Effect Snow Advisory issued November 25 at 4:27PM EST</headline>
 <parameter>
 <valueName>VTEC</valueName>
 <value>/O.EXT.KMQT.LE.Y.0023.000000T0000Z-141127T1500Z/</value>
 </parameter>
 <area>
 <areaDesc>Gogebic; Ontonagon</areaDesc>
 <polygon>46.2,-90.4 46.9,-90.4 46.9,-89.0 46.2,-89.0 46.2,-90.4</polygon>
 <geocode>
 <valueName>FIPS6</valueName>
 <value>026053</value>
 </geocode>
 </area>
 </info>
 </alert>"""  # noqa: E501 — the NWS alert of tests/readers/test_cap_reader.py, with a polygon


def test_a_cap_1_1_document_is_served_upgraded_to_valid_cap_1_2(
    engine: Engine, tmp_path: Path, cap_schema: xmlschema.XMLSchema
) -> None:
    # A CAP 1.1 original kept beside the rows of the same alert (the `cap` reader keeps one
    # when it reads CAP 1.1; tests/test_cap_versions.py harvests them).
    as_12 = NWS_11.replace("emergency:cap:1.1", "emergency:cap:1.2")
    source = cap_source(tmp_path, "cap-nws", [as_12])
    feed = Path(source.url.removeprefix("file://"))
    feed.write_text(as_12, encoding="utf-8")  # the alert alone, not in a feed
    harvested(source)
    sender, identifier = (
        "w-nws.webmaster@noaa.gov",
        ET.fromstring(as_12).findtext(f"{CAP}identifier"),
    )
    rows = stored_rows(engine, "cap-nws", sender, identifier or "")
    kept = base64.b64encode(NWS_11.encode("utf-8")).decode("ascii")
    body = document.cap_document([{**row, "cap_xml": kept} for row in rows])
    cap_schema.validate(body)
    again = ET.fromstring(body)
    assert again.tag == f"{CAP}alert"
    # Upgraded, not rebuilt: what the rows do not keep is served too, as hub.alerts.document says.
    assert canonical(body) == canonical(as_12.encode("utf-8"))
    assert all(texts(again, name) for name in ("note", "eventCode", "parameter", "geocode"))


# --- derived alerts ----------------------------------------------------------------------------


def test_a_derived_alert_is_served_as_it_was_announced(
    engine: Engine, cap_schema: xmlschema.XMLSchema
) -> None:
    from test_alert_rules import derived_rows, hourly, publish_air  # it imports this module

    publish_air(engine, hourly("FR010", "no2", [120, 250, 90]))  # an episode, over: 2 alerts
    raised = derived_rows(engine)
    assert [row["msgType"] for row in raised] == ["Alert", "Cancel"]
    every = derived_rows(engine, None)  # one row per info: French, then English
    with Session(engine) as session:
        logged = session.exec(select(Event).where(Event.dataset_id == derived.DATASET)).all()
    announced = {
        event.payload["record"]["identifier"]: event.payload["record"]["cap_xml"]
        for event in logged
        if event.kind == "alert"
    }
    for row in raised:
        body = served(engine, derived.DATASET, str(row["sender"]), str(row["identifier"]))
        assert (
            body
            == base64.b64decode(announced[row["identifier"]])
            == base64.b64decode(str(row["cap_xml"]))
        )
        cap_schema.validate(body)
        infos = [info for info in every if info["identifier"] == row["identifier"]]
        assert [info["language"] for info in infos] == ["fr-FR", "en-GB"]
        assert body == document.rebuilt_document(infos)  # what its rows say, no more


# --- the cheap check agrees with the schema ----------------------------------------------------

MUTATIONS = {
    "as-sent": ("", ""),
    "zulu-time": ("<sent>2024-05-19T17:18:00+04:00</sent>", "<sent>2024-05-19T13:18:00Z</sent>"),
    "fraction": ("<onset>2024-05-20T06:00:00+04:00", "<onset>2024-05-20T06:00:00.5+04:00"),
    "no-date": ("<expires>2024-05-20T18", "<expires>2024-02-30T18"),
    "order": ("<source>Forecaster on duty</source>\n  <scope>Restricted</scope>",
              "<scope>Restricted</scope>\n  <source>Forecaster on duty</source>"),
    "unknown": ("<note>", "<remark>x</remark><note>"),
    "twice": ("<note>", "<incidents>x</incidents><note>"),
    "missing": ("<event>Vent violent</event>", ""),
    "enum-space": ("<severity>Severe</severity>", "<severity> Severe</severity>"),
    "enum-case": ("<certainty>Likely</certainty>", "<certainty>likely</certainty>"),
    "attribute": ("<info>", '<info id="1">'),
    "mixed": ("<area>\n      <areaDesc>Gard", "<area>Gard<areaDesc>Gard"),
    "decimal": ("<ceiling>2000.5</ceiling>", "<ceiling>high</ceiling>"),
    "integer": ("<size>20480</size>", "<size>20 KB</size>"),
    "uri": ("<uri>https://meteo.example/carte.png</uri>", "<uri>https://x.example:port/</uri>"),
    "language": ("<language>fr-FR</language>", "<language>français</language>"),
    "pair": ("<value>34</value>", ""),
    "foreign": ("</alert>", '<x:note xmlns:x="urn:other">x</x:note></alert>'),
    "signature": ("</alert>", '<Signature xmlns="http://www.w3.org/2000/09/xmldsig#"/></alert>'),
    "cap-1.1": ("emergency:cap:1.2", "emergency:cap:1.1"),
}  # fmt: skip


@pytest.mark.parametrize("name", sorted(MUTATIONS))
def test_the_check_before_serving_as_received_agrees_with_the_schema(
    cap_schema: xmlschema.XMLSchema, name: str
) -> None:
    old, new = MUTATIONS[name]
    assert old in RICH
    text = RICH.replace(old, new, 1)
    kept = base64.b64encode(text.encode("utf-8")).decode("ascii")
    assert document.is_servable(kept) == (name == "as-sent")
    # Stricter than xmlschema on URIs (a port that is no number), as other validators are.
    assert cap_schema.is_valid(text) == (name in ("as-sent", "uri"))
