"""French typography of the catalogues: the spaces that double punctuation and guillemets want.

French sets a space before « ; ! ? : » and inside « », one that must not break the line:
U+202F NARROW NO-BREAK SPACE before ; ! ? and U+00A0 NO-BREAK SPACE before : and inside « ».
`french_spaces` puts them in a text (adding one where none was), `breaking_spaces` finds the
breaking ones left. Run as `python -m hub.ui.typography` it rewrites the French .po files'
msgstrs in place; it is idempotent, so it can run again after new messages are merged.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

NNBSP, NBSP = "\u202f", "\u00a0"
FRENCH_PARTS = Path(__file__).resolve().parent / "locales" / "fr" / "LC_MESSAGES"
# After a word, a number, a closing bracket, guillemet or tag; before the end, a space, a closing
# bracket, a quote or a .po escape: so URLs (`?q=`), times (07:49) and entities keep theirs.
_BEFORE = r"(?<=[\w)\]»’%>])[ \u00a0\u202f]?"
_AFTER = r"(?=$|[\s)\]\"»<\\])"
_TIGHT = re.compile(_BEFORE + r"([;!?])" + _AFTER)
_COLON = re.compile(_BEFORE + r":" + _AFTER)
_OPENING = re.compile(r"«[ \u00a0\u202f]?")
_CLOSING = re.compile(r"[ \u00a0\u202f]?»")
_ENTITY = re.compile(r"&#?\w+;")
_BREAKING = re.compile(r" [;:!?](?:$|\s)|« | »")


def french_spaces(text: str) -> str:
    """`text` with the no-break spaces French wants before ; ! ? : and inside « »."""
    entities = _ENTITY.findall(text)
    text = _ENTITY.sub("\0", text)
    text = _TIGHT.sub(lambda m: NNBSP + m.group(1), text)
    text = _COLON.sub(NBSP + ":", text)
    text = _OPENING.sub("«" + NBSP, text)
    text = _CLOSING.sub(NBSP + "»", text)
    for entity in entities:
        text = text.replace("\0", entity, 1)
    return text


def breaking_spaces(text: str) -> list[str]:
    """Where `text` has a breaking space before double punctuation or inside « »."""
    return [text[max(0, m.start() - 20) : m.end() + 5] for m in _BREAKING.finditer(text)]


def fix_po(text: str) -> str:
    """A .po file's text with `french_spaces` applied to its messages' msgstr strings only (the
    header, the first entry, is metadata: `Plural-Forms: nplurals=2; …`)."""
    header, sep, entries = text.partition("\n\n")
    lines, in_msgstr = [], False
    for line in entries.split("\n"):
        if line.startswith(("msgstr", "msgid", "msgctxt", "#")) or not line.startswith('"'):
            in_msgstr = line.startswith("msgstr")
        if in_msgstr and '"' in line:
            head, quoted = line.split('"', 1)
            line = f'{head}"{french_spaces(quoted)}'
        lines.append(line)
    return header + sep + "\n".join(lines)


def main() -> int:
    """Rewrite the French .po files; print the ones that changed."""
    for part in sorted(FRENCH_PARTS.glob("*.po")):
        before = part.read_text(encoding="utf-8")
        after = fix_po(before)
        if after != before:
            part.write_text(after, encoding="utf-8")
            print(f"rewrote {part}")  # noqa: T201 — a maintainer's script
    return 0


if __name__ == "__main__":
    sys.exit(main())
