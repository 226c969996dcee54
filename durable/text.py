"""What a string from outside may hold: one rule for event attributes, ids, names and reasons."""

from __future__ import annotations

import re

# CloudEvents 1.0 String: no control characters (C0, DEL, C1) and no lone surrogates. Free text (a
# reason someone typed) may keep tabs and line breaks. The classes are written as escapes that
# Python and ECMA-262 (the OpenAPI schema's patterns) read alike; surrogates only Python can name.
CONTROL = r"\x00-\x1f\x7f-\x9f"
FREE_TEXT_CONTROL = r"\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f"
SURROGATE = "\ud800-\udfff"
NOT_A_STRING = re.compile(f"[{CONTROL}{SURROGATE}]")
NOT_FREE_TEXT = re.compile(f"[{FREE_TEXT_CONTROL}{SURROGATE}]")


def problem(value: str, *, free_text: bool = False) -> str | None:
    """Why `value` cannot be taken as a string, or None when it can."""
    found = (NOT_FREE_TEXT if free_text else NOT_A_STRING).search(value)
    if found is None:
        return None
    char = found.group()
    kind = "a lone surrogate" if "\ud800" <= char <= "\udfff" else "a control character"
    return f"it holds {kind} (U+{ord(char):04X})"
