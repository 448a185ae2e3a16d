"""The API bench's search part: CKAN's package_search and package_show over HTTP on a generated
catalogue, beside Datasette serving the same SQLite file in the same run (see bench/api.py).

It generates `--datasets` datasets (200 organizations, four themes, French and English words,
a records resource for most, linked files for some) into a fresh SQLite catalogue, builds the
search index (`hub.searchindex.rebuild`), then starts the hub and Datasette on it.

For each query kind (text words with CKAN's default facets, `*:*` with facets, an `fq` on an
organization) it checks that both sides find the same number of datasets and the same facet
counts, warms up, then times `--requests` requests of each kind on each side, interleaved, over
one keep-alive httpx connection per side: p50 and p95, and hub / Datasette. These are repeated
queries: the hub answers them from the ranked hits it keeps per process (`hub.searchcache`).
So it then times cold ones apart: up to `--requests` common words (in 10–40 % of the datasets,
as `air` and `énergie` are) and as many pairs of them, each a word expression no earlier request
asked, each asked once on each side without warm-up, both sides' answers checked to agree after
timing (their hits are counted in the file beforehand, through neither server). Then it loads
package_show and Datasette's row page with `--clients` concurrent clients for `--load-seconds`,
twice each, alternating: requests per second and their ratio. Goals (the issue): package_search
p95 ≤ 20 ms at 100 000 datasets, at or better than Datasette.

What Datasette is asked: `/hub/datasette_dataset.json`, a table this bench adds to the same file
with one row per dataset (rowid = the search index's rowid, the facet values the hub counts:
organization, tags and res_format as JSON arrays, groups = theme, license_id, modified_at), its
`fts_table` the hub's own FTS5 table `searchfts`, with `_search=` the very FTS5 expression the
hub's search builds for the words (`_searchmode=raw`: the stems and synonyms are the hub's, the
matching SQLite's), `_facet=` / `_facet_array=` on the five columns, `_facet_size=50`, `_size=10`,
`_sort_desc=modified_at`. Datasette does not rank by relevance; the hub sorts text hits by BM25.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import random
import re
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import sqlalchemy as sa
from api_common import (
    CITIES,
    WARMUP,
    Children,
    get,
    held_in_memory,
    load_average,
    percentiles,
    start_datasette,
    start_hub,
    storage_reads,
    use_database,
)
from sqlmodel import Session

from hub import search, searchcache, searchindex, wording
from hub.api.ckan.search import FACETS
from hub.db import get_engine, make_engine, reset_engines, upgrade
from hub.schemas import find_schema
from hub.search import FTS5, match_expression, synonyms  # the hub's own FTS5 expression
from hub.searchindex import DATASETS, ORGANIZATIONS, RESOURCES

SEED = 20261203
ORGANIZATIONS_COUNT = 200
GOAL_P95_MS = 20.0
ROWS = 10  # CKAN's default page
# The pause before a cold word in the in-process check of what a pause costs: about what the
# hub waits between two cold requests while Datasette answers its own.
PAUSE = 0.3
FACET_SIZE = 50  # CKAN's default facet.limit
DATASETTE_TABLE = "datasette_dataset"
ARRAY_FACETS = ("tags", "res_format")
START = datetime(2014, 1, 1, tzinfo=UTC)

# --- words ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Subject:
    """What a dataset is about: its French and English titles, keywords and schema."""

    fr: str
    en: str
    keywords: tuple[str, ...]
    schema: str


SUBJECTS = {
    "air-quality": [
        Subject(
            "Concentrations horaires de dioxyde d'azote",
            "Hourly nitrogen dioxide concentrations",
            ("no2", "dioxyde d'azote"),
            "air-quality-observation",
        ),
        Subject(
            "Particules fines PM2,5 : moyennes journalières",
            "Fine particles PM2.5, daily means",
            ("pm25", "particules fines"),
            "air-quality-statistic",
        ),
        Subject("Particules PM10", "PM10 particulate matter", ("pm10",), "air-quality-observation"),
        Subject(
            "Ozone : dépassements du seuil d'information",
            "Ozone information threshold exceedances",
            ("o3", "ozone"),
            "air-quality-statistic",
        ),
        Subject(
            "Indice de qualité de l'air ATMO",
            "ATMO air quality index",
            ("indice atmo", "qualité de l'air"),
            "air-quality-statistic",
        ),
        Subject(
            "Stations de mesure de la qualité de l'air",
            "Air quality monitoring stations",
            ("stations", "qualité de l'air"),
            "air-quality-station",
        ),
    ],
    "energy": [
        Subject(
            "Consommation d'électricité par commune",
            "Electricity consumption by municipality",
            ("électricité", "consommation"),
            "energy-consumption",
        ),
        Subject(
            "Consommation de gaz naturel par secteur",
            "Natural gas consumption by sector",
            ("gaz", "consommation"),
            "energy-consumption",
        ),
        Subject(
            "Production éolienne", "Wind power generation", ("éolien", "renouvelable"), "energy-mix"
        ),
        Subject(
            "Production photovoltaïque",
            "Solar photovoltaic generation",
            ("solaire", "renouvelable"),
            "energy-mix",
        ),
        Subject(
            "Mix énergétique régional", "Regional energy mix", ("mix énergétique",), "energy-mix"
        ),
        Subject(
            "Courbes de charge des bâtiments publics",
            "Load curves of public buildings",
            ("courbe de charge", "bâtiments"),
            "energy-consumption",
        ),
    ],
    "biodiversity": [
        Subject(
            "Observations d'oiseaux nicheurs",
            "Breeding bird observations",
            ("oiseaux", "avifaune"),
            "biodiversity-occurrence",
        ),
        Subject(
            "Inventaire de la flore vasculaire",
            "Vascular plant inventory",
            ("flore", "botanique"),
            "biodiversity-occurrence",
        ),
        Subject(
            "Occurrences d'espèces protégées",
            "Occurrences of protected species",
            ("espèces protégées",),
            "biodiversity-occurrence",
        ),
        Subject(
            "Suivi des amphibiens",
            "Amphibian monitoring",
            ("amphibiens",),
            "biodiversity-occurrence",
        ),
        Subject(
            "Chiroptères : gîtes et observations",
            "Bats: roosts and sightings",
            ("chauves-souris",),
            "biodiversity-occurrence",
        ),
        Subject(
            "Espèces exotiques envahissantes",
            "Invasive alien species",
            ("espèces envahissantes",),
            "biodiversity-occurrence",
        ),
    ],
    "risk": [
        Subject(
            "Vigilance crues et hauteurs d'eau",
            "Flood warnings and water levels",
            ("crues", "vigilance"),
            "hydrometry-observation",
        ),
        Subject(
            "Tronçons de cours d'eau surveillés",
            "Monitored river sections",
            ("vigicrues", "inondation"),
            "flood-section",
        ),
        Subject("Séismes ressentis", "Felt earthquakes", ("séismes",), "earthquake-event"),
        Subject(
            "Feux de forêt détectés par satellite",
            "Satellite-detected wildfire hotspots",
            ("incendies", "feux de forêt"),
            "wildfire-detection",
        ),
        Subject("Alertes météorologiques", "Weather alerts", ("alertes",), "risk-alert"),
        Subject(
            "Centres d'hébergement d'urgence",
            "Emergency shelters",
            ("hébergement", "abris"),
            "emergency-shelter",
        ),
    ],
}
# A sentence in French, in English, and keywords, per theme.
THEME_WORDS: dict[str, tuple[str, str, tuple[str, ...]]] = {
    "air-quality": (
        "Mesures issues du réseau de surveillance de la qualité de l'air.",
        "Measurements from the air quality monitoring network.",
        ("pollution", "air", "santé"),
    ),
    "energy": (
        "Données agrégées à la maille communale à partir des compteurs communicants.",
        "Aggregated by municipality from smart meter readings.",
        ("énergie", "transition énergétique", "réseaux"),
    ),
    "biodiversity": (
        "Observations naturalistes validées par des experts régionaux.",
        "Naturalist observations validated by regional experts.",
        ("biodiversité", "nature", "inventaire"),
    ),
    "risk": (
        "Informations utiles à la prévention des risques et à la gestion de crise.",
        "Information for risk prevention and crisis management.",
        ("risques", "prévention", "sécurité civile"),
    ),
}
FREQUENCIES = [("horaires", "hourly"), ("journalières", "daily"), ("mensuelles", "monthly")]
ORGANIZATION_NAMES = [
    ("Atmo {region}", "air-quality"),
    ("DREAL {region}", "risk"),
    ("Conservatoire botanique {region}", "biodiversity"),
    ("Observatoire régional de l'énergie {region}", "energy"),
    ("Ligue pour la protection des oiseaux {region}", "biodiversity"),
    ("Syndicat départemental d'énergie {department}", "energy"),
    ("Service départemental d'incendie et de secours {department}", "risk"),
    ("Conseil départemental {department}", None),
    ("Métropole de {city}", None),
    ("Ville de {city}", None),
]
LICENCES = [
    ("etalab-2.0", "Licence Ouverte / Open Licence 2.0", 50),
    ("odc-odbl", "Open Data Commons Open Database License", 15),
    ("cc-by-4.0", "Creative Commons Attribution 4.0", 15),
    ("cc-by-sa-4.0", "Creative Commons Attribution Share-Alike 4.0", 8),
    ("cc0-1.0", "Creative Commons Zero", 5),
    ("", "", 7),
]
ACCESS = [("open", 92), ("restricted", 5), ("personal", 1.5), ("crisis", 1.5)]
FILE_FORMATS = ["GeoJSON", "PDF", "XLSX", "JSON", "NetCDF", "ZIP", "Shapefile"]
RARE_WORD_EVERY = 4999  # one dataset in this many mentions a peat bog


def slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", wording.fold(text)).strip("-")


# --- the catalogue -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Organization:
    id: str
    name: str
    theme: str | None
    cities: tuple[tuple[str, str, str, float, float], ...]


def organizations(rng: random.Random) -> list[Organization]:
    """200 organizations: regional observatories, departments, cities; most have one theme."""
    found: dict[str, Organization] = {}
    candidates = []
    for template, theme in ORGANIZATION_NAMES:
        for city in CITIES:
            name = template.format(city=city[0], department=city[1], region=city[2])
            home = (
                tuple(c for c in CITIES if c[2] == city[2]) if "{region}" in template else (city,)
            )
            candidates.append(Organization(slug(name)[:100], name, theme, home))
    rng.shuffle(candidates)
    for candidate in candidates:
        found.setdefault(candidate.id, candidate)
        if len(found) == ORGANIZATIONS_COUNT:
            break
    return list(found.values())


def schema_fields(name: str) -> dict[str, Any]:
    """A schema's field names, titles and types: what a records resource's descriptor
    contributes to the search index (the full descriptors would only add unread bytes)."""
    descriptor = json.loads(find_schema(name).read_text(encoding="utf-8"))
    return {
        "fields": [
            {"name": f["name"], "title": f.get("title", ""), "type": f.get("type", "string")}
            for f in descriptor.get("fields", [])
        ]
    }


def describe(rng: random.Random, index: int, theme: str, org: Organization, city: Any) -> str:
    """Two to four sentences, in French or English."""
    french = rng.random() < 0.65
    fr, en = rng.choice(FREQUENCIES)
    first = rng.randint(2012, 2024)
    sentences = [
        f"Données {fr} publiées par {org.name} pour {city[0]} ({city[1]}, {city[2]})."
        if french
        else f"{en.capitalize()} data published by {org.name} for {city[0]} ({city[2]}).",
        THEME_WORDS[theme][0] if french else THEME_WORDS[theme][1],
    ]
    if rng.random() < 0.5:
        sentences.append(
            f"La série couvre {first}–{first + rng.randint(1, 10)}, mise à jour chaque mois."
            if french
            else f"The series covers {first}–{first + rng.randint(1, 10)}, updated monthly."
        )
    if rng.random() < 0.3:
        sentences.append(
            "Réutilisation libre sous réserve de mentionner la source."
            if french
            else "Free reuse provided the source is credited."
        )
    if index % RARE_WORD_EVERY == 7:
        sentences.append("Mesures réalisées en bordure d'une tourbière.")
    return " ".join(sentences)


def catalogue_rows(
    rng: random.Random, orgs: list[Organization], count: int, chunk: int = 5000
) -> Iterator[tuple[list[dict[str, Any]], list[dict[str, Any]]]]:
    """Dataset rows and resource rows, `chunk` datasets at a time."""
    weights = [1 / (rank + 4) for rank in range(len(orgs))]  # a few large producers, many small
    owners = rng.choices(orgs, weights, k=count)
    order = list(range(count))
    rng.shuffle(order)  # distinct modification times, in no relation to the ids
    step = (10 * 365 * 86400) // max(count, 1)
    descriptors = {s.schema: schema_fields(s.schema) for v in SUBJECTS.values() for s in v}
    licences = [lic[:2] for lic in LICENCES]
    licence_weights = [lic[2] for lic in LICENCES]
    levels, level_weights = zip(*ACCESS, strict=True)
    datasets: list[dict[str, Any]] = []
    resources: list[dict[str, Any]] = []
    for index in range(count):
        org = owners[index]
        theme = org.theme or rng.choice(list(SUBJECTS))
        subject = rng.choice(SUBJECTS[theme])
        city = rng.choice(org.cities)
        year = rng.randint(2012, 2025)
        french = rng.random() < 0.65
        title = f"{subject.fr} – {city[0]} {year}" if french else f"{subject.en}, {city[0]} {year}"
        dataset_id = f"{slug(title)[:80]}-{index:06d}"
        extra = rng.sample(THEME_WORDS[theme][2], rng.randint(0, 2))
        keywords = list(dict.fromkeys([*subject.keywords, *extra, city[0].lower()]))
        licence_id, licence_title = rng.choices(licences, licence_weights)[0]
        level = rng.choices(levels, level_weights)[0]
        modified = START + timedelta(seconds=order[index] * step + rng.randrange(step))
        lon, lat = city[3] + rng.uniform(-0.1, 0.1), city[4] + rng.uniform(-0.1, 0.1)
        span = rng.uniform(0.02, 0.6)
        has_records = rng.random() < 0.75
        rows = rng.randint(100, 2_000_000) if has_records else 0
        datasets.append(
            {
                "id": dataset_id,
                "title": title,
                "description": describe(rng, index, theme, org, city),
                "organization_id": org.id,
                "theme": theme,
                "schema_name": subject.schema,
                "schema_version": "1.0",
                "charter_id": f"{org.id}-{level}"[:100],
                "charter_version": "1",
                "access": level,
                "licence_id": licence_id,
                "licence_title": licence_title,
                "licence_url": f"https://spdx.org/licenses/{licence_id}" if licence_id else "",
                "mandatory_mention": f"Source : {org.name}",
                "source_url": f"https://data.example.org/{org.id}/{dataset_id}.csv",
                "keywords": keywords,
                "record_count": rows,
                "time_min": datetime(year, 1, 1, tzinfo=UTC) if has_records else None,
                "time_max": datetime(year, 12, 31, 23, tzinfo=UTC) if has_records else None,
                "bbox": [
                    round(lon - span, 4),
                    round(lat - span, 4),
                    round(lon + span, 4),
                    round(lat + span, 4),
                ],
                "created_at": modified - timedelta(days=rng.randint(0, 900)),
                "modified_at": modified,
                "published_at": modified if has_records else None,
            }
        )
        if has_records:
            resources.append(
                resource_row(rng, dataset_id, 0, "records", "CSV", descriptors[subject.schema])
                | {"table_name": f"records_{index:06d}", "row_count": rows}
            )
        for position in range(1, 1 + (rng.randint(1, 2) if rng.random() < 0.4 else 0)):
            resources.append(
                resource_row(rng, dataset_id, position, "file", rng.choice(FILE_FORMATS), {})
            )
        if len(datasets) == chunk:
            yield datasets, resources
            datasets, resources = [], []
    if datasets:
        yield datasets, resources


def resource_row(
    rng: random.Random,
    dataset_id: str,
    position: int,
    kind: str,
    file_format: str,
    descriptor: dict[str, Any],
) -> dict[str, Any]:
    moment = datetime(2025, 6, 1, tzinfo=UTC)
    return {
        "id": f"{rng.getrandbits(128):032x}",
        "dataset_id": dataset_id,
        "name": "Records" if kind == "records" else f"File {position} ({file_format})",
        "kind": kind,
        "table_name": None,
        "schema_descriptor": descriptor,
        "details": None,
        "url": "" if kind == "records" else f"https://data.example.org/{dataset_id}/{position}",
        "format": file_format,
        "row_count": 0,
        "position": position,
        "created_at": moment,
        "modified_at": moment,
    }


def build(count: int) -> dict[str, float]:
    """The catalogue, its search index and Datasette's table, in the configured database."""
    engine = get_engine()
    upgrade(engine)
    rng = random.Random(SEED)
    orgs = organizations(rng)
    spent: dict[str, float] = {}
    started = time.perf_counter()
    with engine.begin() as connection:
        moment = datetime(2024, 1, 1, tzinfo=UTC)
        connection.execute(
            ORGANIZATIONS.insert(),
            [
                {
                    "id": o.id,
                    "name": o.name,
                    "kind": "public",
                    "description": "",
                    "created_at": moment,
                }
                for o in orgs
            ],
        )
        for datasets, resources in catalogue_rows(rng, orgs, count):
            connection.execute(DATASETS.insert(), datasets)
            connection.execute(RESOURCES.insert(), resources)
    spent["insert"] = time.perf_counter() - started
    started = time.perf_counter()
    with engine.begin() as connection:
        searchindex.rebuild(connection)
    spent["index"] = time.perf_counter() - started
    started = time.perf_counter()
    with engine.begin() as connection:
        datasette_table(connection)
    spent["datasette"] = time.perf_counter() - started
    with engine.connect() as connection:
        # Datasette opens the file immutable: it reads no WAL, so everything goes in the file.
        connection.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
    reset_engines()
    return spent


