"""The `cap` reader: real CAP 1.2 alerts (Seychelles, Burkina Faso) and feeds of them.

Expected values are read from the sample files' own text (a regex over the raw XML, not the
reader's parser): times converted to UTC here, polygons swapped to lon/lat here.
"""

from __future__ import annotations

import base64
import json
import re
import threading
import time
import xml.etree.ElementTree as ET
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import polars as pl
import pytest
import sqlalchemy as sa
from pyproj import Geod
from sqlalchemy import Engine
from sqlmodel import Session

from hub import catalogue, records
from hub.batches import RowProblem
from hub.config import PROJECT_ROOT, get_settings
from hub.schemas import load_schema
from pipelines.fetch import fetch
from pipelines.flows import Outcome, harvest_source
from pipelines.readers import Fetched, ReaderError, read_records
from pipelines.sources import Operator, Source, load_source

FIELDS = load_schema("risk-alert").fields
SEYCHELLES = "risk/cap_seychelles_sc_no_signature.xml"
SIGNED = "risk/cap_seychelles_sc_valid_signed.xml"
BURKINA = "risk/cap_burkinafaso_bf_no_signature.xml"
BUNDLED = PROJECT_ROOT / "pipelines" / "sources"
CAP_TYPE = "application/cap+xml"


# --- what the files say, read without the reader ---------------------------------------------


def tag(text: str, name: str) -> str:
    """The text of the first `<name>` element of a raw XML text."""
    found = re.search(rf"<{name}>(.*?)</{name}>", text, re.S)
    assert found, name
    return found.group(1).strip()


def utc(stamp: str) -> str:
    """An ISO 8601 time with an offset, as the hub writes it in UTC."""
    return datetime.fromisoformat(stamp).astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def lon_lat_ring(text: str) -> list[list[float]]:
    """The first `<polygon>` of a raw CAP text as GeoJSON `[lon, lat]` positions."""
    pairs = (pair.split(",") for pair in tag(text, "polygon").split())
    return [[float(lon), float(lat)] for lat, lon in pairs]


def alert_element(text: str) -> str:
    """A CAP file's `<alert>` element, without its XML declaration and stylesheet line."""
    return text[text.index("<alert") :]


def swap(text: str, old: str, new: str) -> str:
    """`text` with `old` (which must occur) replaced by `new`."""
    assert old in text, old
    return text.replace(old, new)


def inside(point: tuple[float, float], ring: list[list[float]]) -> bool:
    """Whether a lon/lat point lies inside a ring (ray casting)."""
    x, y = point
    hits = 0
    for (x1, y1), (x2, y2) in zip(ring, ring[1:], strict=False):
        if (y1 > y) != (y2 > y) and x < x1 + (y - y1) * (x2 - x1) / (y2 - y1):
            hits += 1
    return hits % 2 == 1


# --- reading -----------------------------------------------------------------------------------


def cap_source(url: str, **options: Any) -> Source:
    operator = Operator("seychelles-meteo", "Seychelles Meteorological Authority")
    return Source(
        id="cap-test", title="CAP test", operator=operator, theme="risk", format="cap",
        url=url, schema="risk-alert", charter="seychelles-meteo-cap", options=options,
    )  # fmt: skip


Rows = list[dict[str, Any]]


def read_rows(path: Path, source: Source | None = None) -> tuple[Rows, list[RowProblem]]:
    """The normalised rows and problems of a CAP file, as the harvest reads them."""
    src = source or cap_source(path.as_uri())
    chunks = list(read_records(src, Fetched(path, url=src.url)))
    for chunk in chunks:
        assert chunk.frame.columns == [*FIELDS, "_row"]
        assert chunk.frame.schema["_row"] == pl.Int64
    rows = pl.concat([c.frame for c in chunks]).to_dicts() if chunks else []
    return rows, [p for c in chunks for p in c.problems]


def write(folder: Path, name: str, text: str) -> Path:
    path = folder / name
    path.write_text(text, encoding="utf-8")
    return path


def test_the_seychelles_alert_gives_one_row_in_utc_with_a_lon_lat_polygon(samples: Path) -> None:
    text = (samples / SEYCHELLES).read_text(encoding="utf-8")
    rows, problems = read_rows(samples / SEYCHELLES)
    assert problems == [] and len(rows) == 1
    row = rows[0]
    assert {k: row[k] for k in ("identifier", "sender", "status", "msgType", "scope")} == {
        k: tag(text, k) for k in ("identifier", "sender", "status", "msgType", "scope")
    }
    assert row["sent"] == utc(tag(text, "sent")) == "2024-05-19T13:18:00Z"
    assert (row["effective"], row["onset"], row["expires"]) == (
        utc(tag(text, "effective")), utc(tag(text, "onset")), utc(tag(text, "expires")),
    )  # fmt: skip
    assert row["expires"] == "2024-05-19T19:30:00Z"
    assert (row["info_index"], row["language"], row["category"], row["event"]) == (
        "0", "en", "Met", "Strong Winds",
    )  # fmt: skip
    assert (row["urgency"], row["severity"], row["certainty"]) == (
        "Immediate",
        "Moderate",
        "Observed",
    )
    assert row["senderName"] == tag(text, "senderName")
    assert row["headline"] == tag(text, "headline") and row["web"] == tag(text, "web")
    assert (row["area_desc"], row["references"], row["signed_xml"], row["_row"]) == (
        "Aldabra area", "", "", 2,
    )  # fmt: skip
    area = json.loads(row["area"])
    ring = lon_lat_ring(text)
    assert area == {"type": "Polygon", "coordinates": [ring]}
    assert len(ring) == 14 and area["coordinates"][0][0] == [46.078276, -9.186965]  # lon, lat
    point = (float(row["longitude"]), float(row["latitude"]))
    assert inside(point, ring)  # the centroid of this convex-ish ring lies within it
    assert point == pytest.approx((46.395, -9.533), abs=0.01)


