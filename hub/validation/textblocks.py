"""Raw CSV bytes read as blocks of whole lines in UTF-8, decoded and checked on the way.

A UTF-8 source is passed through untouched (polars validates UTF-8; a block it rejects is
decoded by Python, which names the bad byte); any other encoding is decoded incrementally
and re-encoded. The md5/sha256 digests frictionless reports are computed on the raw bytes
in a helper thread (hashlib releases the GIL), overlapping the parsing.
"""

from __future__ import annotations

import codecs
import hashlib
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any, BinaryIO

MIN_FIRST_BLOCK = 1 << 20


class TableReadError(Exception):
    """The file cannot be read as a CSV table (encoding, emptiness, binary content ...)."""


class BlockReader:
    """Reads UTF-8 blocks of whole lines, decoding (and checking) the source encoding."""

    def __init__(self, raw: BinaryIO, head: bytes, codec: str, name: str, digests: bool):
        self.raw, self.codec, self.name = raw, codec, name
        self.block_bytes = MIN_FIRST_BLOCK
        self.passthrough = codec in ("utf-8", "utf-8-sig")
        self.decoder = codecs.getincrementaldecoder(codec)("strict")
        # Is a single-byte source really UTF-8? Judged once, on the first non-ASCII bytes.
        self.judged = self.passthrough or not _single_byte(codec)
        self.consumed = 0  # raw bytes handed to the decoder so far
        self.carry = ""  # decoded text after the last line end (non-UTF-8 sources)
        self.pending = head
        self.eof = False
        self.total = 0
        self.hashes = (hashlib.md5(), hashlib.sha256()) if digests else None
        self.hasher = ThreadPoolExecutor(max_workers=1) if digests else None
        self.hashing: Future[None] | None = None
        self.bom = codec == "utf-8-sig"
        self.bom_len = 0
        self.first: bytes | None = None

    def read_sample(self, min_lines: int) -> str:
        """Text of the first block (at least `min_lines` lines unless the file is shorter)."""
        block = self.next_block(min_lines=min_lines)
        self.first = block
        return self.decode_checked(block or b"", 0)

    def average_line_bytes(self) -> int:
        """Mean bytes per line in the first block, to size the following blocks."""
        first = self.first or b""
        return max(1, len(first) // max(1, first.count(b"\n")))

    def next_block(self, min_lines: int = 0) -> bytes | None:
        """The next block of whole lines as UTF-8 bytes, None at the end of the file."""
        if self.first is not None:
            block, self.first = self.first, None
            return block
        parts: list[bytes] = []
        lines = 0
        while True:
            part = self._next_part()
            if part is None:
                break
            parts.append(part)
            lines += part.count(b"\n") if min_lines else 0
            if lines >= min_lines or self.eof:
                break
        if not parts:
            return None
        return b"".join(parts)

    def _next_part(self) -> bytes | None:
        raw = self._read_raw()
        if self.passthrough:
            if not raw:
                return None
            if self.bom:
                self.bom = False
                if raw.startswith(codecs.BOM_UTF8):
                    raw, self.bom_len = raw[3:], 3
            return raw
        return self._transcode(raw)

    def _read_raw(self) -> bytes:
        if self.pending:
            raw, self.pending = self.pending, b""
            raw += self.raw.readline() if self.passthrough else b""
        else:
            raw = self.raw.read(self.block_bytes)
            if raw and self.passthrough:
                raw += self.raw.readline()
        if not raw:
            self.eof = True
            self.finish()
        else:
            self.total += len(raw)
            self._hash(raw)
        return raw

    def _transcode(self, raw: bytes) -> bytes | None:
        """Decode a raw block of a non-UTF-8 source and re-encode whole lines as UTF-8."""
        offset = self.consumed - len(self._buffered())
        if not self.judged and not raw.isascii():
            self.judged = True
            self._refuse_utf8(raw, offset)
        try:
            text = self.carry + self.decoder.decode(raw, final=not raw)
        except UnicodeDecodeError as exc:
            raise self.decode_error(exc, offset) from exc
        self.consumed += len(raw)
        if not raw:
            self.carry = ""
            return text.encode() if text else None
        cut = _last_line_end(text)
        text, self.carry = text[:cut], text[cut:]
        return text.encode()

    def _refuse_utf8(self, raw: bytes, offset: int) -> None:
        """Refuse UTF-8 text under a declared single-byte encoding: read as cp1252, `ô` would be
        published as `Ã´`. Real single-byte text almost never forms valid multi-byte UTF-8
        sequences, so an operator's export switched to UTF-8 is caught, never guessed at."""
        try:  # the blocks before held only ASCII: this one starts on a character
            text = codecs.getincrementaldecoder("utf-8")("strict").decode(raw, final=not raw)
        except UnicodeDecodeError:
            return
        first = next(c for c in text if not c.isascii())
        at = offset + len(text[: text.index(first)].encode())
        raise TableReadError(
            f"{self.name}: the file is UTF-8 text, not {self.codec} (bytes "
            f"{first.encode().hex(' ')} at byte offset {at} are UTF-8 for {first!r}, which "
            f"{self.codec} would read as {first.encode().decode(self.codec, 'replace')!r}): "
            "declare its encoding as utf-8 (a source's `options: {encoding: utf-8}`)"
        )

    def _buffered(self) -> bytes:
        state = self.decoder.getstate()
        return state[0] if isinstance(state[0], bytes) else b""

    def decode_checked(self, block: bytes, offset: int) -> str:
        """UTF-8 bytes as text; for a UTF-8 source this is where bad bytes are found."""
        try:
            return block.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise self.decode_error(exc, offset) from exc

    def decode_error(self, exc: UnicodeDecodeError, offset: int) -> TableReadError:
        """A TableReadError naming the encoding, the byte offset and the bad bytes."""
        at = offset + exc.start + (self.bom_len if self.passthrough else 0)
        bad = exc.object[exc.start : exc.end].hex(" ")
        return TableReadError(
            f"{self.name}: not valid {self.codec} text at byte offset {at} (bytes {bad}); "
            "declare the file's encoding (a source's `options: {encoding: cp1252}`, "
            "`hub validate --encoding cp1252`)"
        )

    def _hash(self, raw: bytes) -> None:
        if self.hashes is None or self.hasher is None:
            return
        if self.hashing is not None:
            self.hashing.result()
        # hashlib releases the GIL on big buffers, so digests overlap the parsing
        self.hashing = self.hasher.submit(_update_digests, self.hashes, raw)

    def finish(self) -> None:
        if self.hashing is not None:
            self.hashing.result()
            self.hashing = None
        if self.hasher is not None:
            self.hasher.shutdown()
            self.hasher = None

    def stats(self) -> dict[str, Any]:
        """Bytes read and, when asked for, the md5/sha256 digests of the raw file."""
        stats: dict[str, Any] = {}
        if self.hashes is not None:
            stats["md5"], stats["sha256"] = (h.hexdigest() for h in self.hashes)
        stats["bytes"] = self.total
        return stats


def _single_byte(codec: str) -> bool:
    """Whether `codec` reads every byte as one character (cp1252, latin-1 …, not UTF-16)."""
    decoder = codecs.getincrementaldecoder(codec)("replace")
    return all(len(decoder.decode(bytes([byte]))) == 1 for byte in range(0x80, 0x100))


def _last_line_end(text: str) -> int:
    """Index just after the last complete line end (a CR at the very end may precede an LF)."""
    newline = text.rfind("\n")
    cr = text.rfind("\r", 0, len(text) - 1)
    return max(newline, cr) + 1


def _update_digests(hashes: tuple[Any, ...], raw: bytes) -> None:
    for digest in hashes:
        digest.update(raw)