def datasette_table(connection: sa.Connection) -> None:
    """One row per dataset with the values the hub counts facets on, under CKAN's names; its
    rowid is the search index's, so Datasette can match it through `searchfts`. Indexed on the
    single-valued facets as the hub's searchfield is (a Datasette publisher would index them)."""
    connection.exec_driver_sql(
        f"CREATE TABLE {DATASETTE_TABLE} (id INTEGER PRIMARY KEY, name TEXT NOT NULL, "
        "title TEXT, organization TEXT, tags TEXT, groups TEXT, license_id TEXT, "
        "res_format TEXT, modified_at TEXT)"
    )
    connection.exec_driver_sql(
        f"INSERT INTO {DATASETTE_TABLE} SELECT s.id, d.id, d.title, d.organization_id, "
        "d.keywords, d.theme, coalesce(nullif(d.licence_id, ''), 'notspecified'), "
        "(SELECT json_group_array(f) FROM (SELECT DISTINCT CASE WHEN r.kind = 'records' "
        "THEN 'CSV' ELSE r.format END AS f FROM resource r WHERE r.dataset_id = d.id)), "
        "d.modified_at FROM searchdoc s JOIN dataset d ON d.id = s.dataset_id"
    )
    for column in ("organization", "groups", "license_id"):
        connection.exec_driver_sql(
            f"CREATE INDEX ix_{DATASETTE_TABLE}_{column} ON {DATASETTE_TABLE} ({column})"
        )


