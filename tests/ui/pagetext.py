"""What the UI tests read of a page: its words, links, table headers and rows."""

from __future__ import annotations

import re
from html.parser import HTMLParser


class Page(HTMLParser):
    """Collects text, links, table headers and rows of a page: enough to assert on."""

    def __init__(self, html: str) -> None:
        super().__init__()
        self.text: list[str] = []
        self.links: list[str] = []
        self.headers: list[str] = []
        self.rows = 0
        self._in_th = False
        self.feed(html)

    def handle_starttag(self, tag, attrs):
        if tag == "a":
            self.links.append(dict(attrs).get("href", ""))
        if tag == "th":
            self._in_th = True
            self.headers.append("")
        if tag == "tr":
            self.rows += 1

    def handle_endtag(self, tag):
        if tag == "th":
            self._in_th = False

    def handle_data(self, data):
        self.text.append(data)
        if self._in_th:
            self.headers[-1] += data.strip()

    @property
    def words(self) -> str:
        return re.sub(r"\s+", " ", " ".join(self.text))


def page(client, url: str, status: int = 200, language: str = "en") -> Page:
    """A page as a reader of `language` gets it (English unless asked: most asserts read it)."""
    response = client.get(url, headers={"Accept-Language": language})
    assert response.status_code == status, response.text[:500]
    assert response.headers["content-type"].startswith("text/html")
    return Page(response.text)


def form_token(html: str) -> str:
    """The CSRF token a page's forms carry."""
    found = re.search(r'name="csrf" value="([^"]+)"', html)
    assert found, "the page has no form token"
    return found.group(1)


def sign_in(client, token: str, next: str = "", language: str = "en"):
    """Sign in through the form, as a browser does: the form's token, then the POST."""
    form = client.get("/signin", headers={"Accept-Language": language})
    return client.post(
        "/signin",
        data={"token": token, "csrf": form_token(form.text), "next": next},
        headers={"Accept-Language": language},
        follow_redirects=False,
    )


def empty_navigations(html: str) -> list[str]:
    """The <nav> landmarks of a page that hold no link (a screen reader lists them anyway)."""
    navs = re.findall(r"<nav\b[^>]*>.*?</nav>", html, re.S)
    return [nav.split(">", 1)[0] + ">" for nav in navs if "<a " not in nav]
