"""Note file names from OEM names: safe on every system a vault is synced to.

Windows, macOS, Linux, Obsidian Sync, iCloud and git all have to accept the name, and it must
never make a path: no separators, no `..`, no reserved device names, no characters Obsidian
gives a meaning in links (`[ ] # ^ |`).
"""

from __future__ import annotations

import hashlib
import re
import unicodedata

from partners.normalize import identity_key

MAX_BYTES = 120  # of the name, before ".md"
REMOVED = frozenset('?<>:*|"[]#^%')
DROPPED_CATEGORIES = frozenset({"Cc", "Cf", "Cs", "Co", "Cn"})  # controls, zero-width, bidi
# Windows' device names, with any extension; the superscript digits and the console's
# CONIN$/CONOUT$ are devices too (the list Python 3.13's `os.path.isreserved` uses).
RESERVED = frozenset(
    {"CON", "PRN", "AUX", "NUL", "CONIN$", "CONOUT$"}
    | {f"COM{d}" for d in "123456789¹²³"}
    | {f"LPT{d}" for d in "123456789¹²³"}
)


def oem_id(oem: str) -> str:
    """Stable forever: a slug of the name and 8 hex digits of the identity key's SHA-256."""
    digest = hashlib.sha256(identity_key(oem).encode()).hexdigest()[:8]
    ascii_name = unicodedata.normalize("NFKD", oem).encode("ascii", "ignore").decode()
    slug = re.sub(r"[^a-z0-9]+", "-", ascii_name.lower()).strip("-")[:40].strip("-")
    return f"{slug or 'oem'}-{digest}"


def fold(name: str) -> str:
    """Names that one file system or another would treat as the same file."""
    return unicodedata.normalize("NFC", name).casefold()


def truncate(text: str, limit: int) -> str:
    """At most `limit` UTF-8 bytes, never cutting a character in two."""
    return text.encode()[:limit].decode(errors="ignore")


def is_reserved(name: str) -> bool:
    return name.split(".")[0].strip().upper() in RESERVED


def note_name(oem: str, fallback: str, suffix: str = "") -> str:
    """The file name (without `.md`) for an OEM's note; `fallback` when nothing is left.

    `suffix` (e.g. " (cisco-1a2b3c4d)" when the plain name is taken) fits within the limit.
    """
    kept = []
    for char in unicodedata.normalize("NFC", oem):
        if char in "/\\":
            kept.append("-")
        elif char not in REMOVED and unicodedata.category(char) not in DROPPED_CATEGORIES:
            kept.append(char)
    name = " ".join("".join(kept).split()).strip(". ")
    if is_reserved(name):
        name = "_" + name
    name = truncate(name, MAX_BYTES - len(suffix.encode())).rstrip(". ")
    if not name:
        name = fallback
    return name + suffix