# --- servers -------------------------------------------------------------------------------------


def start_servers(
    children: Children, workdir: Path, env: dict[str, str], database: Path
) -> tuple[str, int, str]:
    """The hub, and Datasette on the same file, immutable, its `datasette_dataset` table matched
    through the hub's FTS5 table; their base URLs once both answer, and the hub's process id."""
    hub_url, hub_pid = start_hub(children, workdir, env)
    datasette_url, _ = start_datasette(
        children,
        workdir,
        env,
        database,
        {DATASETTE_TABLE: {"fts_table": "searchfts", "fts_pk": "id"}},
        {"suggest_facets": "off", "default_facet_size": str(FACET_SIZE)},
    )
    return hub_url, hub_pid, datasette_url


# --- queries -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Kind:
    """One kind of query, as each side is asked it."""

    name: str
    hub: dict[str, str]
    datasette: list[tuple[str, str]]
    text: bool  # ranked by the hub: pages differ, counts and facets must not


DATASETTE_FACETS = [("_facet_array" if f in ARRAY_FACETS else "_facet", f) for f in FACETS] + [
    ("_facet_size", str(FACET_SIZE)),
    ("_size", str(ROWS)),
    ("_sort_desc", "modified_at"),
    ("_shape", "objects"),
]


def expression(text: str) -> str:
    """The hub's FTS5 expression for these words (its stems and synonyms)."""
    return match_expression(wording.query_words(text, synonyms()), None, FTS5)


