"""The demo private operator "Telecom Demo": network outages and vulnerable sites, for crises.

`write_outages()` writes what a telecom operator would hand a crisis cell: one `;`-separated row
per outage of a mobile antenna or a telephone exchange (service, start, end or still ongoing,
customers cut off, the element's position in WGS84, its commune), local times with their UTC
offset. Everyday incidents (equipment failures, cable cuts, maintenance) come from a seeded
draw per calendar day, so a later run keeps the same incidents with the same ids; on top, the
demo's flood episode along the Lez (`CRISIS_AREA`) has been cutting power and flooding
equipment inside the area for the last few hours. `write_sites()` writes the institutions a
crisis cell must check on first (hospitals, nursing homes, dialysis centres, schools…), with
their capacity, backup power and the network element that serves them. Published under the
`telecom-outages-crisis` charter: crisis cells read them only while a crisis covers them.
"""

from __future__ import annotations

import csv
import random
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path

from shapely.geometry import Point, shape
from sqlalchemy import Engine

from hub import crises
from hub.models import Crisis, utcnow
from pipelines.demo.air import LOCAL

OUTAGES_FEED = "telecom-demo-outages.csv"
OUTAGES_SOURCE = "demo-telecom-outages"
SITES_FEED = "telecom-demo-vulnerable-sites.csv"
FLOOD_SINCE = timedelta(hours=5)  # the rain and the first flooded cabinets before `now`
OUTAGES_HEADER = (
    "reference_incident", "service", "type_element", "code_element", "nom_element", "commune",
    "code_insee", "debut", "fin", "etat", "cause", "clients_impactes", "longitude", "latitude",
)  # fmt: skip
SITES_HEADER = (
    "code_site", "nom", "categorie", "adresse", "commune", "code_insee", "capacite",
    "unite_capacite", "secours_electrique", "autonomie_heures", "dependance_electrique",
    "element_reseau", "longitude", "latitude",
)  # fmt: skip
# The demo crisis: the Lez from Castelnau-le-Lez down to Lattes and Pérols' ponds (WGS84).
CRISIS_NAME = "Lez flood episode"
CRISIS_AREA = {
    "type": "Polygon",
    "coordinates": [[
        [3.872, 43.662], [3.908, 43.668], [3.926, 43.625], [3.934, 43.590], [3.956, 43.548],
        [3.918, 43.536], [3.893, 43.572], [3.879, 43.612], [3.872, 43.662],
    ]],
}  # fmt: skip
_FLOOD_ZONE = shape(CRISIS_AREA)
CRISIS_CELL = "prefecture-herault-cell"  # the prefecture's crisis cell, the one that reads
CRISIS_BBOX = "3.872,43.536,3.956,43.668"  # the area's bounds, for a feed's bbox filter
CRISIS_BEFORE = timedelta(hours=6)  # declared from before the flood's first outages
CRISIS_AHEAD = timedelta(days=3)


@dataclass(frozen=True)
class Element:
    """A network element: a mobile antenna or a telephone exchange, and whom it serves."""

    code: str
    kind: str  # antenne | central, as the operator writes them
    name: str
    commune: str
    insee: str
    lon: float
    lat: float
    customers: int  # subscribers served

    @property
    def flood_prone(self) -> bool:
        """Whether it stands inside the demo crisis area, near the Lez."""
        return bool(_FLOOD_ZONE.contains(Point(self.lon, self.lat)))


# Real places of the Montpellier area; the elements and their subscribers are invented.
ELEMENTS = tuple(Element(*row) for row in (
    ("ANT-MTP-PMA", "antenne", "Port Marianne", "Montpellier", "34172", 3.8990, 43.6035, 7400),
    ("ANT-MTP-LEZ", "antenne", "Le Millénaire", "Montpellier", "34172", 3.9080, 43.6110, 5200),
    ("ANT-LAT-CTR", "antenne", "Lattes centre", "Lattes", "34129", 3.9040, 43.5670, 4100),
    ("ANT-CLZ-SUD", "antenne", "Castelnau Sablassou", "Castelnau-le-Lez", "34057", 3.8990, 43.6330,
     3900),
    ("ANT-PER-EST", "antenne", "Pérols étangs", "Pérols", "34198", 3.9530, 43.5750, 2600),
    ("ANT-GRB-GAR", "antenne", "Grabels garrigue", "Grabels", "34116", 3.7980, 43.6470, 2100),
    ("ANT-JUV-CTR", "antenne", "Juvignac centre", "Juvignac", "34123", 3.8100, 43.6130, 3300),
    ("ANT-SJV-ZAE", "antenne", "Saint-Jean-de-Védas ZAE", "Saint-Jean-de-Védas", "34270", 3.8300,
     43.5770, 3800),
    ("ANT-MTP-MOS", "antenne", "La Mosson", "Montpellier", "34172", 3.8200, 43.6190, 6100),
    ("CTR-MTP-ANT", "central", "Montpellier Antigone", "Montpellier", "34172", 3.8870, 43.6085,
     24500),
    ("CTR-LAT-CTR", "central", "Lattes", "Lattes", "34129", 3.9010, 43.5720, 9800),
    ("CTR-CLZ-CTR", "central", "Castelnau-le-Lez", "Castelnau-le-Lez", "34057", 3.9050, 43.6380,
     11200),
    ("CTR-MTP-CEL", "central", "Montpellier Celleneuve", "Montpellier", "34172", 3.8400, 43.6150,
     15700),
    ("CTR-MAU-CTR", "central", "Mauguio", "Mauguio", "34154", 4.0080, 43.6160, 8900),
))  # fmt: skip
BY_CODE = {element.code: element for element in ELEMENTS}
SERVICES = {"antenne": ("mobile",), "central": ("fixe", "internet")}
EVERYDAY_CAUSES = ("panne matérielle", "câble sectionné", "maintenance", "coupure électrique")
FLOOD_CAUSES = ("inondation", "coupure électrique")

