"""One Obsidian note as text: the frontmatter the exporter shares with a person, the block it
owns between its markers, and everything else, which belongs to the person and is kept as is.
"""

from __future__ import annotations

import io
import json
import re
from collections.abc import Mapping
from typing import Any

import yaml

BEGIN = "%% partner-tiers:begin %%"
END = "%% partner-tiers:end %%"
_MARKER_WORD = re.compile(r"partner-tiers\s*:\s*(begin|end)", re.IGNORECASE)
_FRONTMATTER = re.compile(r"\A---[ \t]*\r?\n(.*?)(?:\r?\n)?^---[ \t]*(?:\r?\n|\Z)", re.S | re.M)

# Escaped in values: Markdown emphasis and code, links, images, wikilinks and embeds (all need
# `[`), tags, block references, comments (%%), highlights (==), math ($), HTML (<>), entities
# and tables (|). Parentheses, `+` and `!` mean nothing without them and stay readable.
_MARKDOWN = re.compile(r"([\\`*_\[\]<>#|~%=$^]|&(?=#?\w+;))")
# The hyphen of "partner-tiers" in a value is escaped (`partner\-tiers`, still shown as
# partner-tiers) so that no value can spell a marker: a note reading "see partner-tiers:end"
# would otherwise look like a damaged marker on every export. Optimization: matched from the
# hyphen (rare), ten times faster than looking for the word.
_MARKER_NAME = re.compile(r"-(?<=partner-)(?=tiers)", re.IGNORECASE)


class NoteConflict(Exception):
    """The note cannot be updated without risking what a person wrote; it is left alone."""


def escape(value: str | None) -> str:
    """A value as inline Markdown text: one line, no syntax of its own."""
    if value is None:
        return ""
    # Optimization: most values are one clean line with nothing to escape.
    if value.isprintable() and "  " not in value and not _MARKDOWN.search(value):
        text = value.strip()
    else:
        text = _MARKDOWN.sub(r"\\\1", " ".join(value.split()))
    return _MARKER_NAME.sub(r"\\-", text) if "-" in text else text


_YAML_UNSAFE = re.compile("[\x7f-\x9f\u2028\u2029\ufeff]")


_SPECIAL = re.compile(r"[\\`*_\[\]<>#|~%=$^&]")


def needs_escaping(values: list[str]) -> bool:
    """Optimization: whether any of `values` (non-empty, trimmed) needs `escape`, checked
    for all of them at once at C speed; usually none does."""
    joined = " ".join(values)
    if not joined.isprintable() or "  " in joined or _SPECIAL.search(joined) is not None:
        return True
    return "-" in joined and _MARKER_NAME.search(joined) is not None


def yaml_string(value: str) -> str:
    """A double-quoted YAML scalar (JSON's escapes are YAML's), with the characters YAML
    would read as line breaks or refuse escaped too."""
    return _YAML_UNSAFE.sub(
        lambda m: f"\\u{ord(m.group()):04x}", json.dumps(value, ensure_ascii=False)
    )


def emit_owned(owned: Mapping[str, Any]) -> str:
    """Optimization: the frontmatter of a note that holds only the exporter's properties,
    without ruamel.yaml's round trip (a third of a full export's time). Same layout."""
    lines = []
    for key, value in owned.items():
        if isinstance(value, dict):  # tier → rank: a mapping of plain scalars
            lines.append(f"{key}:")
            lines += [f"  {yaml_string(k)}: {json.dumps(v)}" for k, v in value.items()]
        elif isinstance(value, list):
            if not value:
                lines.append(f"{key}: []")
                continue
            lines.append(f"{key}:")
            lines += [f"  - {yaml_string(v) if isinstance(v, str) else v}" for v in value]
        elif isinstance(value, str):
            lines.append(f"{key}: {yaml_string(value)}")
        else:
            lines.append(f"{key}: {json.dumps(value)}")
    return "\n".join(lines) + "\n"


def split_frontmatter(text: str) -> tuple[str | None, str]:
    """(frontmatter source or None, the rest of the note)."""
    match = _FRONTMATTER.match(text)
    if not match:
        if text.startswith("---\n") or text.startswith("---\r\n"):
            raise NoteConflict("frontmatter has no closing ---")
        return None, text
    return match.group(1), text[match.end() :]


def read_frontmatter(source: str | None) -> dict[str, Any]:
    if source is None or not source.strip():
        return {}
    try:
        data = yaml.load(source, Loader=yaml.CSafeLoader)
    except yaml.YAMLError as exc:
        raise NoteConflict(f"frontmatter is not valid YAML: {str(exc).splitlines()[0]}") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise NoteConflict("frontmatter is not a set of properties")
    return data