def text_kind(name: str, text: str) -> Kind:
    """Words, as CKAN's q on the hub and as the hub's FTS5 expression on Datasette."""
    return Kind(
        name,
        {"q": text, "facet.field": json.dumps(FACETS), "rows": str(ROWS)},
        [("_search", expression(text)), ("_searchmode", "raw"), *DATASETTE_FACETS],
        text=True,
    )


def kinds(organization: str) -> list[Kind]:
    """Five text queries, everything, and one producer's datasets; facets and a page of 10."""
    facets = json.dumps(FACETS)
    datasette_facets = DATASETTE_FACETS
    texts = [
        ("one word, common", "air"),
        ("one word, rare", "tourbière"),
        ("two words", "consommation électricité"),
        ("French word, accented", "énergie"),
        ("enum label phrase", "dioxyde d'azote"),
    ]
    found = [text_kind(f"{name}: {text}", text) for name, text in texts]
    found.append(
        Kind(
            "*:* (everything)",
            {"q": "*:*", "facet.field": facets, "rows": str(ROWS)},
            [*datasette_facets],
            text=False,
        )
    )
    found.append(
        Kind(
            f"fq=organization:{organization}",
            {
                "q": "*:*",
                "fq": f"organization:{organization}",
                "facet.field": facets,
                "rows": str(ROWS),
            },
            [("organization", organization), *datasette_facets],
            text=False,
        )
    )
    return found


