"""Text from outside (buyers, the exchange, log files) made safe to print on a terminal.

A buyer's nickname or chat message reaches the operator's screen through
``orders show``, ``p2pilot logs`` and every other human renderer. Printed raw,
``ESC[2J`` clears that screen, an OSC sequence retitles the terminal, and an
embedded newline forges a line of its own. Every renderer passes such text
through :func:`printable`, which shows each control character as a visible
escape (``\\x1b``, ``\\n``) instead of obeying it.
"""

from __future__ import annotations

# C0 controls, DEL and C1 controls, plus the Unicode format characters that
# reorder or hide text (bidi overrides and isolates, zero-width joiners, the
# line and paragraph separators): each is printed as a visible escape.
_NAMED = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}
_INVISIBLE = [
    *range(0x00, 0x20),
    0x7F,
    *range(0x80, 0xA0),
    0x200B,
    0x200C,
    0x200D,
    0x200E,
    0x200F,
    0x2028,
    0x2029,
    *range(0x202A, 0x202F),
    *range(0x2066, 0x206A),
    0xFEFF,
]
_ESCAPES = {
    code: _NAMED.get(chr(code), f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}")
    for code in _INVISIBLE
}


def printable(text: object) -> str:
    """``text`` as a string in which no character can act on the terminal."""
    return str(text).translate(_ESCAPES)
