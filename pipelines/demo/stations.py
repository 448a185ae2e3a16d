"""The offline demo's sample operator: an air-quality network around Montpellier."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Station:
    """A monitoring station and how polluted its surroundings are."""

    code: str
    name: str
    typology: str  # trafic | urbain | périurbain, as French AASQAs label them
    lon: float
    lat: float
    no2_base: float  # µg/m³, typical night-time background at this site
    no2_traffic: float  # µg/m³ added at the height of a weekday rush hour
    pm10_base: float  # µg/m³
    commune: str
    since: str  # date the station opened


# Coordinates are real places of the Montpellier area; the readings are invented.
# code, name, typology, lon, lat, NO2 base, NO2 rush-hour extra, PM10 base, commune, opened
STATIONS = tuple(Station(*row) for row in (
    ("DEMO-MTP-PDA", "Montpellier Près d'Arènes", "urbain", 3.8868, 43.5915, 14, 22, 17,
     "Montpellier", "2001-03-01"),
    ("DEMO-MTP-STD", "Montpellier Saint-Denis", "trafic", 3.8746, 43.6051, 24, 48, 22,
     "Montpellier", "2004-06-15"),
    ("DEMO-MTP-LIB", "Montpellier Avenue de la Liberté", "trafic", 3.8996, 43.6028, 22, 42, 21,
     "Montpellier", "2012-01-10"),
    ("DEMO-MTP-ANT", "Montpellier Antigone", "urbain", 3.8889, 43.6080, 13, 20, 16,
     "Montpellier", "1998-09-01"),
    ("DEMO-LAT-SUD", "Lattes Périurbaine Sud", "périurbain", 3.9117, 43.5705, 7, 10, 14,
     "Lattes", "2003-05-20"),
    ("DEMO-CLZ-NRD", "Castelnau-le-Lez Nord", "périurbain", 3.9000, 43.6420, 8, 12, 14,
     "Castelnau-le-Lez", "2015-02-02"),
    ("DEMO-GRB-OST", "Grabels Ouest", "périurbain", 3.7960, 43.6480, 5, 7, 13,
     "Grabels", "2019-11-04"),
))  # fmt: skip
