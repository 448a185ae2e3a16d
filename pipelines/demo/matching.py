"""The demo grid operator's matching service (RUDI's protocol, DESIGN.md §4).

`POST /matching` with `{"dataset": ID, "matching": {"meter_number": …, "postcode": …}}` answers
`200 {"subject_key": METER}` when ID is the dataset the register is for (DATASET: the register
is of its households) and holds that meter at that postcode, else `404` (a wrong value, an
unknown meter and a dataset without the person's data alike); a body that is no such request,
`400`.
`hub demo` serves it on 127.0.0.1:8765 in a thread of its own process (`serving`).
"""

from __future__ import annotations

import contextlib
import json
import logging
import threading
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from pipelines.demo.households import read_register

log = logging.getLogger(__name__)

HOST, PORT = "127.0.0.1", 8765
DATASET = "demo-grid-load-curves"  # the dataset whose households the register lists
MAX_BODY = 4096  # bytes: a request of the protocol is far smaller


def create_app(register: Mapping[str, str]) -> Starlette:
    """The service over `register` (meter number → postcode)."""
    known = dict(register)

    async def matching(request: Request) -> JSONResponse:
        body = await request.body()
        try:
            payload = json.loads(body) if 0 < len(body) <= MAX_BODY else None
        except (ValueError, UnicodeDecodeError):
            payload = None
        if not isinstance(payload, dict):
            payload = {}
        values = payload.get("matching")
        if not isinstance(values, dict) or not isinstance(payload.get("dataset"), str):
            return JSONResponse({"detail": "expected {dataset, matching}"}, status_code=400)
        meter, postcode = values.get("meter_number"), values.get("postcode")
        # Keys of another dataset (same producer, same pseudonyms) may be someone else's rows.
        if payload["dataset"] != DATASET:
            return JSONResponse({"detail": "no data for these matching values"}, status_code=404)
        if isinstance(meter, str) and isinstance(postcode, str) and known.get(meter) == postcode:
            return JSONResponse({"subject_key": meter})
        return JSONResponse({"detail": "no data for these matching values"}, status_code=404)

    return Starlette(routes=[Route("/matching", matching, methods=["POST"])])


@contextmanager
def serving(
    register: Path | Mapping[str, str], host: str = HOST, port: int = PORT
) -> Iterator[str]:
    """Serve the service in a thread until the block ends; yields its /matching URL."""
    known = read_register(register) if isinstance(register, Path) else register
    config = uvicorn.Config(create_app(known), host=host, port=port, log_level="warning")
    server = uvicorn.Server(config)

    def run() -> None:
        with contextlib.suppress(SystemExit):  # uvicorn's way to say the port is taken
            server.run()

    thread = threading.Thread(target=run, name="demo-matching", daemon=True)
    thread.start()
    try:
        while not server.started:
            if not thread.is_alive():  # the port was taken, or the server could not start
                raise OSError(f"the demo matching service could not listen on {host}:{port}")
            thread.join(0.02)
        bound = port or server.servers[0].sockets[0].getsockname()[1]
        yield f"http://{host}:{bound}/matching"
    finally:
        server.should_exit = True
        thread.join(timeout=10)
