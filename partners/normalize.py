"""The one set of normalization rules: text cleanup, tiers, OEM spellings, identity keys, times.

Every door (command, admin, API) and every module imports these; none writes its own.
"""

from __future__ import annotations

import functools
import unicodedata
from collections.abc import Iterable, Iterator, Mapping
from datetime import UTC, datetime
from itertools import repeat
from operator import getitem, itemgetter

TIER_MAP = {"platinum": "Platinum", "gold": "Gold", "silver": "Silver", "bronze": "Bronze"}
TIER_RANK = {"Platinum": 4, "Gold": 3, "Silver": 2, "Bronze": 1}

OEM_ALIASES = {
    "cisco": "Cisco",
    "nutanix": "Nutanix",
    "dell": "Dell",
    "hp": "HP",
    "hpe": "HPE",
    "vmware": "VMware",
    "microsoft": "Microsoft",
    "aws": "AWS",
    "red hat": "Red Hat",
}


def nfc(value: str) -> str:
    # Optimization: ASCII text is always NFC; skip the table lookup for the common case.
    return value if value.isascii() else unicodedata.normalize("NFC", value)


def clean(value: str | None) -> str | None:
    """Trim, Unicode NFC; an empty string becomes None."""
    if value is None:
        return None
    value = nfc(value).strip()
    return value or None


def identity_key(value: str) -> str:
    """The comparison form of a name or OEM: NFC, casefolded, whitespace collapsed."""
    if value.isascii():
        return " ".join(value.lower().split())
    folded = unicodedata.normalize("NFC", unicodedata.normalize("NFC", value).casefold())
    return " ".join(folded.split())


# A record's identity: its OEM's key and its name's, one string joined by NUL, which no key
# holds (a record's text has no control character, and PostgreSQL stores no NUL), so the
# parts are told apart and keys sort as the (OEM key, name key) pairs do. Optimization: one
# string, not a tuple of two, held per record and keyed by: a dry run of 1,000,000 records
# peaked at 644-662 MB, now 582-587 MB (the tuple, the name key beside it, and the run's
# dict of records by key, whose keys are now all strings).
KEY_SEPARATOR = "\x00"
record_key = KEY_SEPARATOR.join  # (oem_key, name_key) -> the key


def key_parts(key: str) -> tuple[str, str]:
    """A record key's (oem_key, name_key)."""
    oem_key, _, name_key = key.partition(KEY_SEPARATOR)
    return oem_key, name_key


def oem_keys_of(keys: Iterable[str]) -> Iterator[str]:
    """The OEM key of each record key (`key_parts`), in C."""
    return map(itemgetter(0), map(str.partition, keys, repeat(KEY_SEPARATOR)))


def name_keys_of(keys: Iterable[str]) -> Iterator[str]:
    """The name key of each record key (`key_parts`), in C."""
    return map(itemgetter(2), map(str.partition, keys, repeat(KEY_SEPARATOR)))


def name_keys_in(oem_key: str, keys: Iterable[str]) -> Iterator[str]:
    """The name keys of record keys of one OEM, in C: each key less its OEM key and the
    separator (a third of the time of `name_keys_of`, which splits each key)."""
    return map(getitem, keys, repeat(slice(len(oem_key) + 1, None)))


@functools.lru_cache(maxsize=4096)  # a file holds a handful of distinct tiers
def normalize_tier(value: str) -> str:
    return TIER_MAP.get(value.casefold()) or value.title()


def tier_direction(old: str | None, new: str | None) -> str:
    """`up`/`down` by the rank Platinum > Gold > Silver > Bronze, else `changed`."""
    old_rank, new_rank = TIER_RANK.get(old or ""), TIER_RANK.get(new or "")
    if old_rank is None or new_rank is None or old_rank == new_rank:
        return "changed"
    return "up" if new_rank > old_rank else "down"


def oem_alias_map(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """The built-in aliases plus `PARTNERS_OEM_ALIASES`, keyed by identity key."""
    aliases = {identity_key(k): v for k, v in OEM_ALIASES.items()}
    for alias, spelling in (extra or {}).items():
        aliases[identity_key(alias)] = clean(spelling) or spelling
    return aliases


def normalize_notes(value: str | None) -> str | None:
    if value is None:
        return None
    return clean(value.replace("\r\n", "\n").replace("\r", "\n"))


@functools.lru_cache(maxsize=65536)  # a store holds few distinct times
def parse_timestamp(value: str) -> str:
    """An ISO 8601 time as UTC `YYYY-MM-DDTHH:MM:SSZ`; naive times are taken as UTC.

    Raises ValueError for anything that is not ISO 8601.
    """
    return format_timestamp(datetime.fromisoformat(value.strip()))


def format_timestamp(value: datetime) -> str:
    """UTC, whole seconds, `Z`; a naive time is taken as UTC."""
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    value = value.astimezone(UTC)
    return (
        f"{value.year:04d}-{value.month:02d}-{value.day:02d}"
        f"T{value.hour:02d}:{value.minute:02d}:{value.second:02d}Z"
    )


def now_timestamp() -> str:
    return format_timestamp(datetime.now(UTC))
