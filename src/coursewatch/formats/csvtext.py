"""CSV written by people (split tables, rosters): what the csv module lets pass silently.

A quote opened and never closed makes ``csv.reader`` read every line after it as one field of
one row, without an error: the rows after it are lost with no word. Readers ask here first.

>>> unclosed_quote_line('bib,name\\n7,"Ann\\n8,Bob\\n')
2
>>> unclosed_quote_line('bib,name\\n7,"Ann ""B"", x"\\n8,Bob\\n') is None
True
"""

from __future__ import annotations


def unclosed_quote_line(text: str, delimiter: str = ",") -> int | None:
    """The line on which a quoted field opens that the file never closes, or None. Read as
    the csv module reads (a quote opens a field only at its start; ``""`` inside one is a
    quote), so a stray quote elsewhere (``"Ann" Smith``) hides no later one.

    >>> unclosed_quote_line('bib,name\\n7,"Ann" Smith\\n8,"Bob\\n9,Cy\\n')
    3
    """
    line, opened, quoted, at_start = 1, 0, False, True
    i, n = 0, len(text)
    while i < n:
        c = text[i]
        if c == "\r" and i + 1 < n and text[i + 1] == "\n":
            i += 1  # CRLF: one line end
            continue
        if quoted:
            if c == '"':
                if i + 1 < n and text[i + 1] == '"':
                    i += 1  # an escaped quote
                else:
                    quoted = False
        elif c == '"' and at_start:
            quoted, opened = True, line
        if c in "\n\r":
            line += 1
        at_start = not quoted and (c == delimiter or c in "\n\r")
        i += 1
    return opened if quoted else None


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