def test_the_signed_alert_keeps_its_bytes_and_reads_as_the_unsigned_one(samples: Path) -> None:
    signed, _ = read_rows(samples / SIGNED)
    plain, _ = read_rows(samples / SEYCHELLES)
    assert len(signed) == len(plain) == 1
    assert base64.b64decode(signed[0]["signed_xml"]) == (samples / SIGNED).read_bytes()
    assert plain[0]["signed_xml"] == "" and signed[0]["cap_xml"] == ""
    # The unsigned one keeps its own bytes, as `cap_xml`: the hub re-publishes them.
    assert base64.b64decode(plain[0]["cap_xml"]) == (samples / SEYCHELLES).read_bytes()
    assert {**signed[0], "signed_xml": "", "cap_xml": plain[0]["cap_xml"]} == plain[0]


def test_the_41009_vertex_burkina_polygon_is_read_whole_and_fast(samples: Path) -> None:
    text = (samples / BURKINA).read_text(encoding="utf-8")
    started = time.perf_counter()
    rows, problems = read_rows(samples / BURKINA)
    elapsed = time.perf_counter() - started
    assert problems == [] and len(rows) == 1
    row = rows[0]
    # "-00:00" (RFC 3339's "offset unknown") is UTC too
    assert (
        tag(text, "sent") == "2024-07-02T20:10:00-00:00" and row["sent"] == "2024-07-02T20:10:00Z"
    )
    assert (row["language"], row["responseType"], row["certainty"]) == ("fr", "Shelter", "Likely")
    assert row["senderName"] == "Agence Nationale de la Météorologie du Burkina Faso"
    ring = json.loads(row["area"])["coordinates"][0]
    expected = lon_lat_ring(text)
    assert len(ring) == len(expected) == 41009
    assert ring[20000] == expected[20000] and ring[0] == ring[-1] == [-0.576148, 15.0825820000001]
    point = (float(row["longitude"]), float(row["latitude"]))
    assert inside(point, ring) and point == pytest.approx((-1.73, 12.27), abs=0.05)
    assert elapsed < 10, f"{elapsed:.1f} s to read one alert"  # about 0.3 s here


def test_circles_several_polygons_and_geocodes_make_their_geometries(
    samples: Path, tmp_path: Path
) -> None:
    text = (samples / SEYCHELLES).read_text(encoding="utf-8")
    info = text[text.index("<info>") : text.index("</info>") + len("</info>")]
    ring_text = tag(text, "polygon")
    triangle = "-4.6,55.4 -4.7,55.5 -4.8,55.4"  # not closed: the reader closes it
    mahe = (
        f"<area><areaDesc>Mahé</areaDesc><polygon>{triangle}</polygon>"
        "<circle>-9.4,46.4 10</circle></area>"
    )
    several = swap(info, "</area>", f"</area>{mahe}")
    circle_only = swap(info, f"<polygon>{ring_text}</polygon>", "<circle>-4.62,55.45 5.5</circle>")
    geocode = "<geocode><valueName>ISO3166-2</valueName><value>SC-26</value></geocode>"
    geocoded = swap(info, f"<polygon>{ring_text}</polygon>", geocode)
    alert = swap(text, info, several + circle_only + geocoded)
    rows, problems = read_rows(write(tmp_path, "shapes.xml", alert))
    assert problems == [] and [r["info_index"] for r in rows] == ["0", "1", "2"]
    assert [r["_row"] for r in rows] == [2, 3, 4]

    multi = json.loads(rows[0]["area"])
    assert multi["type"] == "MultiPolygon" and rows[0]["area_desc"] == "Aldabra area ; Mahé"
    aldabra, mahe, circle = (polygon[0] for polygon in multi["coordinates"])
    assert aldabra == lon_lat_ring(text)
    assert mahe == [[55.4, -4.6], [55.5, -4.7], [55.4, -4.8], [55.4, -4.6]]
    assert len(circle) == 65 and circle[0] == circle[-1]
    geod = Geod(ellps="WGS84")
    for lon, lat in circle[:-1]:
        assert geod.inv(46.4, -9.4, lon, lat)[2] == pytest.approx(10_000, abs=1)
    assert inside((float(rows[0]["longitude"]), float(rows[0]["latitude"])), aldabra)

    assert json.loads(rows[1]["area"])["type"] == "Polygon"
    assert (rows[1]["longitude"], rows[1]["latitude"]) == ("55.45", "-4.62")  # circle's centre
    assert (rows[2]["area"], rows[2]["longitude"], rows[2]["latitude"]) == ("", "", "")
    assert rows[2]["area_desc"] == "Aldabra area"