# Cold words, as shares of the datasets: as common as `air` (17 % of them) and `énergie` (25 %).
COLD_HITS = (0.10, 0.40)
COLD_PAIR_HITS = (0.02, 0.40)


def vocabulary() -> list[str]:
    """The words the generator writes into titles, descriptions and keywords, and the years,
    in order of first appearance."""
    texts: list[str] = []
    for fr, en, keywords in THEME_WORDS.values():
        texts += [fr, en, *keywords]
    for subjects in SUBJECTS.values():
        for subject in subjects:
            texts += [subject.fr, subject.en, *subject.keywords]
    texts += [word for pair in FREQUENCIES for word in pair]
    texts += [template for template, _ in ORGANIZATION_NAMES]
    texts += [city[2] for city in CITIES] + [str(year) for year in range(2012, 2026)]
    texts += [
        "Données publiées par, pour. Data published by, for. La série couvre, mise à jour chaque "
        "mois. The series covers, updated monthly. Réutilisation libre sous réserve de "
        "mentionner la source. Free reuse provided the source is credited."
    ]
    found: dict[str, None] = {}
    for text in texts:
        for word in re.findall(r"[\w'-]+", re.sub(r"\{\w+\}", " ", text)):  # no {city}
            word = word.strip("'-").lower()
            if len(word) > 2:
                found.setdefault(word, None)
    return list(found)


def cold_texts(
    database: Path, datasets: int, asked: set[str], count: int
) -> dict[str, list[tuple[str, int]]]:
    """Common words, and pairs of them, each a distinct FTS5 expression that none of the
    repeated kinds asks, with their hits (counted in the file directly, through neither
    server): at most `count` of each, in a fixed random order."""
    rng = random.Random(SEED)
    seen = set(asked)
    words: list[tuple[str, int]] = []
    with sa.create_engine(f"sqlite:///{database}").connect() as connection:

        def hits(text: str) -> int:
            found = connection.exec_driver_sql(
                "SELECT count(*) FROM searchfts WHERE searchfts MATCH ?", (expression(text),)
            )
            return int(found.scalar_one())

        for word in vocabulary():
            if not expression(word) or expression(word) in seen:
                continue
            seen.add(expression(word))
            found = hits(word)
            if COLD_HITS[0] <= found / datasets <= COLD_HITS[1]:
                words.append((word, found))
        rng.shuffle(words)
        pairs: list[tuple[str, int]] = []
        for first, second in (
            (a, b) for index, (a, _) in enumerate(words) for b, _ in words[index + 1 :]
        ):
            if len(pairs) >= count:
                break
            text = f"{first} {second}"
            if expression(text) in seen or rng.random() < 0.8:  # spread over many words
                continue
            seen.add(expression(text))
            found = hits(text)
            if COLD_PAIR_HITS[0] <= found / datasets <= COLD_PAIR_HITS[1]:
                pairs.append((text, found))
    return {"one common word, cold": words[:count], "two common words, cold": pairs}


def ranking_in_process(database: Path, words: dict[str, list[tuple[str, int]]]) -> None:
    """The cold words again, in this process: `hub.search.find` ranking through the term
    postings and through FTS5's bm25() (the path a query with a multi-word synonym takes), each
    word once per way with the kept hits dropped, the way that goes first alternating, every
    document already in the process's copy. Both ways must give the same page and facets."""
    engine = make_engine(f"sqlite:///{database}")
    posted = search._posted
    facets = tuple(FACETS)

    def timed(text: str, postings: bool) -> tuple[float, search.Found]:
        search._posted = posted if postings else lambda *_: None  # type: ignore[assignment]
        searchcache._held_for(engine).results = searchcache._Results()
        with Session(engine) as session:
            started = time.perf_counter()
            found = search.find(session, search.Query(text=text, limit=ROWS, facets=facets))
            return time.perf_counter() - started, found

    try:
        with Session(engine) as session:
            search.find(session, search.Query(limit=ROWS, facets=facets))  # the copy, whole
        print(f"\nRanking in this process (hub.search.find, ms), load {load_average()}:")
        for group, texts in words.items():
            samples: dict[bool, list[float]] = {True: [], False: []}
            for index, (text, _) in enumerate(texts):
                found = {}
                for postings in (True, False) if index % 2 else (False, True):
                    spent, found[postings] = timed(text, postings)
                    samples[postings].append(spent)
                if found[True] != found[False]:
                    raise SystemExit(f"the postings and FTS5 rank {text!r} differently")
            fts5, ours = percentiles(samples[False]), percentiles(samples[True])
            print(
                f"  {group} ({len(texts)}): FTS5 bm25() p50 {fts5[0]:.1f} p95 {fts5[1]:.1f}; "
                f"term postings p50 {ours[0]:.1f} p95 {ours[1]:.1f}; postings / FTS5 p50 "
                f"{ours[0] / fts5[0]:.2f}× p95 {ours[1] / fts5[1]:.2f}×; same pages and facets"
            )
        paused_and_straight(words, timed)
    finally:
        search._posted = posted
        engine.dispose()


