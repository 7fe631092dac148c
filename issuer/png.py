"""PNG encoding for card sides that share a template: rows that equal the template's are compressed only once.

A batch's cards differ from their side's template only in some rows (the photo, names,
dates and QR codes), and compressing the other rows again for every card costs as much
as drawing the card.  A PNG's pixel data is one zlib stream; with no row filter, every
row is independent, so the stream can be assembled from separately compressed bands
of rows (each ends on a byte boundary with a sync flush), and its Adler-32 checksum from
the bands' checksums.  Each band of the card is compared with the template's; an equal
band reuses the template's compressed bytes, any other is compressed now.  Pillow reads
the result like any PNG (a test decodes every card side it writes).
"""

from __future__ import annotations

import struct
import zlib
from dataclasses import dataclass

from PIL import Image

BAND_ROWS = 16
_SIGNATURE = b"\x89PNG\r\n\x1a\n"
_ADLER_BASE = 65521
_FINAL_EMPTY_BLOCK = b"\x03\x00"  # a last, empty fixed-Huffman block closes the deflate stream


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def _deflate(raw: bytes) -> tuple[bytes, int]:
    """Deflate some rows, ending byte-aligned so that the next band's bytes can follow; and their Adler-32.

    A zlib stream is made and taken apart: zlib computes the checksum while it compresses, for free.
    """
    # Level 1: LZ77 matches find the rows a QR module repeats; memLevel 8 is faster than 9 here.
    compressor = zlib.compressobj(1, zlib.DEFLATED, 15, 8)
    body = compressor.compress(raw) + compressor.flush(zlib.Z_SYNC_FLUSH)
    trailer = compressor.flush(zlib.Z_FINISH)  # the final empty block, then the Adler-32
    return body[2:], int.from_bytes(trailer[-4:], "big")  # without the 2-byte zlib header


def adler32_combine(first: int, second: int, second_length: int) -> int:
    """The Adler-32 of two byte strings one after the other, from each one's checksum (as zlib's C function)."""
    rem = second_length % _ADLER_BASE
    sum1 = ((first & 0xFFFF) + (second & 0xFFFF) + _ADLER_BASE - 1) % _ADLER_BASE
    sum2 = (rem * (first & 0xFFFF) + (first >> 16) + (second >> 16) + _ADLER_BASE - rem) % _ADLER_BASE
    return sum1 | (sum2 << 16)


def padding_columns(levels: int) -> int:
    """Columns an image keeps right of the picture, all index 0: they are the next row's filter byte (below)."""
    return 8 // _bits(levels)


def _bits(colours: int) -> int:
    return 8 if colours > 16 else 4


@dataclass(frozen=True)
class _Band:
    stream: bytes  # the band's bytes as they go into the zlib stream
    deflated: bytes
    adler: int


class PngTemplate:
    """Encodes images of one template's size and palette; ``template``'s own bands are compressed once, here.

    The images are ``padding_columns`` wider than the PNG, those columns index 0: so each row's packed bytes end
    with a zero byte, the filter byte ("none") of the next row, and the image's bytes are the zlib stream's
    input as they are (no per-row copying).
    """

    def __init__(self, template: Image.Image, dpi: int) -> None:
        if template.mode != "P":
            raise ValueError("card sides are palette images")
        palette = template.getpalette() or []
        colours = len(palette) // 3
        self.bits = _bits(colours)
        self.rawmode = "P" if self.bits == 8 else "P;4"
        self.size = template.size
        width, height = template.width - padding_columns(colours), template.height
        self.row_bytes = (template.width * self.bits + 7) // 8  # the PNG row plus the next row's filter byte
        dots_per_metre = round(dpi / 0.0254)
        self.head = (_SIGNATURE
                     + _chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, self.bits, 3, 0, 0, 0))
                     + _chunk(b"PLTE", bytes(palette[: colours * 3]))
                     + _chunk(b"pHYs", struct.pack(">IIB", dots_per_metre, dots_per_metre, 1)))
        self.bands = [_Band(stream, *_deflate(stream)) for stream in self._bands(template)]

    def _bands(self, image: Image.Image) -> list[bytes]:
        """The zlib stream's input (filter byte 0, row, filter byte 0, row...) in bands of BAND_ROWS rows."""
        data = image.tobytes("raw", self.rawmode)
        if data[self.row_bytes - 1 :: self.row_bytes].count(0) != image.height:
            raise ValueError("the image's padding columns must stay index 0")
        stream, step = b"\x00" + data[:-1], self.row_bytes * BAND_ROWS
        return [stream[i : i + step] for i in range(0, len(stream), step)]

    def encode(self, image: Image.Image) -> bytes:
        """``image`` (same size and palette as the template) as a PNG file."""
        if image.size != self.size:
            raise ValueError("the image is not of the template's size")
        pieces, adler, changed = [], 1, []
        for band, stream in zip(self.bands, self._bands(image)):
            if stream == band.stream:
                if changed:
                    adler = self._add_changed(pieces, changed, adler)
                    changed = []
                pieces.append(band.deflated)
                adler = adler32_combine(adler, band.adler, len(stream))
            else:
                changed.append(stream)
        if changed:
            adler = self._add_changed(pieces, changed, adler)
        stream = b"\x78\x01" + b"".join(pieces) + _FINAL_EMPTY_BLOCK + struct.pack(">I", adler)
        return self.head + _chunk(b"IDAT", stream) + _chunk(b"IEND", b"")

    @staticmethod
    def _add_changed(pieces: list[bytes], changed: list[bytes], adler: int) -> int:
        """Compress consecutive changed bands in one go (fewer flushes, better compression)."""
        rows = b"".join(changed)
        deflated, rows_adler = _deflate(rows)
        pieces.append(deflated)
        return adler32_combine(adler, rows_adler, len(rows))
