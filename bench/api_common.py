"""What the API bench's parts share: the servers it starts (stopped whatever happens), their
memory, timing helpers, and the cities its generated data sits around."""

from __future__ import annotations

import contextlib
import ctypes
import json
import os
import signal
import statistics
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path[:0] = [str(ROOT)]

from ports import free_port  # noqa: E402 — the tests' process helpers pick theirs alike

from hub.config import get_settings  # noqa: E402
from hub.db import reset_engines  # noqa: E402

WARMUP = 20  # requests per kind and side before the timed ones

# (city, department, region, lon, lat)
CITIES = [
    ("Rennes", "Ille-et-Vilaine", "Bretagne", -1.68, 48.11),
    ("Brest", "Finistère", "Bretagne", -4.49, 48.39),
    ("Lorient", "Morbihan", "Bretagne", -3.37, 47.75),
    ("Saint-Brieuc", "Côtes-d'Armor", "Bretagne", -2.76, 48.51),
    ("Rouen", "Seine-Maritime", "Normandie", 1.10, 49.44),
    ("Caen", "Calvados", "Normandie", -0.37, 49.18),
    ("Le Havre", "Seine-Maritime", "Normandie", 0.11, 49.49),
    ("Lille", "Nord", "Hauts-de-France", 3.06, 50.63),
    ("Amiens", "Somme", "Hauts-de-France", 2.30, 49.89),
    ("Dunkerque", "Nord", "Hauts-de-France", 2.38, 51.03),
    ("Strasbourg", "Bas-Rhin", "Grand Est", 7.75, 48.57),
    ("Metz", "Moselle", "Grand Est", 6.18, 49.12),
    ("Reims", "Marne", "Grand Est", 4.03, 49.26),
    ("Mulhouse", "Haut-Rhin", "Grand Est", 7.34, 47.75),
    ("Paris", "Paris", "Île-de-France", 2.35, 48.86),
    ("Versailles", "Yvelines", "Île-de-France", 2.13, 48.80),
    ("Créteil", "Val-de-Marne", "Île-de-France", 2.46, 48.79),
    ("Nantes", "Loire-Atlantique", "Pays de la Loire", -1.55, 47.22),
    ("Angers", "Maine-et-Loire", "Pays de la Loire", -0.55, 47.47),
    ("Le Mans", "Sarthe", "Pays de la Loire", 0.20, 48.00),
    ("Orléans", "Loiret", "Centre-Val de Loire", 1.91, 47.90),
    ("Tours", "Indre-et-Loire", "Centre-Val de Loire", 0.69, 47.39),
    ("Dijon", "Côte-d'Or", "Bourgogne-Franche-Comté", 5.04, 47.32),
    ("Besançon", "Doubs", "Bourgogne-Franche-Comté", 6.02, 47.24),
    ("Bordeaux", "Gironde", "Nouvelle-Aquitaine", -0.58, 44.84),
    ("Limoges", "Haute-Vienne", "Nouvelle-Aquitaine", 1.26, 45.83),
    ("Poitiers", "Vienne", "Nouvelle-Aquitaine", 0.34, 46.58),
    ("Bayonne", "Pyrénées-Atlantiques", "Nouvelle-Aquitaine", -1.47, 43.49),
    ("La Rochelle", "Charente-Maritime", "Nouvelle-Aquitaine", -1.15, 46.16),
    ("Lyon", "Rhône", "Auvergne-Rhône-Alpes", 4.84, 45.76),
    ("Grenoble", "Isère", "Auvergne-Rhône-Alpes", 5.72, 45.19),
    ("Clermont-Ferrand", "Puy-de-Dôme", "Auvergne-Rhône-Alpes", 3.09, 45.78),
    ("Saint-Étienne", "Loire", "Auvergne-Rhône-Alpes", 4.39, 45.44),
    ("Annecy", "Haute-Savoie", "Auvergne-Rhône-Alpes", 6.13, 45.90),
    ("Toulouse", "Haute-Garonne", "Occitanie", 1.44, 43.60),
    ("Montpellier", "Hérault", "Occitanie", 3.88, 43.61),
    ("Nîmes", "Gard", "Occitanie", 4.36, 43.84),
    ("Perpignan", "Pyrénées-Orientales", "Occitanie", 2.90, 42.70),
    ("Marseille", "Bouches-du-Rhône", "Provence-Alpes-Côte d'Azur", 5.37, 43.30),
    ("Nice", "Alpes-Maritimes", "Provence-Alpes-Côte d'Azur", 7.26, 43.70),
    ("Toulon", "Var", "Provence-Alpes-Côte d'Azur", 5.93, 43.12),
    ("Avignon", "Vaucluse", "Provence-Alpes-Côte d'Azur", 4.81, 43.95),
    ("Ajaccio", "Corse-du-Sud", "Corse", 8.74, 41.93),
    ("Bastia", "Haute-Corse", "Corse", 9.45, 42.70),
]


