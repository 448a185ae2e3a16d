"""French typography: no line may break before « ; : ! ? » or inside guillemets.

Every French msgstr, and the text a French reader gets on each page type, uses U+202F before
; ! ? and U+00A0 before : and inside « » (hub.ui.typography, which also rewrites the .po files).
"""

from __future__ import annotations

import re
from html.parser import HTMLParser

import pytest

from hub.ui import i18n
from hub.ui.typography import breaking_spaces, fix_po, french_spaces

FRENCH = {"Accept-Language": "fr"}
PAGES = [
    "/",
    "/?q=toronto",
    "/?q=air&bbox=1,2,3",
    "/datasets/atmo-demo-air",
    "/datasets/atmo-demo-restricted-air",
    "/organizations",
    "/organizations/atmo-demo",
    "/charters",
    "/charters/atmo-demo-personal",
    "/signin",
    "/situation",
    "/datasets/nothing",
]


class Texts(HTMLParser):
    """A page's text nodes and the names it gives in attributes, but for code."""

    def __init__(self, html: str) -> None:
        super().__init__()
        self.texts: list[str] = []
        self._code = 0
        self.feed(html)

    def handle_starttag(self, tag, attrs):
        if tag in ("code", "pre", "script", "style"):
            self._code += 1
        self.texts += [v for k, v in attrs if k in ("aria-label", "title", "alt") and v]

    def handle_endtag(self, tag):
        if tag in ("code", "pre", "script", "style"):
            self._code -= 1

    def handle_data(self, data):
        if not self._code:
            self.texts.append(data)


def test_french_spaces_are_put_where_french_wants_them_and_nowhere_else() -> None:
    assert french_spaces("Qui es-tu ?") == "Qui es-tu\u202f?"
    assert french_spaces("Attention!") == "Attention\u202f!"
    assert french_spaces("Licence : %(licence)s") == "Licence\u00a0: %(licence)s"
    assert french_spaces("relevés: %(x)s") == "relevés\u00a0: %(x)s"
    assert french_spaces("« Qualité de l’air »") == "«\u00a0Qualité de l’air\u00a0»"
    for kept in ("à 07:49", "https://example.org/?q=air", "R&amp;D", "?q=", "a:b"):
        assert french_spaces(kept) == kept
    for text in ("Qui es-tu ?", "« a »", "a : b ; c !"):
        assert french_spaces(french_spaces(text)) == french_spaces(text)  # idempotent


def test_the_po_rewrite_keeps_the_header_and_msgids_and_is_idempotent() -> None:
    po = (
        'msgid ""\nmsgstr ""\n"Plural-Forms: nplurals=2; plural=(n > 1);\\n"\n\n'
        'msgid "Who are you?"\nmsgstr "Qui es-tu ?"\n\n'
        'msgid "Licence: %(x)s"\nmsgstr ""\n"Licence : "\n"%(x)s"\n'
    )
    fixed = fix_po(po)
    assert fixed.split("\n\n")[0] == po.split("\n\n")[0]
    assert 'msgid "Who are you?"\nmsgstr "Qui es-tu\u202f?"' in fixed
    assert '"Licence\u00a0: "' in fixed and 'msgid "Licence: %(x)s"' in fixed
    assert fix_po(fixed) == fixed


def test_no_french_message_breaks_before_double_punctuation() -> None:
    catalogue = i18n.catalogue_of("fr")
    found = []
    for message in catalogue:
        if not message.id:
            continue
        strings = message.string if isinstance(message.string, tuple) else (message.string,)
        found += [(message.id, spot) for s in strings for spot in breaking_spaces(s or "")]
    assert found == [], "run `python -m hub.ui.typography`:\n" + "\n".join(map(repr, found))


@pytest.mark.parametrize("path", PAGES)
def test_no_french_page_breaks_before_double_punctuation(client, path: str) -> None:
    answer = client.get(path, headers=FRENCH)
    assert '<html lang="fr">' in answer.text
    texts = Texts(answer.text).texts
    found = [spot for text in texts for spot in breaking_spaces(re.sub(r"[ \t\r\n]+", " ", text))]
    assert found == [], f"{path}: {found}"
