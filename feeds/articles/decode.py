"""Bytes to text: BOMs, UTF-8, then a real detector for legacy single-byte encodings."""

from __future__ import annotations

import codecs

_BOMS = (
    (codecs.BOM_UTF32_LE, "utf-32"),
    (codecs.BOM_UTF32_BE, "utf-32"),
    (codecs.BOM_UTF8, "utf-8-sig"),
    (codecs.BOM_UTF16_LE, "utf-16"),
    (codecs.BOM_UTF16_BE, "utf-16"),
)

_MAGIC = (
    (b"%PDF", "a PDF document"),
    (b"\x89PNG", "a PNG image"),
    (b"\xff\xd8\xff", "a JPEG image"),
    (b"GIF8", "a GIF image"),
    (b"PK\x03\x04", "a ZIP archive (perhaps a .docx)"),
    (b"\x1f\x8b", "gzip-compressed data"),
    (b"\x7fELF", "an executable"),
    (b"\xd0\xcf\x11\xe0", "an MS Office document"),
)


_PREFERRED = ("cp1252", "cp1251", "cp1256", "latin_1")


class DecodeError(ValueError):
    """Raised with a user-facing reason; the caller turns it into a ParseError."""


def decode(data: bytes) -> tuple[str, str]:
    """Return (text, encoding name) or raise DecodeError with the reason."""
    if not data.strip():
        raise DecodeError("empty file")
    for bom, name in _BOMS:
        if data.startswith(bom):
            try:
                return data.decode(name), name.removesuffix("-sig")
            except UnicodeDecodeError as exc:
                raise DecodeError(f"undecodable: starts with a {name} byte-order mark but "
                                  f"byte {exc.start} is invalid") from None
    for magic, what in _MAGIC:
        if data.startswith(magic):
            raise DecodeError(f"binary file: looks like {what}, not an article")
    if b"\x00" in data:
        raise DecodeError("binary file: contains NUL bytes (and no UTF-16 byte-order mark)")
    try:
        return data.decode("utf-8"), "utf-8"
    except UnicodeDecodeError:
        pass
    from charset_normalizer import from_bytes  # most files are UTF-8: import it when needed

    results = list(from_bytes(data))
    if not results:
        raise DecodeError("undecodable: not UTF-8, and no known text encoding fits")
    best = results[0]
    # Short Latin text often fits cp1250, cp1252 and cp1257 equally well: prefer the common one.
    ties = [r for r in results if (r.chaos, r.coherence) == (best.chaos, best.coherence)]
    best = min(ties, key=lambda r: _PREFERRED.index(r.encoding)
               if r.encoding in _PREFERRED else len(_PREFERRED))
    text = str(best)
    controls = sum(1 for ch in text if ord(ch) < 32 and ch not in "\t\n\r\f")
    if controls > max(8, len(text) // 100):
        raise DecodeError(f"binary file: {controls} control characters after decoding "
                          f"as {best.encoding}")
    return text, best.encoding