# Institutions (no person): code, name, category, address, commune, INSEE code, capacity, unit,
# backup power, hours of autonomy, residents on powered care, serving element, lon, lat.
SITES = (
    ("VS-001", "Clinique du Lez", "clinique", "rue de la Clinique", "Castelnau-le-Lez", "34057",
     180, "lits", "groupe électrogène et batteries", 72, "oui", "CTR-CLZ-CTR", 3.9020, 43.6300),
    ("VS-002", "Centre hospitalier Démo Nord", "hôpital", "avenue du Professeur Démo",
     "Montpellier", "34172", 620, "lits", "groupe électrogène et batteries", 96, "oui",
     "CTR-MTP-CEL", 3.8490, 43.6310),
    ("VS-003", "Centre de dialyse Port Marianne", "centre de dialyse", "rue de la Mer",
     "Montpellier", "34172", 24, "postes", "groupe électrogène", 24, "oui", "ANT-MTP-PMA", 3.9010,
     43.6010),
    ("VS-004", "EHPAD Les Berges du Lez", "ehpad", "chemin des Berges", "Lattes", "34129", 86,
     "lits", "batteries", 4, "oui", "CTR-LAT-CTR", 3.9080, 43.5690),
    ("VS-005", "EHPAD Le Millénaire", "ehpad", "avenue du Millénaire", "Montpellier", "34172",
     72, "lits", "groupe électrogène", 48, "non", "ANT-MTP-LEZ", 3.9110, 43.6090),
    ("VS-006", "École maternelle Les Aubes", "école", "rue des Aubes", "Montpellier", "34172",
     180, "élèves", "aucun", 0, "non", "CTR-MTP-ANT", 3.8920, 43.6140),
    ("VS-007", "Groupe scolaire du Lez", "école", "allée du Lez", "Lattes", "34129", 320,
     "élèves", "aucun", 0, "non", "CTR-LAT-CTR", 3.9050, 43.5750),
    ("VS-008", "Crèche Les Petits Castors", "crèche", "rue des Castors", "Castelnau-le-Lez",
     "34057", 45, "places", "aucun", 0, "non", "ANT-CLZ-SUD", 3.8960, 43.6360),
    ("VS-009", "Foyer d'accueil médicalisé Les Garrigues", "foyer médicalisé",
     "chemin des Garrigues", "Grabels", "34116", 40, "places", "groupe électrogène", 36, "oui",
     "ANT-GRB-GAR", 3.8010, 43.6450),
    ("VS-010", "EHPAD Les Oliviers", "ehpad", "avenue des Oliviers", "Juvignac", "34123", 95,
     "lits", "groupe électrogène", 48, "non", "ANT-JUV-CTR", 3.8130, 43.6110),
    ("VS-011", "Centre de dialyse Saint-Jean", "centre de dialyse", "rue de la Capelle",
     "Saint-Jean-de-Védas", "34270", 18, "postes", "groupe électrogène et batteries", 48, "oui",
     "ANT-SJV-ZAE", 3.8330, 43.5750),
    ("VS-012", "Collège des Étangs", "école", "avenue des Étangs", "Pérols", "34198", 640,
     "élèves", "aucun", 0, "non", "ANT-PER-EST", 3.9500, 43.5780),
)  # fmt: skip


@dataclass(frozen=True)
class Outage:
    """One interruption of one service at one network element."""

    reference: str
    element: Element
    service: str  # mobile | fixe | internet
    start: datetime  # UTC
    end: datetime | None  # UTC; None: still ongoing
    cause: str
    customers: int


