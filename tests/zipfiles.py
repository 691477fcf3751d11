"""Zip archives that lie, for the tests of the file readers and of race HQ."""

from __future__ import annotations

import io
import struct
import zipfile


def forge_sizes(data: bytes, file_size: int) -> bytes:
    """Overwrite the first member's uncompressed size in its local header and the central
    directory, as a zip bomb does, so that zipfile's declared-size check does not trip."""
    out = bytearray(data)
    assert out[:4] == b"PK\x03\x04"
    struct.pack_into("<I", out, 22, file_size)
    central = out.find(b"PK\x01\x02")
    struct.pack_into("<I", out, central + 24, file_size)
    return bytes(out)


def zeros_kmz(size: int) -> bytes:
    buffer = io.BytesIO()
    chunk = b"\0" * (1 << 20)
    with (
        zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive,
        archive.open("doc.kml", "w") as member,
    ):
        for _ in range(size >> 20):
            member.write(chunk)
    return buffer.getvalue()
