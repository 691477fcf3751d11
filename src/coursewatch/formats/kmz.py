"""KMZ reader: a zip holding one main KML document, inflated with a hard cap on what it yields.

A zip's size fields are claims, not facts: a 4 MB upload whose headers declare a small KML can
inflate to gigabytes, and :meth:`zipfile.ZipFile.read` decompresses in one gulp of up to 2 GiB
before it compares with the declared size. So the main KML is inflated here in small chunks,
counting the bytes it actually yields, and refused the moment they pass ``max_bytes`` (the
``max_file_bytes`` setting), whatever the headers say. Only the two methods KMZ writers use,
stored and deflate, are read: bzip2 and LZMA inflate a whole chunk at once, without a bound.
"""

from __future__ import annotations

import copy
import io
import zipfile
import zlib

from coursewatch.errors import FileFormatError, FileTooLargeError
from coursewatch.formats.kml import read_kml
from coursewatch.points import RawPoints

CHUNK_BYTES = 64 * 1024
_METHODS = {zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED}
# What zipfile raises on a damaged archive: besides its own errors, a ValueError for a header
# that points before the start of the file ("negative seek value"), a RuntimeError for a
# member it cannot decrypt, NotImplementedError for a method it does not know.
_ZIP_ERRORS = (
    zipfile.BadZipFile, zipfile.LargeZipFile, zlib.error, EOFError, OSError, ValueError,
    RuntimeError, NotImplementedError,
)  # fmt: skip


def read_kmz(data: bytes, max_bytes: int) -> RawPoints:
    """Read a KMZ (zipped KML); ``max_bytes`` caps the bytes the main KML inflates to."""
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            kml = inflate_member(archive, main_document(archive), max_bytes)
    except _ZIP_ERRORS as exc:
        raise FileFormatError(
            f"corrupt or truncated zip/KMZ archive ({exc}): export or download it again"
        ) from None
    return read_kml(kml, format="kmz")


def main_document(archive: zipfile.ZipFile) -> zipfile.ZipInfo:
    """The KMZ convention: the main document is doc.kml, else the first .kml in the archive."""
    kml_entries = [i for i in archive.infolist() if i.filename.lower().endswith(".kml")]
    if not kml_entries:
        names = ", ".join(archive.namelist()[:5]) or "nothing"
        raise FileFormatError(
            f"zip archive without a .kml document inside (it holds {names}), so it is "
            "not a KMZ: unzip it and open the course file it contains"
        )
    return next((i for i in kml_entries if i.filename.lower() == "doc.kml"), kml_entries[0])


def inflate_member(archive: zipfile.ZipFile, info: zipfile.ZipInfo, max_bytes: int) -> bytes:
    """The member's content, refused as soon as it inflates past ``max_bytes``.

    The declared size is checked first (a cheap refusal of honest big files), then ignored:
    zipfile is told to expect a little more than ``max_bytes``, so that it stops neither
    early nor on the header's word, and this loop counts what really comes out.
    """
    member = repr(info.filename)
    _check_readable(info, member)
    if info.file_size > max_bytes:
        raise FileTooLargeError(
            f"the KML {member} inside this KMZ declares {info.file_size} bytes, more than the "
            f"limit of {max_bytes}; raise the setting COURSEWATCH_MAX_FILE_BYTES if the file "
            "is genuine"
        )
    claimed = copy.copy(info)
    claimed.file_size = max_bytes + 2 * CHUNK_BYTES  # the cap below trips first
    out = io.BytesIO()
    with archive.open(claimed) as stream:
        while chunk := stream.read(CHUNK_BYTES):
            if out.tell() + len(chunk) > max_bytes:
                raise FileTooLargeError(
                    f"the KML {member} inside this KMZ inflates past {max_bytes} bytes (the "
                    f"limit) although it declares {info.file_size}: the archive is forged or "
                    "corrupt; export the course again, as KML if the KMZ keeps failing"
                )
            out.write(chunk)
    if out.tell() != info.file_size:
        raise FileFormatError(
            f"the KML {member} inside this KMZ declares {info.file_size} bytes but inflates to "
            f"{out.tell()}: the archive is corrupt; export or download it again"
        )
    return out.getvalue()


def _check_readable(info: zipfile.ZipInfo, member: str) -> None:
    if info.flag_bits & 0x1:
        raise FileFormatError(
            f"the KML {member} inside this KMZ is encrypted: export the course again "
            "without a password"
        )
    if info.compress_type not in _METHODS:
        raise FileFormatError(
            f"the KML {member} inside this KMZ is compressed with zip method "
            f"{info.compress_type}, not deflate as KMZ files are: export the course again "
            "(or unzip it and load the KML)"
        )