@pytest.mark.parametrize(
    ("polygon", "words"),
    [
        (
            "-9.186965,46.078276 -9.336746 -9.57065,45.983427",
            r"vertex 2 '-9\.336746' is not a 'lat,lon' pair",
        ),  # fmt: skip
        (
            "-9.186965,46.078276 north,45.936002 -9.57065,45.983427",
            r"vertex 2 'north,45\.936002' is not a pair of numbers",
        ),  # fmt: skip
        (
            "146.078276,-9.186965 45.936002,-9.336746 45.983427,-9.57065",
            r"vertex 1 '146\.078276,-9\.186965': latitude 146\.078 is outside -90\.\.90 "
            r"\(lon,lat written instead of lat,lon\?\)",
        ),  # fmt: skip
        (
            "-9.186965,46.078276 -9.336746,45.936002",
            r"has 2 vertices but not 3 distinct ones: no surface",
        ),
    ],
)
def test_a_malformed_polygon_quarantines_its_info_row_only(
    samples: Path, tmp_path: Path, polygon: str, words: str
) -> None:
    text = (samples / SEYCHELLES).read_text(encoding="utf-8")
    info = text[text.index("<info>") : text.index("</info>") + len("</info>")]
    broken = swap(swap(info, tag(text, "polygon"), polygon), ">en<", ">fr<")
    rows, problems = read_rows(write(tmp_path, "bad.xml", swap(text, info, info + broken)))
    assert [r["_row"] for r in rows] == [2, 3]
    assert json.loads(rows[0]["area"])["coordinates"][0] == lon_lat_ring(text)
    assert [(p.row, p.field) for p in problems] == [(3, "area")]
    assert re.search(rf"info 1: area 1 \('Aldabra area'\), polygon 1,? {words}", problems[0].note)
    assert rows[1]["area"] == "" and rows[1]["event"] == "Strong Winds"


# An NWS alert (the CAP 1.1 alert quoted in NWSAlertEntryDetail.java of
# github.com/justdave/nwsweatheralertswidget, shortened): its area is given by geocodes and an
# empty <polygon></polygon>, as NWS writes them: no geometry, not a malformed one. As CAP 1.1
# it gives the same rows as in CAP 1.2's namespace.
NWS_ALERT = """<?xml version = '1.0' encoding = 'UTF-8' standalone = 'yes'?>
<alert xmlns = 'urn:oasis:names:tc:emergency:cap:1.1'>
 <identifier>NOAA-NWS-ALERTS-MI1251789D1A1C.LakeEffectSnowAdvisory.125178BAA9B0MI.MQTWSWMQT.3d0d3874140d30ee7d3c0c4b085be682</identifier>
 <sender>w-nws.webmaster@noaa.gov</sender>
 <sent>2014-11-25T16:27:00-05:00</sent>
 <status>Actual</status>
 <msgType>Alert</msgType>
 <scope>Public</scope>
 <info>
 <category>Met</category>
 <event>Lake Effect Snow Advisory</event>
 <urgency>Expected</urgency>
 <severity>Minor</severity>
 <certainty>Likely</certainty>
 <effective>2014-11-25T16:27:00-05:00</effective>
 <expires>2014-11-27T10:00:00-05:00</expires>
 <senderName>NWS Marquette (Northern Michigan)</senderName>
 <area>
 <areaDesc>Gogebic; Ontonagon</areaDesc>
 <polygon></polygon>
 <geocode>
 <valueName>FIPS6</valueName>
 <value>026053</value>
 </geocode>
 </area>
 </info>
 </alert>"""  # noqa: E501


def test_an_empty_nws_polygon_is_no_geometry(tmp_path: Path) -> None:
    as_11, problems_11 = read_rows(write(tmp_path, "nws11.xml", NWS_ALERT))
    cap12 = swap(NWS_ALERT, "emergency:cap:1.1", "emergency:cap:1.2")
    rows, problems = read_rows(write(tmp_path, "nws.xml", cap12))
    assert problems == problems_11 == [] and len(rows) == 1
    assert [{**r, "cap_xml": ""} for r in as_11] == [{**r, "cap_xml": ""} for r in rows]
    row = rows[0]
    assert (row["area"], row["longitude"], row["latitude"]) == ("", "", "")
    assert (row["area_desc"], row["sent"]) == ("Gogebic; Ontonagon", "2014-11-25T21:27:00Z")
    # An empty polygon before a real one: the real one keeps its number in messages.
    broken = swap(cap12, "<polygon></polygon>", "<polygon></polygon><polygon>46.5,-89.9</polygon>")
    _, problems = read_rows(write(tmp_path, "broken.xml", broken))
    assert [p.field for p in problems] == ["area"]
    assert "area 1 ('Gogebic; Ontonagon'), polygon 2" in problems[0].note


def test_an_nws_atom_index_of_cap_1_1_alerts_has_its_linked_alerts_read(tmp_path: Path) -> None:
    # The head and first entry of NWS's Idaho Atom index of 2013 (tests/test_cap.py of
    # github.com/zebpalmer/WeatherAlerts): a CAP 1.1 index whose entries link to CAP 1.1
    # alerts; here its link names a local copy of NWS_ALERT.
    entry = """<entry>
<id>http://alerts.weather.gov/cap/wwacapget.php?x=ID124EE90581D4.DenseFogAdvisory.124EE911B1C0ID.BOINPWBOI.94f563b5486fa14b27263b9f27b03205</id>
<updated>2013-01-26T13:13:00-07:00</updated>
<title>Dense Fog Advisory issued January 26 at 1:13PM MST until January 26 at 1:00PM MST by NWS</title>
<link href="{href}"/>
<cap:event>Dense Fog Advisory</cap:event>
<cap:areaDesc>Lower Treasure Valley</cap:areaDesc>
<cap:polygon></cap:polygon>
</entry>"""  # noqa: E501
    head = """<?xml version = '1.0' encoding = 'UTF-8' standalone = 'yes'?>
<feed xmlns = 'http://www.w3.org/2005/Atom'
xmlns:cap = 'urn:oasis:names:tc:emergency:cap:1.1'
xmlns:ha = 'http://www.alerting.net/namespace/index_1.0'>
<id>http://alerts.weather.gov/cap/id.atom</id>"""
    write(tmp_path, "nws11.xml", NWS_ALERT)
    feed = write(tmp_path, "id.atom", f"{head}\n{entry.format(href='nws11.xml')}\n</feed>")
    source = cap_source(feed.as_uri())
    source.path = tmp_path / "cap.yaml"
    rows, problems = read_rows(feed, source)
    assert [r["_row"] for r in rows] == [2] and problems == []
    assert (rows[0]["event"], rows[0]["sent"]) == (
        "Lake Effect Snow Advisory",
        "2014-11-25T21:27:00Z",
    )
    assert base64.b64decode(rows[0]["cap_xml"]) == NWS_ALERT.encode("utf-8")


