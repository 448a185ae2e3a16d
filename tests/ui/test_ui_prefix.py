"""The hub published under a path prefix, as a proxy publishes it: nginx's
`location /hub/ { proxy_pass http://hub/; }` and HUB_PUBLIC_URL=http://host/hub/.

Every link, form, script and map URL of the pages, every redirect and cookie stays under /hub/
and answers; the API docs call the prefixed API; ckanapi writes with its raw token. The root
path comes from HUB_PUBLIC_URL (`setting`) or from uvicorn's own `--root-path` (`uvicorn`).
A real nginx strips the prefix when the machine has one; otherwise an ASGI wrapper strips it
as nginx would. HUB_TEST_PROXY_PORT fixes the proxy's port (plus the xdist worker's number;
a free port otherwise).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import parse_qs, urljoin, urlsplit

import ckanapi
import httpx
import pytest
from api.support import live_server
from api.test_ckan_writes import new_package, token
from flows.processes import end, free_port, listening, wait_for
from starlette.responses import PlainTextResponse
from starlette.types import ASGIApp, Receive, Scope, Send
from ui.test_ui_browser import ARGS, chromium  # noqa: F401 - the fixture
from ui.test_ui_situation import situation  # noqa: F401 - the fixture

from hub.app import create_app
from hub.config import get_settings
from hub.ui import visitors

PREFIX = "/hub"
NGINX = shutil.which("nginx") or ("/usr/sbin/nginx" if Path("/usr/sbin/nginx").is_file() else "")
# Where the crawl finds URLs: links, forms, scripts, and what the pages' scripts fetch or link.
URL_ATTRIBUTES = {"href", "src", "action", "data-outline", "data-geojson", "data-stream"}
SCRIPT_BASES = {"data-datasets", "data-alerts"}  # bases situation.js appends an id to
ENGLISH = {"Accept-Language": "en"}
PAGES_CRAWLED = 60  # distinct page paths followed; every URL found on them is checked
NGINX_CONF = """
daemon off;
master_process off;
pid {folder}/nginx.pid;
error_log {folder}/error.log;
events {{ worker_connections 256; }}
http {{
  access_log off;
  client_body_temp_path {folder}/body;
  proxy_temp_path {folder}/proxy;
  fastcgi_temp_path {folder}/fastcgi;
  uwsgi_temp_path {folder}/uwsgi;
  scgi_temp_path {folder}/scgi;
  server {{
    listen 127.0.0.1:{port};
    location {prefix}/ {{
      proxy_pass {upstream}/;
      proxy_http_version 1.1;
      proxy_set_header Host $host;
      proxy_buffering off;
      proxy_request_buffering off;
    }}
  }}
}}
"""


@contextmanager
def nginx(folder: Path, port: int, upstream: str) -> Iterator[None]:
    """nginx on `port`, publishing `upstream` under PREFIX and stripping it."""
    folder.mkdir(parents=True, exist_ok=True)
    conf = folder / "nginx.conf"
    conf.write_text(NGINX_CONF.format(folder=folder, port=port, upstream=upstream, prefix=PREFIX))
    command = [NGINX, "-c", str(conf), "-p", str(folder), "-e", str(folder / "error.log")]
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL)
    try:
        wait_for(lambda: listening(port), 30, "nginx", process)
        yield
    finally:
        end(process)


def stripping(app: ASGIApp) -> ASGIApp:
    """`app` behind PREFIX, stripped as nginx's `proxy_pass http://hub/;` does (404 elsewhere)."""

    async def strip(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            root = scope.get("root_path", "")
            asked = scope["path"][len(root) :]
            if not asked.startswith(PREFIX + "/"):
                await PlainTextResponse("not under the prefix", 404)(scope, receive, send)
                return
            scope = {**scope, "path": root + asked[len(PREFIX) :]}
            scope["raw_path"] = scope["path"].encode()
        await app(scope, receive, send)

    return strip


def proxy_port() -> int:
    """HUB_TEST_PROXY_PORT, plus the xdist worker's number (one proxy each), or a free port."""
    fixed = os.environ.get("HUB_TEST_PROXY_PORT")
    worker = os.environ.get("PYTEST_XDIST_WORKER", "gw0").removeprefix("gw")
    return int(fixed) + int(worker or 0) if fixed else free_port()


@pytest.fixture(params=["setting", "uvicorn"])
def hub(request, engine, published, situation, monkeypatch, tmp_path) -> Iterator[str]:  # noqa: F811
    """The hub's public URL behind the proxy, `http://127.0.0.1:PORT/hub` (no last slash)."""
    port = proxy_port()
    public = f"http://127.0.0.1:{port}{PREFIX}"
    monkeypatch.setenv("HUB_PUBLIC_URL", public + "/")
    get_settings.cache_clear()
    root = PREFIX if request.param == "uvicorn" else ""
    if NGINX:
        with live_server(root) as upstream, nginx(tmp_path / "nginx", port, upstream):
            yield public
    else:
        with live_server(root, stripping(create_app()), port):
            yield public


class References(HTMLParser):
    """The URLs a page names, with the tag and attribute naming each."""

    def __init__(self) -> None:
        super().__init__()
        self.found: list[tuple[str, str, str]] = []  # (tag, attribute, value)
        self.form_methods: dict[str, str] = {}

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        for name, value in attrs:
            if value and (name in URL_ATTRIBUTES or name in SCRIPT_BASES):
                self.found.append((tag, name, value))
        named = dict(attrs)
        if tag == "form" and named.get("action"):
            self.form_methods[named["action"] or ""] = (named.get("method") or "get").lower()


def status_of(client: httpx.Client, url: str) -> int:
    """The status a GET answers, without reading a body (a stream never ends)."""
    with client.stream("GET", url) as answer:
        return answer.status_code


def crawl(client: httpx.Client, public: str, seeds: list[str]) -> set[str]:
    """Open the seed pages and every page they lead to (up to PAGES_CRAWLED paths) and check
    every URL they name: under the prefix, and answering (a POST form's action: not a 404).
    Returns the URLs checked."""
    origin = public.removesuffix(PREFIX)
    todo, crawled, checked = [public + s for s in seeds], set(), set()
    while todo:
        url = todo.pop(0)
        answer = client.get(url)
        assert answer.status_code < 400 or url.endswith("/nowhere"), (url, answer.status_code)
        if not answer.headers.get("content-type", "").startswith("text/html"):
            continue
        page = References()
        page.feed(answer.text)
        for tag, name, value in page.found:
            target = urljoin(url, value)
            if value.startswith(("#", "mailto:")) or not target.startswith(origin + "/"):
                continue  # the page itself, or another site (licences, the tiles' credits)
            path = urlsplit(target).path
            assert path.startswith(PREFIX + "/"), f"{url}: <{tag} {name}={value!r}> leaves {PREFIX}"
            if name in SCRIPT_BASES or target in checked:
                continue
            checked.add(target)
            status = status_of(client, target)
            if tag == "form" and page.form_methods.get(value) == "post":
                assert status != 404, f"{url}: form action {value} is nowhere"
                continue
            assert status < 400, f"{url}: <{tag} {name}={value!r}> answers {status}"
            if tag == "a" and path not in crawled and len(crawled) < PAGES_CRAWLED:
                crawled.add(path)
                todo.append(target)
    return checked


def signed_in(client: httpx.Client, public: str, raw_token: str) -> None:
    """Sign in through the prefixed form, as a browser does."""
    form = client.get(f"{public}/signin")
    csrf = re.search(r'name="csrf" value="([^"]+)"', form.text)
    assert csrf and f'action="{PREFIX}/signin"' in form.text
    answer = client.post(f"{public}/signin", data={"token": raw_token, "csrf": csrf.group(1)})
    assert answer.status_code == 303, answer.text[:300]


def test_every_url_of_the_pages_stays_under_the_prefix_and_answers(hub, engine, published):
    datasets = [f"/datasets/{published.open_id}", f"/datasets/{published.closed['personal']}"]
    seeds = ["/", "/organizations", "/charters", "/situation", "/docs", "/nowhere", *datasets]
    with httpx.Client(trust_env=False, timeout=60, headers=ENGLISH) as client:
        checked = crawl(client, hub, seeds)
        signed_in(client, hub, token(engine, "operator", "atmo-demo"))
        checked |= crawl(client, hub, ["/dashboard"])
        client.cookies.clear()
        signed_in(client, hub, token(engine, "crisis-cell", "prefecture-herault-cell"))
        situation_page = client.get(f"{hub}/situation").text
        checked |= crawl(client, hub, ["/situation"])
        client.cookies.clear()
        signed_in(client, hub, token(engine, "subject"))
        checked |= crawl(client, hub, ["/me"])
    paths = {urlsplit(u).path for u in checked}
    # the pages' own assets, the maps' data and the feed the situation page streams
    assert {f"{PREFIX}/static/hub.css", f"{PREFIX}/territory.geojson"} <= paths
    assert (
        f"{PREFIX}/api/v1/feeds/stream" in paths and f"{PREFIX}/docs-assets/swagger-ui.css" in paths
    )
    assert any(p.startswith(f"{PREFIX}/dashboard/") or p == f"{PREFIX}/dashboard" for p in paths)
    # what situation.js appends ids to
    assert f'data-datasets="{PREFIX}/datasets/"' in situation_page
    assert f'data-alerts="{PREFIX}/api/v1/alerts/"' in situation_page


def test_the_api_docs_try_the_prefixed_api(hub):
    with httpx.Client(trust_env=False, timeout=60, headers=ENGLISH) as client:
        docs = client.get(f"{hub}/docs").text
        assert f"url: '{PREFIX}/openapi.json'" in docs
        assert f'href="{PREFIX}/docs-assets/swagger-ui.css"' in docs
        document = client.get(f"{hub}/openapi.json").json()
        assert document["servers"][0]["url"] == PREFIX


def test_signing_in_and_out_and_the_language_stay_under_the_prefix(hub, engine):
    with httpx.Client(trust_env=False, timeout=60, headers=ENGLISH) as client:
        form = client.get(f"{hub}/signin", params={"next": f"{PREFIX}/charters"})
        assert f"Path={PREFIX};" in form.headers["set-cookie"]  # the form's CSRF cookie
        csrf = re.search(r'name="csrf" value="([^"]+)"', form.text).group(1)  # type: ignore[union-attr]
        raw = token(engine, "operator", "atmo-demo")
        fields = {"token": raw, "csrf": csrf, "next": f"{PREFIX}/charters"}
        answer = client.post(f"{hub}/signin", data=fields)
        assert answer.status_code == 303 and answer.headers["location"] == f"{PREFIX}/charters"
        cookie = answer.headers["set-cookie"]
        assert cookie.startswith(f"{visitors.SESSION_COOKIE}=") and f"Path={PREFIX};" in cookie
        page = client.get(f"{hub}/charters").text
        assert "Signed in as" in page and f'action="{PREFIX}/signout"' in page
        csrf = re.search(r'name="csrf" value="([^"]+)"', page).group(1)  # type: ignore[union-attr]
        out = client.post(f"{hub}/signout", data={"csrf": csrf})
        assert out.status_code == 303 and out.headers["location"] == f"{PREFIX}/"
        assert f"Path={PREFIX};" in out.headers["set-cookie"]  # the very cookie, deleted
        assert "Signed in as" not in client.get(f"{hub}/charters").text
        # a `next` outside the prefix lands where the role does, under the prefix
        again = client.post(f"{hub}/signin", data={**fields, "next": "/charters"})
        assert again.headers["location"] == f"{PREFIX}/dashboard"

        switch = re.search(r'hreflang="fr" href="([^"]+)"', page).group(1)  # type: ignore[union-attr]
        switch = switch.replace("&amp;", "&")
        assert switch.startswith(f"{PREFIX}/language/fr?")
        assert parse_qs(urlsplit(switch).query)["next"] == [f"{PREFIX}/charters"]
        moved = client.get(urljoin(hub, switch))
        assert moved.status_code == 303 and moved.headers["location"] == f"{PREFIX}/charters"
        assert f"Path={PREFIX};" in moved.headers["set-cookie"]
        assert client.get(f"{hub}/charters").headers["content-language"] == "fr"
        for outside in ("", "/charters", "https://evil.example/", "//evil.example/"):
            back = client.get(f"{hub}/language/en", params={"next": outside} if outside else {})
            assert back.headers["location"] == f"{PREFIX}/", outside


def test_a_session_cookie_left_at_the_root_is_dropped_on_signing_in_and_out(hub, engine):
    """A hub moved under a prefix: browsers still hold its old `Path=/` session cookie and send
    it beside the new one; signing in or out drops it, so only the new one is read."""
    host = urlsplit(hub).hostname or ""
    with httpx.Client(trust_env=False, timeout=60, headers=ENGLISH) as client:
        client.cookies.set(visitors.SESSION_COOKIE, "left-from-the-root", domain=host, path="/")
        form = client.get(f"{hub}/signin")
        csrf = re.search(r'name="csrf" value="([^"]+)"', form.text).group(1)  # type: ignore[union-attr]
        fields = {"token": token(engine, "operator", "atmo-demo"), "csrf": csrf}
        answer = client.post(f"{hub}/signin", data=fields)
        cookies = answer.headers.get_list("set-cookie")
        assert any(f"Path={PREFIX};" in c and "Max-Age=" in c for c in cookies)
        dropped = [c for c in cookies if "Path=/;" in c or c.endswith("Path=/")]
        assert dropped and dropped[0].startswith(f'{visitors.SESSION_COOKIE}=""')
        kept = [c for c in client.cookies.jar if c.name == visitors.SESSION_COOKIE]
        assert [c.path for c in kept] == [PREFIX]
        assert "Signed in as" in client.get(f"{hub}/charters").text


def test_ckanapi_writes_under_the_prefix_with_the_raw_token(hub, engine):
    operator = ckanapi.RemoteCKAN(hub, apikey=token(engine, "operator", "atmo-demo"))
    created = operator.action.package_create(**new_package())
    assert created["name"] == "push-air-rennes"
    assert ckanapi.RemoteCKAN(hub).action.package_show(id="push-air-rennes")["title"]


def test_the_catalogue_iri_dereferences_under_the_prefix(hub):
    with httpx.Client(trust_env=False, timeout=60, headers=ENGLISH) as client:
        turtle = client.get(f"{hub}/catalog", headers={"Accept": "text/turtle"})
        assert turtle.status_code == 303 and turtle.headers["location"] == f"{hub}/catalog.ttl"
        document = client.get(turtle.headers["location"]).text
        assert f"<{hub}/catalog>" in document
        browser = client.get(f"{hub}/catalog", headers={"Accept": "text/html"})
        assert browser.headers["location"] == f"{hub}/"


@pytest.mark.browser
def test_the_pages_scripts_fetch_only_under_the_prefix_in_chromium(hub, published, chromium):  # noqa: F811
    """What map.js and situation.js fetch in a real browser: under /hub, and found."""
    from playwright.sync_api import sync_playwright

    asked: list[tuple[str, int]] = []
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(chromium), args=ARGS)
        try:
            page = browser.new_page(locale="en")
            page.on("response", lambda r: asked.append((r.url, r.status)))
            for path in ("/", f"/datasets/{published.open_id}", "/situation"):
                page.goto(f"{hub}{path}", wait_until="networkidle")
            page.get_by_role("link", name="Organizations").first.click()
            page.wait_for_url(f"{hub}/organizations")
        finally:
            browser.close()
    fetched = {urlsplit(url).path for url, _ in asked}
    assert f"{PREFIX}/territory.geojson" in fetched  # drawn by map.js under the maps
    assert any(p.endswith("/map.geojson") for p in fetched)
    assert [(u, s) for u, s in asked if s >= 400 or not urlsplit(u).path.startswith(PREFIX)] == []