def die_with_parent() -> None:
    """In a child before exec: SIGKILL it when the bench dies, even by SIGKILL (Linux)."""
    with contextlib.suppress(OSError):
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG


class Children:
    """The servers the bench starts, each in its own process group, stopped whatever happens."""

    def __init__(self) -> None:
        self.processes: list[subprocess.Popen[bytes]] = []

    def start(self, command: list[str], env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
        with log.open("wb") as out:
            process = subprocess.Popen(
                command,
                env=env,
                cwd=ROOT,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                preexec_fn=die_with_parent,
            )
        self.processes.append(process)
        return process

    def pipe(self, command: list[str], env: dict[str, str]) -> subprocess.Popen[bytes]:
        """A command whose output the bench reads, stopped as the servers are."""
        process = subprocess.Popen(
            command,
            env=env,
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
            preexec_fn=die_with_parent,
        )
        self.processes.append(process)
        return process

    def reap(self, process: subprocess.Popen[bytes]) -> None:
        """Wait for a piped command to end (exit 0, or the bench ends)."""
        process.wait()
        self.processes.remove(process)
        if process.returncode != 0:
            raise SystemExit(f"{process.args!r} exited {process.returncode}")

    def stop_all(self) -> None:
        """SIGTERM each group, then SIGKILL what is left after 10 seconds."""
        while self.processes:
            process = self.processes.pop()
            for sig, wait in ((signal.SIGTERM, 10.0), (signal.SIGKILL, 5.0)):
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.killpg(process.pid, sig)
                with contextlib.suppress(subprocess.TimeoutExpired):
                    process.wait(timeout=wait)
                    break
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(process.pid, signal.SIGKILL)  # anything the leader left behind


def wait_until_up(base: str, path: str, process: subprocess.Popen[bytes], log: Path) -> None:
    """Poll `path` until the server answers 200 (two minutes at most: readiness, not timing)."""
    deadline = time.monotonic() + 120
    with httpx.Client(base_url=base, timeout=10, trust_env=False) as client:
        while time.monotonic() < deadline:
            if process.poll() is not None:
                raise SystemExit(
                    f"{process.args!r} exited {process.returncode}:\n{log.read_text()}"
                )
            with contextlib.suppress(httpx.HTTPError):
                if client.get(path).status_code == 200:
                    return
            time.sleep(0.2)
    raise SystemExit(f"{process.args!r} did not answer in 2 minutes:\n{log.read_text()}")


def start_hub(children: Children, workdir: Path, env: dict[str, str]) -> tuple[str, int]:
    """The hub's app under uvicorn, as `hub serve` runs it (one process, access log on): its
    base URL once it answers, and its process id."""
    port = free_port()
    log = workdir / "hub.log"
    hub = children.start(
        [sys.executable, "-m", "uvicorn", "--factory", "hub.app:create_app"]
        + ["--host", "127.0.0.1", "--port", str(port), "--log-level", "info"],
        env,
        log,
    )
    url = f"http://127.0.0.1:{port}"
    wait_until_up(url, "/healthz", hub, log)
    return url, hub.pid


def start_datasette(
    children: Children,
    workdir: Path,
    env: dict[str, str],
    database: Path,
    tables: dict[str, Any],
    settings: dict[str, str],
) -> tuple[str, int]:
    """Datasette (from PyPI) on `database`, immutable (`-i`), with `tables` as its metadata and
    `settings` beside its time limits raised: its base URL once it answers, and its process id."""
    port = free_port()
    log = workdir / "datasette.log"
    metadata = workdir / "datasette-metadata.json"
    metadata.write_text(json.dumps({"databases": {database.stem: {"tables": tables}}}))
    chosen = {"facet_time_limit_ms": "60000", "sql_time_limit_ms": "60000", **settings}
    datasette = children.start(
        [str(Path(sys.executable).parent / "datasette"), "serve", "-i", str(database)]
        + ["--host", "127.0.0.1", "--port", str(port), "--metadata", str(metadata)]
        + [part for name, value in chosen.items() for part in ("--setting", name, value)],
        env,
        log,
    )
    url = f"http://127.0.0.1:{port}"
    wait_until_up(url, "/-/versions.json", datasette, log)
    return url, datasette.pid


# --- memory --------------------------------------------------------------------------------------


def memory(pid: int) -> dict[str, int]:
    """A process's resident memory now (VmRSS) and at its peak (VmHWM), in KiB."""
    found = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        name, _, value = line.partition(":")
        if name in ("VmRSS", "VmHWM"):
            found[name] = int(value.split()[0])
    return found


def reset_peak(pid: int) -> bool:
    """Start a process's VmHWM afresh from its current RSS (Linux 4.0+); False if refused."""
    try:
        Path(f"/proc/{pid}/clear_refs").write_text("5")
    except OSError:
        return False
    return True


# --- timing --------------------------------------------------------------------------------------


def percentiles(samples: list[float]) -> tuple[float, float]:
    """p50 and p95 of `samples`, in ms."""
    cuts = statistics.quantiles(samples, n=100, method="inclusive")
    return cuts[49] * 1e3, cuts[94] * 1e3


def get(client: httpx.Client, path: str, params: Any) -> tuple[float, httpx.Response]:
    """GET `path`: the seconds it took and the response (anything but a 200 ends the bench)."""
    started = time.perf_counter()
    response = client.get(path, params=params)
    spent = time.perf_counter() - started
    if response.status_code != 200:
        raise SystemExit(f"GET {response.url}: {response.status_code} {response.text[:500]}")
    return spent, response


def load_average() -> str:
    """The 1, 5 and 15-minute load averages."""
    return " ".join(f"{v:.2f}" for v in os.getloadavg())


def storage_reads(pid: int) -> int | None:
    """The bytes process `pid` has had read from storage so far: /proc/PID/io's read_bytes,
    what the OS page cache did not hold for it (None where the kernel does not count them)."""
    with contextlib.suppress(OSError, ValueError):
        for line in Path(f"/proc/{pid}/io").read_text().splitlines():
            if line.startswith("read_bytes:"):
                return int(line.split()[1])
    return None


@contextlib.contextmanager
def held_in_memory(path: Path) -> Iterator[None]:
    """`path`'s pages locked in the OS page cache while the block runs (mmap + mlock), so that
    no server reading the file waits on storage: on a machine that pages out what was not read
    for a minute (a VM's proactive reclaim), a word never asked reads its postings from disk."""
    libc = ctypes.CDLL("libc.so.6", use_errno=True)
    libc.mmap.restype = ctypes.c_void_p
    libc.mmap.argtypes = [ctypes.c_void_p, ctypes.c_size_t] + [ctypes.c_int] * 3 + [ctypes.c_long]
    libc.mlock.argtypes = [ctypes.c_void_p, ctypes.c_size_t]
    libc.munmap.argtypes = [ctypes.c_void_p, ctypes.c_size_t]
    size = path.stat().st_size
    descriptor = os.open(path, os.O_RDONLY)
    try:
        address = libc.mmap(None, size, 1, 1, descriptor, 0)  # PROT_READ, MAP_SHARED
        if address in (None, ctypes.c_void_p(-1).value):
            raise SystemExit(f"cannot map {path}: {os.strerror(ctypes.get_errno())}")
        try:
            if libc.mlock(address, size) != 0:
                raise SystemExit(
                    f"cannot hold {path} in memory ({size / 1e6:.0f} MB): "
                    f"{os.strerror(ctypes.get_errno())} (see ulimit -l)"
                )
            yield
        finally:
            libc.munmap(address, size)  # which unlocks its pages too
    finally:
        os.close(descriptor)


def use_database(home: Path) -> Path:
    """Point the hub's settings (in this process and the servers it starts) at `home`: its
    SQLite file and data folder, every other HUB_ setting unset; the file's path."""
    database = home / "hub.db"
    for name in [n for n in os.environ if n.startswith("HUB_")]:
        os.environ.pop(name)
    os.environ.update(
        {"HUB_DATA_DIR": str(home / "var"), "HUB_DATABASE_URL": f"sqlite:///{database}"}
    )
    get_settings.cache_clear()
    reset_engines()
    return database