def find_block(body: str) -> tuple[int, int] | None:
    """Where the exporter's block is in `body` (start of BEGIN, end of END), None when the note
    has no markers; NoteConflict when they are damaged, repeated or out of order."""
    begins = [m.start() for m in re.finditer(re.escape(BEGIN), body)]
    ends = [m.start() for m in re.finditer(re.escape(END), body)]
    # Optimization: the regex runs only when some mention is not an exact marker.
    found = len(begins) + len(ends)
    if body.lower().count("partner-tiers") != found and len(_MARKER_WORD.findall(body)) != found:
        raise NoteConflict("a partner-tiers marker is damaged")
    if not begins and not ends:
        return None
    if len(begins) != 1 or len(ends) != 1:
        raise NoteConflict(
            f"expected one begin and one end marker, found {len(begins)} and {len(ends)}"
        )
    if ends[0] < begins[0]:
        raise NoteConflict("the end marker comes before the begin marker")
    return begins[0], ends[0] + len(END)


def block(content: str) -> str:
    """The markers with a blank line on each inner side: without it CommonMark renderers
    read the end marker as part of the last bullet or as one more table row. A note written
    before had none; its block differs from this, so it is rewritten once, then left alone."""
    inner = content.lstrip("\n").rstrip()
    return f"{BEGIN}\n\n{inner}\n\n{END}"


# Properties the exporter owns only some of the time: when `owned` lacks one, the note must
# not keep it either (an OEM with records again is no longer inactive).
SOMETIMES_OWNED = ("inactive_since", "ranks")


def owned_match(frontmatter: Mapping[str, Any], owned: Mapping[str, Any]) -> bool:
    if any(key in frontmatter for key in SOMETIMES_OWNED if key not in owned):
        return False
    return all(frontmatter.get(key) == value for key, value in owned.items())


def merge_frontmatter(source: str | None, owned: Mapping[str, Any]) -> str:
    """The frontmatter with the exporter's keys set; every other key, its order and its
    comments as the person left them (ruamel.yaml round trip)."""
    if _only_owned(source, owned):
        return emit_owned(owned)
    from ruamel.yaml import YAML
    from ruamel.yaml.comments import CommentedMap
    from ruamel.yaml.scalarstring import DoubleQuotedScalarString

    rt = YAML(typ="rt")
    rt.width = 4096  # never fold a long value onto a second line
    rt.indent(mapping=2, sequence=4, offset=2)
    data = rt.load(source) if source and source.strip() else None
    if data is None:
        data = CommentedMap()
    if not isinstance(data, CommentedMap):
        raise NoteConflict("frontmatter is not a set of properties")
    for key, value in owned.items():
        if isinstance(value, str):
            value = DoubleQuotedScalarString(value)
        elif isinstance(value, list):
            value = [DoubleQuotedScalarString(v) if isinstance(v, str) else v for v in value]
        elif isinstance(value, dict):
            value = {DoubleQuotedScalarString(k): v for k, v in value.items()}
        data[key] = value
    for key in SOMETIMES_OWNED:
        if key not in owned:
            data.pop(key, None)
    out = io.StringIO()
    rt.dump(data, out)
    return out.getvalue()


def _only_owned(source: str | None, owned: Mapping[str, Any]) -> bool:
    """No frontmatter yet, or one with nothing in it but the exporter's keys (no comments)."""
    if source is None or not source.strip():
        return True
    if "#" in source:
        return False
    return set(read_frontmatter(source)) <= {*owned, *SOMETIMES_OWNED}


def compose(existing: str | None, owned: Mapping[str, Any], content: str) -> str:
    """The note's new text: `existing` (None for a new note) with the exporter's properties
    and block brought up to date. NoteConflict when that cannot be done safely."""
    source, body = split_frontmatter(existing) if existing is not None else (None, "")
    read_frontmatter(source)  # a frontmatter that does not parse is a conflict
    where = find_block(body)
    new_block = block(content)
    if existing is None:
        return f"---\n{merge_frontmatter(None, owned)}---\n\n{new_block}\n"
    if where is None:
        # Adopted: the person's text stays first, the block goes below it.
        body = body.rstrip("\n") + ("\n\n" if body.strip() else "") + new_block + "\n"
    else:
        body = body[: where[0]] + new_block + body[where[1] :]
    return f"---\n{merge_frontmatter(source, owned)}---\n{body}"


def is_current(existing: str, owned: Mapping[str, Any], content: str) -> bool:
    """Optimization: whether the note already says all of this, checked with a string
    comparison (and the C YAML parser when a person added properties); most notes in an
    export are unchanged."""
    source, body = split_frontmatter(existing)
    where = find_block(body)
    if where is None or body[where[0] : where[1]] != block(content):
        return False
    if source is not None and source + "\n" == emit_owned(owned):
        return True
    return owned_match(read_frontmatter(source), owned)


def untouched(existing: str, owned_keys: set[str]) -> bool:
    """Nothing in the note but the exporter's block and properties: it may go to the trash."""
    source, body = split_frontmatter(existing)
    where = find_block(body)
    if where is None:
        return False
    outside = body[: where[0]] + body[where[1] :]
    return not outside.strip() and set(read_frontmatter(source)) <= owned_keys