def paused_and_straight(
    words: dict[str, list[tuple[str, int]]], timed: Callable[[str, bool], tuple[float, Any]]
) -> None:
    """Each cold word ranked after a pause of PAUSE seconds, then at once again (its kept hits
    dropped): the same work, timed after the process has idled and right after it did that
    work. What the first costs more is not the search's doing: it is what the bench's cold
    requests pay for the idle time Datasette's answers leave between them."""
    texts = [text for group in words.values() for text, _ in group]
    paused, straight = [], []
    for text in texts:
        time.sleep(PAUSE)
        paused.append(timed(text, True)[0])
        straight.append(timed(text, True)[0])
    after, again = percentiles(paused), percentiles(straight)
    print(
        f"  every cold word ({len(texts)}), term postings after {PAUSE:g} s idle: p50 "
        f"{after[0]:.1f} p95 {after[1]:.1f}; at once again: p50 {again[0]:.1f} p95 "
        f"{again[1]:.1f}; paused / again p50 {after[0] / again[0]:.2f}× "
        f"p95 {after[1] / again[1]:.2f}×"
    )


def agreement(kind: Kind, hub: dict[str, Any], theirs: dict[str, Any]) -> tuple[int, int, str]:
    """Both sides' hit counts, and whether their facets (and, unranked, their pages) agree."""
    if not hub.get("success"):
        raise SystemExit(f"{kind.name}: the hub answered {json.dumps(hub)[:500]}")
    if theirs.get("facets_timed_out"):
        raise SystemExit(f"{kind.name}: Datasette's facets timed out {theirs['facets_timed_out']}")
    result = hub["result"]
    ours = {name: dict(values) for name, values in result["facets"].items()}
    counted = {
        name: {str(r["value"]): r["count"] for r in facet["results"]}
        for name, facet in theirs["facet_results"].items()
    }
    notes = [
        "same hits" if result["count"] == theirs["filtered_table_rows_count"] else "HITS DIFFER",
        "facets agree" if ours == counted else "FACETS DIFFER",
    ]
    if not kind.text:
        same = [p["id"] for p in result["results"]] == [r["name"] for r in theirs["rows"]]
        notes.append("same page" if same else "PAGES DIFFER")
    return result["count"], theirs["filtered_table_rows_count"], ", ".join(notes)


# --- timing --------------------------------------------------------------------------------------


def latencies(
    hub: httpx.Client, datasette: httpx.Client, all_kinds: list[Kind], requests: int, database: str
) -> dict[str, dict[str, list[float]]]:
    """Every kind on both sides, interleaved, each side first in turn; warm-ups not kept."""
    hub_path = "/api/3/action/package_search"
    datasette_path = f"/{database}/{DATASETTE_TABLE}.json"
    samples: dict[str, dict[str, list[float]]] = {
        k.name: {"hub": [], "datasette": []} for k in all_kinds
    }
    for step in range(WARMUP + requests):
        for number, kind in enumerate(all_kinds):
            sides: list[tuple[str, httpx.Client, str, Any]] = [("hub", hub, hub_path, kind.hub)]
            sides.append(("datasette", datasette, datasette_path, kind.datasette))
            if (step + number) % 2:
                sides.reverse()
            for side, client, path, params in sides:
                spent, _ = get(client, path, params)
                if step >= WARMUP:
                    samples[kind.name][side].append(spent)
    return samples


@dataclass
class Cold:
    """The cold requests' latencies by group and side, the bytes the hub's process had read from
    storage during each of its own (None where the kernel does not count them), and each
    group's hits (least–most) with whether both sides agreed on every one."""

    samples: dict[str, dict[str, list[float]]]
    reads: dict[str, list[int | None]]
    checks: dict[str, tuple[str, str]]


def cold_latencies(
    hub: httpx.Client,
    hub_pid: int,
    datasette: httpx.Client,
    groups: dict[str, list[Kind]],
    database: str,
) -> Cold:
    """Each cold kind asked once on both sides (each side first in turn), no warm-up; the
    answers are checked after timing."""
    hub_path = "/api/3/action/package_search"
    datasette_path = f"/{database}/{DATASETTE_TABLE}.json"
    cold = Cold({}, {}, {})
    for group, group_kinds in groups.items():
        samples = cold.samples[group] = {"hub": [], "datasette": []}
        reads = cold.reads[group] = []
        found, notes = [], set()
        for number, kind in enumerate(group_kinds):
            answers: dict[str, Any] = {}
            sides: list[tuple[str, httpx.Client, str, Any]] = [("hub", hub, hub_path, kind.hub)]
            sides.append(("datasette", datasette, datasette_path, kind.datasette))
            if number % 2:
                sides.reverse()
            for side, client, path, params in sides:
                before = storage_reads(hub_pid) if side == "hub" else None
                spent, response = get(client, path, params)
                samples[side].append(spent)
                answers[side] = response
                if side == "hub":
                    after = storage_reads(hub_pid)
                    reads.append(None if before is None or after is None else after - before)
            ours, theirs, note = agreement(kind, answers["hub"].json(), answers["datasette"].json())
            found.append(ours)
            notes.add(note if ours == theirs else f"{note} ({kind.name})")
        hits = f"{min(found)}–{max(found)}" if found else ""
        cold.checks[group] = (hits, "; ".join(sorted(notes)))
    return cold