# A real Algerian alert (tests/data/dz/valid.xml of github.com/wmo-im/capvalidator), its
# 223-point polygon cut to its first three points and closed: the ONM writes `<web>` as a bare
# host name, which is no absolute URI.
ALGERIA_ALERT = """<?xml version='1.0' encoding='utf-8'?>
<alert xmlns="urn:oasis:names:tc:emergency:cap:1.2">
    <identifier>cad1270d-9957-4e48-be06-5a49e01a059d</identifier>
    <sender>www.meteo.dz</sender>
    <sent>2024-07-12T10:54:01+00:00</sent>
    <status>Actual</status>
    <msgType>Alert</msgType>
    <scope>Public</scope>
    <info>
        <language>fr-FR</language>
        <category>Met</category>
        <event>CANICULE</event>
        <urgency>Expected</urgency>
        <severity>Moderate</severity>
        <certainty>Likely</certainty>
        <effective>2024-07-12T10:54:01+00:00</effective>
        <onset>2024-07-12T09:00:00+00:00</onset>
        <expires>2024-07-13T06:00:00+00:00</expires>
        <senderName>Office National de la Météorologie</senderName>
        <headline>Avertissement De CANICULE Modéré</headline>
        <description />
        <instruction>Veuillez consulter les consignes de sécurités sur le lien suivant: https://www.meteo.dz/medias/files/2019/CONSIGNES.pdf</instruction>
        <web>www.meteo.dz</web>
        <contact>www.meteo.dz/contact</contact>
        <area>
            <areaDesc>RELIZANE</areaDesc>
            <polygon>35.701226818000066,0.22822006400002692 35.69394707500004,0.2558000670000524 35.672807816000045,0.26258006700004444 35.701226818000066,0.22822006400002692</polygon>
        </area>
    </info>
</alert>"""  # noqa: E501