def outages(now: datetime, days: int, seed: int, flood_at: datetime | None = None) -> list[Outage]:
    """The outages of the last `days` days up to `now`, ongoing ones included, by start; the
    flood's began in the hours before `flood_at` (default `now`), and crews restore them one
    by one in the hours after it."""
    now = now.replace(second=0, microsecond=0)
    flood_at = (flood_at or now).replace(second=0, microsecond=0)
    days_back = (now.date() - timedelta(days=back) for back in range(days, -1, -1))
    found = [o for day in days_back for o in _everyday(now, day, seed)]
    found += _flood(now, flood_at, seed)
    return sorted(found, key=lambda o: (o.start, o.reference))


def _everyday(now: datetime, day: date, seed: int) -> list[Outage]:
    """One calendar day's ordinary incidents (none that start after `now`)."""
    rng = random.Random(f"{seed}:{day}")
    midnight = datetime.fromisoformat(f"{day}T00:00:00+00:00")
    found = []
    for number in range(1, rng.randint(1, 3) + 1):
        element = rng.choice(ELEMENTS)
        cause = rng.choice(EVERYDAY_CAUSES)
        # Planned works run at night (00:00-05:00 UTC) and are short; a cut cable waits for a crew.
        planned = cause == "maintenance"
        start = midnight + timedelta(minutes=rng.randrange((5 if planned else 24) * 60))
        hours = rng.uniform(1, 3) if planned else rng.uniform(1.5, 14)
        end = start + timedelta(minutes=round(hours * 60))
        service = rng.choice(SERVICES[element.kind])
        share = rng.uniform(0.15, 0.9)
        if start <= now:
            found.append(
                Outage(
                    f"TDM-{start:%Y%m%d}-{number:02d}", element, service, start,
                    end if end <= now else None, cause, round(element.customers * share),
                )
            )  # fmt: skip
    return found


def _flood(now: datetime, flood_at: datetime, seed: int) -> list[Outage]:
    """The flood's outages: most elements near the Lez, for a few hours up to ten.
    One reference per element, service and day: a demo run again that day updates them."""
    rng = random.Random(f"{seed}:flood")
    found = []
    for element in (e for e in ELEMENTS if e.flood_prone):
        if rng.random() < 0.2:  # raised on a mound, or on a roof: this one holds
            continue
        start = (
            flood_at
            - FLOOD_SINCE
            + timedelta(minutes=rng.randrange(FLOOD_SINCE // timedelta(minutes=1)))
        )
        end = start + timedelta(minutes=rng.randrange(40, 600))
        cause = rng.choice(FLOOD_CAUSES)
        for service in SERVICES[element.kind]:
            share = rng.uniform(0.5, 1.0)
            found.append(
                Outage(
                    f"TDM-{flood_at:%Y%m%d}-{element.code}-{service[0].upper()}", element,
                    service, start, end if end <= now else None, cause,
                    round(element.customers * share),
                )
            )  # fmt: skip
    return found


def write_outages(
    path: Path, now: datetime, days: int, seed: int, flood_at: datetime | None = None
) -> Path:
    """The operator's outage export: every outage of the period, restored or not."""
    draft = path.with_name(f".{path.name}.draft")
    with draft.open("w", encoding="utf-8", newline="") as file:
        writer = csv.writer(file, delimiter=";")
        writer.writerow(OUTAGES_HEADER)
        for o in outages(now, days, seed, flood_at):
            e = o.element
            writer.writerow((
                o.reference, o.service, e.kind, e.code, e.name, e.commune, e.insee,
                _local(o.start), _local(o.end) if o.end else "",
                "en cours" if o.end is None else "rétabli", o.cause, o.customers,
                f"{e.lon:.4f}", f"{e.lat:.4f}",
            ))  # fmt: skip
    draft.replace(path)  # rewritten while `hub demo` serves: a harvest never sees half of it
    return path


def write_sites(path: Path) -> Path:
    """The operator's list of the vulnerable sites its network serves."""
    with path.open("w", encoding="utf-8", newline="") as file:
        writer = csv.writer(file, delimiter=";")
        writer.writerow(SITES_HEADER)
        for site in SITES:
            writer.writerow((*site[:-2], f"{site[-2]:.4f}", f"{site[-1]:.4f}"))
    return path


def _local(moment: datetime) -> str:
    return moment.astimezone(LOCAL).isoformat(timespec="seconds")


def declare_crisis(engine: Engine, now: datetime | None = None) -> tuple[Crisis, bool]:
    """The demo crisis and whether it was declared now: an active crisis of its name is reused,
    so a second `hub demo` does not declare it twice."""
    now = now or utcnow()
    for crisis in crises.active(engine, now):
        if crisis.name == CRISIS_NAME:
            return crisis, False
    declared = crises.declare(
        engine,
        name=CRISIS_NAME,
        area=CRISIS_AREA,
        start=now - CRISIS_BEFORE,
        end=now + CRISIS_AHEAD,
        cells=[CRISIS_CELL],
        by="hub demo",
        at=now,
    )
    return declared, True