async def hammer(base: str, paths: list[str], clients: int, seconds: float) -> tuple[int, float]:
    """`clients` keep-alive clients GETting `paths` in turn for `seconds`: requests, seconds."""
    deadline = time.perf_counter() + seconds
    done = 0

    async def client(offset: int) -> None:
        nonlocal done
        limits = httpx.Limits(max_connections=1)
        async with httpx.AsyncClient(base_url=base, limits=limits, trust_env=False) as session:
            position = offset
            while time.perf_counter() < deadline:
                response = await session.get(paths[position % len(paths)])
                if response.status_code != 200:
                    raise SystemExit(f"GET {response.url}: {response.status_code}")
                position += clients
                done += 1

    started = time.perf_counter()
    await asyncio.gather(*(client(n * 97) for n in range(clients)))
    return done, time.perf_counter() - started


def throughput(
    hub_url: str, datasette_url: str, ids: list[str], database: str, args: argparse.Namespace
) -> dict[str, float]:
    """package_show beside Datasette's row page, `--clients` at a time, two rounds each,
    alternating; requests per second over both rounds."""
    paths = {
        "hub": (hub_url, [f"/api/3/action/package_show?id={i}" for i in ids]),
        "datasette": (datasette_url, [f"/{database}/dataset/{i}.json" for i in ids]),
    }
    totals = {"hub": [0, 0.0], "datasette": [0, 0.0]}
    for side in ("hub", "datasette", "datasette", "hub"):
        base, side_paths = paths[side]
        asyncio.run(hammer(base, side_paths[:50], args.clients, 0.5))  # warm-up
        done, seconds = asyncio.run(hammer(base, side_paths, args.clients, args.load_seconds))
        totals[side][0] += done
        totals[side][1] += seconds
    return {side: done / seconds for side, (done, seconds) in totals.items()}


# --- report --------------------------------------------------------------------------------------


def report(
    all_kinds: list[Kind],
    samples: dict[str, dict[str, list[float]]],
    checks: dict[str, tuple[int, int, str]],
) -> None:
    header = f"{'query kind':<44}{'hits hub/ds':>16}"
    header += f"{'hub p50':>9}{'p95':>8}{'ds p50':>9}{'p95':>8}{'hub/ds p95':>12}  p95 ≤ 20 ms"
    print(header)
    everything: dict[str, list[float]] = {"hub": [], "datasette": []}
    for kind in all_kinds:
        ours, theirs = samples[kind.name]["hub"], samples[kind.name]["datasette"]
        everything["hub"] += ours
        everything["datasette"] += theirs
        hub_hits, ds_hits, _ = checks[kind.name]
        row(kind.name, f"{hub_hits}/{ds_hits}", ours, theirs)
    row("overall", "", everything["hub"], everything["datasette"])
    print()
    for kind in all_kinds:
        print(f"  {kind.name}: {checks[kind.name][2]}")


def report_cold(cold: Cold) -> None:
    samples, checks = cold.samples, cold.checks
    header = f"{'cold kind (requests)':<44}{'hits':>16}"
    header += f"{'hub p50':>9}{'p95':>8}{'ds p50':>9}{'p95':>8}{'hub/ds p95':>12}  p95 ≤ 20 ms"
    print(header)
    everything: dict[str, list[float]] = {"hub": [], "datasette": []}
    for group, sides in samples.items():
        if len(sides["hub"]) < 2:
            continue
        everything["hub"] += sides["hub"]
        everything["datasette"] += sides["datasette"]
        row(f"{group} ({len(sides['hub'])})", checks[group][0], sides["hub"], sides["datasette"])
    if len(everything["hub"]) >= 2:
        row("overall cold", "", everything["hub"], everything["datasette"])
    print()
    for group, (_, notes) in checks.items():
        print(f"  {group}: {notes}")
    report_storage(cold)


def report_storage(cold: Cold) -> None:
    """How many of the hub's cold requests waited on storage, and the others' latencies."""
    if any(r is None for reads in cold.reads.values() for r in reads):
        print("  storage reads: not counted by this kernel (/proc/PID/io)")
        return
    print(
        "  the hub's reads from storage during its cold requests (what the OS page cache lacked):"
    )
    for group, reads in cold.reads.items():
        latencies = cold.samples[group]["hub"]
        waited = [r for r in reads if r]
        line = (
            f"    {group}: {len(waited)} of {len(reads)} requests read {sum(waited) / 1e6:.1f} MB"
        )
        served = [spent for spent, read in zip(latencies, reads, strict=True) if not read]
        if len(served) >= 2 and waited:
            p50, p95 = percentiles(served)
            line += f"; the {len(served)} others p50 {p50:.1f} p95 {p95:.1f} ms"
        print(line)


def row(name: str, hits: str, ours: list[float], theirs: list[float]) -> None:
    h50, h95 = percentiles(ours)
    d50, d95 = percentiles(theirs)
    met = "met" if h95 <= GOAL_P95_MS else "NOT met"
    print(
        f"{name[:43]:<44}{hits:>16}{h50:>9.1f}{h95:>8.1f}{d50:>9.1f}{d95:>8.1f}"
        f"{h95 / d95:>11.2f}×  {met}"
    )