def test_a_web_that_is_no_absolute_uri_is_left_empty_and_the_alert_published(
    engine: Engine, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = write(tmp_path, "dz.xml", ALGERIA_ALERT)
    with caplog.at_level("WARNING", logger="pipelines.readers.cap_alert"):
        outcome = harvest_source(cap_source_file(tmp_path, path.as_uri(), "cap-dz"))
    assert outcome.status == "succeeded", outcome
    assert_counts(outcome, 1, 1, 0)
    (record,) = stored(engine, "cap-dz")
    assert (record["event"], record["severity"], record["area_desc"]) == (
        "CANICULE",
        "Moderate",
        "RELIZANE",
    )
    assert (record["sent"], record["expires"]) == ("2024-07-12T10:54:01Z", "2024-07-13T06:00:00Z")
    assert record["web"] is None
    assert record["instruction"].endswith("https://www.meteo.dz/medias/files/2019/CONSIGNES.pdf")
    (warning,) = [r.getMessage() for r in caplog.records if "<web>" in r.getMessage()]
    assert "'www.meteo.dz' is not an absolute URI" in warning
    assert "cad1270d-9957-4e48-be06-5a49e01a059d" in warning
    # Written as CAP asks, the same link is kept.
    rows, problems = read_rows(write(tmp_path, "dz-https.xml", swap(
        ALGERIA_ALERT, "<web>www.meteo.dz</web>", "<web>https://www.meteo.dz</web>"
    )))  # fmt: skip
    assert problems == [] and [r["web"] for r in rows] == ["https://www.meteo.dz"]


# --- bad documents -----------------------------------------------------------------------------

XXE = """<?xml version="1.0"?>
<!DOCTYPE alert [<!ENTITY secret SYSTEM "file:///etc/passwd">]>
<alert xmlns="urn:oasis:names:tc:emergency:cap:1.2"><identifier>&secret;</identifier></alert>"""
EXTERNAL_DTD = """<?xml version="1.0"?>
<!DOCTYPE alert SYSTEM "http://127.0.0.1:9/cap.dtd">
<alert xmlns="urn:oasis:names:tc:emergency:cap:1.2"><identifier>x</identifier></alert>"""
LAUGHS = (
    '<?xml version="1.0"?>\n<!DOCTYPE lolz [<!ENTITY lol0 "lol">'
    + "".join(f'<!ENTITY lol{i} "{f"&lol{i - 1};" * 10}">' for i in range(1, 10))
    + ']>\n<alert xmlns="urn:oasis:names:tc:emergency:cap:1.2">'
    + "<identifier>&lol9;</identifier></alert>"
)


@pytest.mark.parametrize(
    ("text", "words"),
    [
        (XXE, r"bad\.xml declares a document type: refused.*\(XXE\)"),
        (
            EXTERNAL_DTD,
            r"declares a document type \(an external DTD at 'http://127\.0\.0\.1:9/cap\.dtd'\)",
        ),  # fmt: skip
        (LAUGHS, r"declares a document type: refused.*billion laughs"),
        ("station,value\nA,1\n", r"bad\.xml is not well-formed XML \(syntax error at line 1"),
        ("\n", r"bad\.xml is empty: no CAP alert or feed in it"),
        (
            "<?xml version='1.0' encoding='klingon'?><alert/>",
            r"bad\.xml declares an encoding that cannot be read: unknown encoding: klingon",
        ),
    ],
    ids=["xxe", "external-dtd", "billion-laughs", "not-xml", "empty", "unknown-encoding"],
)
def test_hostile_or_broken_xml_is_refused_with_a_clear_error(
    tmp_path: Path, text: str, words: str
) -> None:
    with pytest.raises(ReaderError, match=words):
        read_rows(write(tmp_path, "bad.xml", text))


def test_a_truncated_alert_is_refused_as_truncated(samples: Path, tmp_path: Path) -> None:
    data = (samples / SEYCHELLES).read_bytes()
    path = tmp_path / "cut.xml"
    path.write_bytes(data[: len(data) // 2])
    words = r"cut\.xml is not well-formed XML \(it ends at line \d+ before its root element is closed: truncated\?\)"  # noqa: E501
    with pytest.raises(ReaderError, match=words):
        read_rows(path)


def test_an_xml_document_that_is_not_cap_is_refused(samples: Path, tmp_path: Path) -> None:
    xsd = samples.parent / "reference" / "cap" / "CAP-v1.2.xsd"  # real XML, but a schema
    copy = tmp_path / "CAP-v1.2.xsd"
    copy.write_bytes(xsd.read_bytes())
    words = (
        r"CAP-v1\.2\.xsd is neither a CAP alert \(CAP 1\.2, 1\.1, 1\.0\) nor an Atom or RSS feed "
        r"of alerts: its root "
        r"element is <schema> of namespace 'http://www\.w3\.org/2001/XMLSchema'"
    )
    with pytest.raises(ReaderError, match=words):
        read_rows(copy)
    cap13 = swap((samples / SEYCHELLES).read_text(), "emergency:cap:1.2", "emergency:cap:1.3")
    words = r"a CAP alert of namespace 'urn:oasis:names:tc:emergency:cap:1\.3': this reader reads CAP 1\.2, 1\.1, 1\.0"  # noqa: E501
    with pytest.raises(ReaderError, match=words):
        read_rows(write(tmp_path, "new.xml", cap13))


# --- updates, cancels, feeds -------------------------------------------------------------------


def follow_up(text: str, identifier: str, sent: str, msg_type: str, references: str) -> str:
    """The Seychelles alert re-issued as an Update or Cancel of earlier alerts."""
    text = swap(text, tag(text, "identifier"), identifier)
    text = swap(text, f"<sent>{tag(text, 'sent')}</sent>", f"<sent>{sent}</sent>")
    text = swap(text, "<msgType>Alert</msgType>", f"<msgType>{msg_type}</msgType>")
    scope = "<scope>Public</scope>"
    return swap(text, scope, f"{scope}\n    <references>{references}</references>")


def chain(samples: Path) -> tuple[str, str, str, list[str]]:
    """The Seychelles alert, a synthetic Update and Cancel of it, and their reference triples."""
    alert = (samples / SEYCHELLES).read_text(encoding="utf-8")
    first = f"{tag(alert, 'sender')},{tag(alert, 'identifier')},{tag(alert, 'sent')}"
    update_id, update_sent = "urn:oid:2.49.0.0.690.0.2024.5.19.15.0.0", "2024-05-19T19:00:00+04:00"
    update = follow_up(alert, update_id, update_sent, "Update", first)
    update = swap(update, "<severity>Moderate</severity>", "<severity>Severe</severity>")
    second = f"{tag(alert, 'sender')},{update_id},{update_sent}"
    cancel_id, cancel_sent = "urn:oid:2.49.0.0.690.0.2024.5.19.18.0.0", "2024-05-19T22:00:00+04:00"
    cancel = follow_up(alert, cancel_id, cancel_sent, "Cancel", f"{first}  {second}")
    cancel = swap(cancel, "<urgency>Immediate</urgency>", "<urgency>Past</urgency>")
    return alert, update, cancel, [first, second]


def atom(*entries: str) -> str:
    """An Atom feed of the given entry bodies."""
    body = "".join(
        f"<entry><id>urn:test:entry:{n}</id><title>alert {n}</title>"
        f"<updated>2024-05-19T13:18:00Z</updated>{entry}</entry>"
        for n, entry in enumerate(entries, 1)
    )
    head = '<?xml version="1.0" encoding="utf-8"?>\n<feed xmlns="http://www.w3.org/2005/Atom">'
    return f"{head}<title>CAP</title>{body}</feed>"


def link(href: str) -> str:
    return f'<link rel="alternate" type="{CAP_TYPE}" href="{href}"/>'


def embed(alert: str) -> str:
    return f'<content type="{CAP_TYPE}">{alert_element(alert)}</content>'


def test_an_update_and_a_cancel_keep_their_references(samples: Path, tmp_path: Path) -> None:
    alert, update, cancel, (first, second) = chain(samples)
    feed = atom(embed(alert), embed(update), embed(cancel))
    rows, problems = read_rows(write(tmp_path, "feed.atom", feed))
    assert problems == []
    assert [(r["msgType"], r["sent"], r["severity"]) for r in rows] == [
        ("Alert", "2024-05-19T13:18:00Z", "Moderate"),
        ("Update", "2024-05-19T15:00:00Z", "Severe"),
        ("Cancel", "2024-05-19T18:00:00Z", "Moderate"),
    ]
    assert [r["references"] for r in rows] == ["", first, f"{first} {second}"]
    assert first.split(",") == [
        "info@meteo.gov.sc",
        "urn:oid:2.49.0.0.690.0.2024.5.19.13.18.0",
        "2024-05-19T17:18:00+04:00",
    ]
    assert [r["urgency"] for r in rows] == ["Immediate", "Immediate", "Past"]


def test_an_alert_without_info_is_quarantined_with_its_reason(
    samples: Path, tmp_path: Path
) -> None:
    _, _, cancel, (first, second) = chain(samples)
    bare = cancel[: cancel.index("<info>")] + "</alert>"
    rows, problems = read_rows(write(tmp_path, "bare.xml", bare))
    assert len(rows) == 1 and rows[0]["msgType"] == "Cancel"
    assert rows[0]["references"] == f"{first} {second}"
    assert [(p.row, p.field) for p in problems] == [(2, None)]
    assert "has no <info> block" in problems[0].note and first in problems[0].note


def test_a_feed_gives_each_alert_once_and_keeps_an_embedded_signature(
    samples: Path, tmp_path: Path
) -> None:
    signed = (samples / SIGNED).read_text(encoding="utf-8")
    burkina = (samples / BURKINA).as_uri()
    feed = atom(
        embed(signed),  # the signed alert, in the feed itself
        link((samples / SEYCHELLES).as_uri()),  # the same alert (same sender, id, sent): skipped
        link(burkina),
        link(burkina),  # the same link twice: fetched once
        "<summary>no alert here</summary>",
    )
    source = cap_source((tmp_path / "feed.atom").as_uri())
    source.path = tmp_path / "cap.yaml"  # links are read under the source's folder and samples
    rows, problems = read_rows(write(tmp_path, "feed.atom", feed), source)
    assert [(r["sender"], r["_row"]) for r in rows] == [
        ("info@meteo.gov.sc", 2), ("https://www.meteoburkina.bf/", 4), ("", 5),
    ]  # fmt: skip
    kept = base64.b64decode(rows[0]["signed_xml"])
    assert kept == alert_element(signed).encode("utf-8")  # the element's bytes, as received
    assert len(json.loads(rows[1]["area"])["coordinates"][0]) == 41009
    assert [(p.row, p.note) for p in problems] == [
        (5, "entry 5 neither embeds a CAP alert nor links to one")
    ]


class AlertServer(ThreadingHTTPServer):
    """An alert publisher's server: the sample files under /files/, feeds under /feeds/."""

    daemon_threads = True

    def __init__(self, samples: Path) -> None:
        super().__init__(("127.0.0.1", 0), Handler)
        self.samples = samples
        self.feeds: dict[str, str] = {}
        self.hits: Counter[str] = Counter()
        self.keys: dict[str, str | None] = {}  # path → the X-Api-Key it was asked with

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"


class Handler(BaseHTTPRequestHandler):
    server: AlertServer

    def do_GET(self) -> None:  # noqa: N802 - http.server's naming
        self.server.hits[self.path] += 1
        self.server.keys[self.path] = self.headers.get("X-Api-Key")
        route, _, rest = self.path.lstrip("/").partition("/")
        if route == "feeds" and rest in self.server.feeds:
            return self._answer(200, self.server.feeds[rest].encode("utf-8"))
        path = self.server.samples / rest
        if route == "files" and path.is_file():
            return self._answer(200, path.read_bytes())
        self._answer(404, b"not found")

    def _answer(self, status: int, body: bytes) -> None:
        self.send_response(status)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002
        pass


def serve(samples: Path) -> Iterator[AlertServer]:
    server = AlertServer(samples)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield server
    server.shutdown()
    server.server_close()


@pytest.fixture
def operator(samples: Path) -> Iterator[AlertServer]:
    yield from serve(samples)


@pytest.fixture
def elsewhere(samples: Path) -> Iterator[AlertServer]:
    """Another server (another origin) that also serves the samples."""
    yield from serve(samples)


@pytest.fixture
def reachable(monkeypatch: pytest.MonkeyPatch) -> None:
    """The test servers on 127.0.0.1 may be fetched (the SSRF guard refuses them otherwise)."""
    monkeypatch.setenv("HUB_FETCH_ALLOW_PRIVATE", "127.0.0.1")
    monkeypatch.setenv("HUB_FETCH_RETRIES", "0")
    get_settings.cache_clear()


def test_a_served_atom_index_has_its_linked_alerts_fetched(
    samples: Path, tmp_path: Path, operator: AlertServer, reachable: None
) -> None:
    operator.feeds["index.atom"] = atom(
        link(f"{operator.url}/files/{SIGNED}"),  # absolute
        link(f"../files/{SEYCHELLES}"),  # relative to the feed; the same alert: once
        link(f"/files/{BURKINA}"),
        link("/files/risk/no-such-alert.xml"),
        link("/files/risk/vigicrues_TerEntVigiCru.json"),  # fetched, but not XML
    )
    feed_url = f"{operator.url}/feeds/index.atom"
    source = cap_source(feed_url)
    feed = fetch(feed_url, tmp_path / "dl")
    rows, problems = read_rows(feed, source)
    assert [(r["identifier"], r["_row"]) for r in rows] == [
        (tag((samples / SIGNED).read_text(), "identifier"), 2),
        ("02efa094-425c-43fd-b8ed-1e5bdfd50361", 4),
        ("", 5),
        ("", 6),
    ]
    assert base64.b64decode(rows[0]["signed_xml"]) == (samples / SIGNED).read_bytes()
    assert operator.hits[f"/files/{SEYCHELLES}"] == 1  # fetched, read, found a repeat
    assert [p.row for p in problems] == [5, 6]
    gone = (
        r"entry 4: the alert it links to \(http://127\.0\.0\.1:\d+/files/risk/no-such-alert\.xml\)"
    )
    assert re.search(f"{gone} cannot be read: HTTP 404", problems[0].note)  # the url once
    assert "vigicrues_TerEntVigiCru.json is not well-formed XML" in problems[1].note


def test_a_feed_whose_linked_alerts_all_fail_says_why_in_its_run(
    engine: Engine, tmp_path: Path, operator: AlertServer, reachable: None
) -> None:
    """Every entry quarantined is a batch refused whole; its run's message quotes the first
    error, so the summary says the linked alerts could not be fetched."""
    operator.feeds["gone.atom"] = atom(
        link("/files/risk/no-such-alert.xml"), link("/files/risk/nor-this-one.xml")
    )
    outcome = harvest_source(cap_source_file(tmp_path, f"{operator.url}/feeds/gone.atom"))
    assert outcome.status == "failed", outcome
    assert "every row was invalid: 2 of 2 rows read" in outcome.message
    assert re.search(
        r"the first error: .*no-such-alert\.xml\) cannot be read: HTTP 404", outcome.message
    )
    assert "refused whole" in outcome.message


def test_linked_alerts_pass_the_ssrf_guard(
    samples: Path, tmp_path: Path, operator: AlertServer
) -> None:
    feed = write(tmp_path, "feed.atom", atom(link(f"{operator.url}/files/{SEYCHELLES}")))
    source = cap_source(feed.as_uri())
    source.path = tmp_path / "cap.yaml"
    rows, problems = read_rows(feed, source)  # HUB_FETCH_ALLOW_PRIVATE unset: 127.0.0.1 refused
    assert operator.hits == Counter()
    assert len(rows) == 1 and [p.row for p in problems] == [2]
    assert "cannot be read" in problems[0].note and "127.0.0.1" in problems[0].note


def test_credentials_go_to_the_feeds_own_server_only(
    samples: Path,
    tmp_path: Path,
    operator: AlertServer,
    elsewhere: AlertServer,
    reachable: None,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("CAP_TEST_KEY", "s3cret-key")
    operator.feeds["index.atom"] = atom(
        link(f"/files/{SEYCHELLES}"), link(f"{elsewhere.url}/files/{BURKINA}")
    )
    path = write(tmp_path, "cap.yaml", "\n".join([
        "id: cap-test", "title: CAP test",
        "operator: {id: seychelles-meteo, name: Seychelles Meteorological Authority}",
        "theme: risk", "format: cap", f"url: {operator.url}/feeds/index.atom",
        "schema: risk-alert", "charter: seychelles-meteo-cap",
        "auth: {header: X-Api-Key, secret: env:CAP_TEST_KEY}",
    ]))  # fmt: skip
    source = load_source(path)
    feed = fetch(source.url, tmp_path / "dl")
    rows, problems = read_rows(feed, source)
    assert problems == [] and len(rows) == 2
    assert operator.keys[f"/files/{SEYCHELLES}"] == "s3cret-key"
    assert elsewhere.keys[f"/files/{BURKINA}"] is None


def test_an_rss_feed_links_and_embeds_alerts(samples: Path, tmp_path: Path) -> None:
    signed = (samples / SIGNED).read_text(encoding="utf-8")
    rss = (
        '<?xml version="1.0"?><rss version="2.0"><channel><title>CAP</title>'
        f"<item><title>a</title><link>{(samples / BURKINA).as_uri()}</link></item>"
        f'<item><title>b</title><enclosure url="{(samples / SEYCHELLES).as_uri()}" '
        f'type="{CAP_TYPE}" length="1"/></item>'
        f"<item><title>c</title><description>embedded</description>{alert_element(signed)}</item>"
        "</channel></rss>"
    )
    source = cap_source((tmp_path / "feed.rss").as_uri())
    source.path = tmp_path / "cap.yaml"
    rows, problems = read_rows(write(tmp_path, "feed.rss", rss), source)
    assert problems == []
    assert [(r["language"], r["signed_xml"] != "") for r in rows] == [("fr", False), ("en", False)]


# --- end to end: harvest into the catalogue ----------------------------------------------------


def stored(engine: Engine, dataset: str) -> list[dict[str, Any]]:
    """The records of a dataset as the catalogue keeps them, in insertion order."""
    with Session(engine) as session:
        layout = catalogue.layout_of(catalogue.resource_of(session, dataset))
    with engine.connect() as connection:
        found = connection.execute(sa.select(layout.table).order_by(layout.table.c["_id"]))
        return [records.to_record(layout, row) for row in found.mappings()]


def assert_counts(outcome: Outcome, read: int, published: int, quarantined: int) -> None:
    got = (outcome.read, outcome.published, outcome.quarantined)
    assert got == (read, published, quarantined), outcome


@pytest.mark.parametrize(
    ("name", "sample"),
    [
        ("cap-seychelles-aldabra-winds", SEYCHELLES),
        ("cap-seychelles-aldabra-winds-signed", SIGNED),
        ("cap-burkina-faso-storms", BURKINA),
    ],
)
def test_the_bundled_cap_sources_harvest_their_samples(
    engine: Engine, samples: Path, name: str, sample: str
) -> None:
    outcome = harvest_source(load_source(BUNDLED / f"{name}.yaml"))
    assert outcome.status == "succeeded", outcome
    assert_counts(outcome, 1, 1, 0)
    text = (samples / sample).read_text(encoding="utf-8")
    (record,) = stored(engine, name)
    assert record["identifier"] == tag(text, "identifier")
    assert record["sent"] == utc(tag(text, "sent"))
    assert record["expires"] == utc(tag(text, "expires"))
    assert record["info_index"] == 0
    area = record["area"] if isinstance(record["area"], dict) else json.loads(record["area"])
    ring = lon_lat_ring(text)
    assert area["coordinates"][0][0] == ring[0] and area["coordinates"][0][-2] == ring[-2]
    assert inside((record["longitude"], record["latitude"]), ring)
    signature = base64.b64decode(record["signed_xml"]) if record["signed_xml"] else b""
    assert signature == ((samples / sample).read_bytes() if sample == SIGNED else b"")
    with Session(engine) as session:
        dataset = catalogue.get(session, name)
        assert dataset.time_min == datetime.fromisoformat(tag(text, "sent")).astimezone(UTC)


def cap_source_file(folder: Path, url: str, name: str = "cap-feed") -> Source:
    path = write(folder, f"{name}.yaml", "\n".join([
        f"id: {name}", "title: Seychelles CAP feed (test)",
        "operator: {id: seychelles-meteo, name: Seychelles Meteorological Authority}",
        "theme: risk", "format: cap", f"url: {url}", "schema: risk-alert",
        "charter: seychelles-meteo-cap",
    ]))  # fmt: skip
    return load_source(path)


def test_a_served_feed_of_a_chain_is_harvested_end_to_end(
    engine: Engine, samples: Path, tmp_path: Path, operator: AlertServer, reachable: None
) -> None:
    alert, update, cancel, (first, second) = chain(samples)
    operator.feeds["chain.atom"] = atom(
        link(f"/files/{SIGNED}"), embed(alert), embed(update), embed(cancel),
        link("/files/risk/gone.xml"),
    )  # fmt: skip
    outcome = harvest_source(cap_source_file(tmp_path, f"{operator.url}/feeds/chain.atom"))
    assert outcome.status == "partial", outcome
    assert_counts(outcome, 4, 3, 1)
    kept = stored(engine, "cap-feed")
    assert [(r["msgType"], r["references"], r["sent"]) for r in kept] == [
        ("Alert", None, "2024-05-19T13:18:00Z"),
        ("Update", first, "2024-05-19T15:00:00Z"),
        ("Cancel", f"{first} {second}", "2024-05-19T18:00:00Z"),
    ]
    assert base64.b64decode(kept[0]["signed_xml"]) == (samples / SIGNED).read_bytes()
    with Session(engine) as session:
        (held,) = catalogue.quarantined(session, "cap-feed")
    assert "entry 5" in json.dumps(held.model_dump(), default=str)


def test_a_malformed_polygon_is_quarantined_and_the_other_info_published(
    engine: Engine, samples: Path, tmp_path: Path
) -> None:
    text = (samples / SEYCHELLES).read_text(encoding="utf-8")
    info = text[text.index("<info>") : text.index("</info>") + len("</info>")]
    broken = swap(info, tag(text, "polygon"), "-9.186965,46.078276 -9.336746 -9.57065,45.983427")
    path = write(tmp_path, "two-infos.xml", swap(text, info, info + broken))
    outcome = harvest_source(cap_source_file(tmp_path, path.as_uri(), "cap-two-infos"))
    assert outcome.status == "partial", outcome
    assert_counts(outcome, 2, 1, 1)
    (record,) = stored(engine, "cap-two-infos")
    assert record["info_index"] == 0


def test_a_hostile_document_changes_nothing(engine: Engine, samples: Path, tmp_path: Path) -> None:
    good = harvest_source(cap_source_file(tmp_path, (samples / SEYCHELLES).as_uri(), "cap-x"))
    assert_counts(good, 1, 1, 0)
    before = stored(engine, "cap-x")
    path = write(tmp_path, "xxe.xml", XXE)
    outcome = harvest_source(cap_source_file(tmp_path, path.as_uri(), "cap-x"))
    assert outcome.status == "failed" and str(tmp_path) not in outcome.message
    assert outcome.message.startswith("HostileXML: xxe.xml declares a document type: refused")
    assert stored(engine, "cap-x") == before


def elements(data: bytes) -> list[tuple[str, dict[str, str], str]]:
    """An XML document's elements in order: name, attributes, stripped text."""
    return [(e.tag, dict(e.attrib), (e.text or "").strip()) for e in ET.fromstring(data).iter()]


def test_every_unsigned_alert_keeps_a_document_of_its_own(samples: Path, tmp_path: Path) -> None:
    plain = (samples / SEYCHELLES).read_text(encoding="utf-8")
    alone, _ = read_rows(samples / SEYCHELLES)
    assert base64.b64decode(alone[0]["cap_xml"]) == (samples / SEYCHELLES).read_bytes()
    # Embedded in a UTF-8 feed: the bytes of its <alert> element, a document by themselves.
    rows, problems = read_rows(write(tmp_path, "feed.atom", atom(embed(plain))))
    assert problems == [] and rows[0]["signed_xml"] == ""
    assert base64.b64decode(rows[0]["cap_xml"]) == alert_element(plain).rstrip().encode()
    # Under a prefix the feed declares, or in the feed's Latin-1: those bytes are no document
    # alone, so the same elements are kept written as one, in UTF-8.
    prefixed = re.sub(r"<(/?)(?=[A-Za-z])", r"<\1cap:", alert_element(plain)).replace(
        'cap:alert xmlns="urn:oasis:names:tc:emergency:cap:1.2"', "cap:alert"
    )
    feed = atom(f"<content>{prefixed}</content>").replace(
        "<feed ", '<feed xmlns:cap="urn:oasis:names:tc:emergency:cap:1.2" '
    )
    accented = swap(plain, "Aldabra area", "Île d'Aldabra")
    latin = atom(embed(accented))
    latin = latin.replace('encoding="utf-8"', 'encoding="iso-8859-1"')
    (tmp_path / "latin.atom").write_bytes(latin.encode("iso-8859-1"))
    for path in (write(tmp_path, "prefixed.atom", feed), tmp_path / "latin.atom"):
        rows, problems = read_rows(path)
        assert problems == [] and len(rows) == 1
        kept = base64.b64decode(rows[0]["cap_xml"])
        assert kept.startswith(b"<?xml version='1.0' encoding='utf-8'?>")
        expected = plain if path.name == "prefixed.atom" else accented
        assert elements(kept) == elements(expected.encode("utf-8"))
