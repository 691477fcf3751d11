"""CSV written by people (split tables, rosters): what the csv module lets pass silently.

A quote opened and never closed makes ``csv.reader`` read every line after it as one field of
one row, without an error: the rows after it are lost with no word. Readers ask here first.

>>> unclosed_quote_line('bib,name\\n7,"Ann\\n8,Bob\\n')
2
>>> unclosed_quote_line('bib,name\\n7,"Ann ""B"", x"\\n8,Bob\\n') is None
True
"""

from __future__ import annotations

import csv
import io


def unclosed_quote_line(text: str, delimiter: str = ",") -> int | None:
    """The line on which a quoted field opens that the file never closes, or None."""
    reader = csv.reader(io.StringIO(text, newline=None), delimiter=delimiter, strict=True)
    start = 1
    try:
        for _row in reader:
            start = reader.line_num + 1
    except csv.Error as exc:
        if "unexpected end of data" in str(exc):
            return start
    return None


def separator_hint(text: str) -> str:
    """What to say of a first line that is separated by ';' or tabs, not commas (a
    spreadsheet saved in a language whose decimal mark is a comma); "" when it is not.

    >>> separator_hint("bib;name;Delevret\\n")
    " (its first line is separated by ';', not commas: save the file as CSV with commas)"
    """
    first = text.lstrip("\ufeff").split("\n", 1)[0]
    for sep, name in ((";", "';'"), ("\t", "tabs")):
        if sep in first and "," not in first:
            return (f" (its first line is separated by {name}, not commas: save the file as "
                    "CSV with commas)")  # fmt: skip
    return ""