def run_search(args: argparse.Namespace, workdir: Path, children: Children) -> None:
    """The search part, its servers' logs in `workdir`; the catalogue generated there too
    unless `--catalogue` names one kept by an earlier run."""
    home = args.catalogue or workdir
    database = use_database(home)
    if args.catalogue:
        with sa.create_engine(f"sqlite:///{database}").connect() as connection:
            args.datasets = connection.exec_driver_sql("SELECT count(*) FROM dataset").scalar_one()
        print(f"measuring the catalogue kept in {home}: {args.datasets:,} datasets", flush=True)
    else:
        print(f"generating {args.datasets:,} datasets …", flush=True)
        spent = build(args.datasets)
        per_thousand = spent["index"] / args.datasets * 1000
        print(
            f"inserted in {spent['insert']:.1f} s; search index built in {spent['index']:.1f} s "
            f"({per_thousand:.2f} s per 1,000 datasets); Datasette's table in "
            f"{spent['datasette']:.1f} s; file {database.stat().st_size / 1e6:.0f} MB",
            flush=True,
        )
    with sa.create_engine(f"sqlite:///{database}").connect() as connection:
        twentieth = connection.exec_driver_sql(
            "SELECT organization_id, count(*) FROM dataset GROUP BY 1 ORDER BY 2 DESC LIMIT 20"
        ).all()[-1][0]  # the 20th largest producer
        every = sorted(r[0] for r in connection.exec_driver_sql("SELECT id FROM dataset"))
    ids = random.Random(SEED).sample(every, min(2000, len(every)))
    all_kinds = kinds(twentieth)
    asked = {expression(kind.hub["q"]) for kind in all_kinds if kind.text}
    cold_words = cold_texts(database, args.datasets, asked, args.requests)
    cold_groups = {
        group: [text_kind(f"{group}: {text}", text) for text, _ in texts]
        for group, texts in cold_words.items()
    }
    hub_url, hub_pid, datasette_url = start_servers(children, workdir, dict(os.environ), database)
    hub = httpx.Client(base_url=hub_url, timeout=120, trust_env=False)
    datasette = httpx.Client(base_url=datasette_url, timeout=120, trust_env=False)
    held = held_in_memory(database) if args.resident else contextlib.nullcontext()
    with hub, datasette, held:
        if args.resident:
            print(f"holding {database.name} in memory (mlock) while timing …", flush=True)
        checks = {}
        for kind in all_kinds:
            _, ours = get(hub, "/api/3/action/package_search", kind.hub)
            _, theirs = get(datasette, f"/{database.stem}/{DATASETTE_TABLE}.json", kind.datasette)
            checks[kind.name] = agreement(kind, ours.json(), theirs.json())
        print(f"timing {args.requests} requests per kind and side after {WARMUP} warm-up …")
        samples = latencies(hub, datasette, all_kinds, args.requests, database.stem)
        counts = ", ".join(f"{len(k)} {g}" for g, k in cold_groups.items())
        print(f"timing cold words, each asked once: {counts} …", flush=True)
        cold = cold_latencies(hub, hub_pid, datasette, cold_groups, database.stem)
        during = load_average()
        rates = throughput(hub_url, datasette_url, ids, database.stem, args)
    print(
        f"\npackage_search on {args.datasets:,} datasets over HTTP (one keep-alive client per "
        f"side, interleaved, {args.requests} requests per kind; ms)\n"
        "hub: /api/3/action/package_search?q=WORDS (or fq=organization:X)"
        f"&facet.field={json.dumps(FACETS)}&rows={ROWS}, CKAN's default sort "
        "(score desc, metadata_modified desc)\n"
        "Datasette: /hub/datasette_dataset.json with _search=<the hub's FTS5 expression>"
        "&_searchmode=raw, _facet=organization,groups,license_id, _facet_array=tags,res_format, "
        f"_facet_size={FACET_SIZE}, _size={ROWS}, _sort_desc=modified_at (no relevance ranking)\n"
    )
    print(
        f"Repeated: each query asked again, after {WARMUP} warm-ups. The hub answers words from "
        "the ranked hits it keeps (hub.searchcache, while the index's generation stays the "
        "same), `*:*` from its copy; Datasette keeps no results (SQLite's page cache only).\n"
    )
    report(all_kinds, samples, checks)
    print(
        f"\nCold: each request words this hub process was never asked (common words in "
        f"{COLD_HITS[0]:.0%}–{COLD_HITS[1]:.0%} of the datasets, pairs of them in "
        f"{COLD_PAIR_HITS[0]:.0%}–{COLD_PAIR_HITS[1]:.0%}, each asked once, both sides, no "
        "warm-up): the hub ranks every hit afresh (FTS5's bm25 computed over its term "
        "postings, hub.searchpostings), the order and facets are computed afresh.\n"
    )
    report_cold(cold)
    ranking_in_process(database, cold_words)
    print(
        f"\npackage_show under {args.clients} concurrent clients, 2 × {args.load_seconds:g} s "
        f"each, {len(ids)} random ids:\n"
        f"  hub package_show        {rates['hub']:>8.0f} req/s\n"
        f"  Datasette row page      {rates['datasette']:>8.0f} req/s  (/hub/dataset/ID.json)\n"
        f"  hub / Datasette         {rates['hub'] / rates['datasette']:>8.2f}×"
    )
    print(f"\nsearch: load average after the latencies {during}, at the end {load_average()}")
