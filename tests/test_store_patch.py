"""The store after a write is its old bytes patched with the write's changes: always the same
bytes as rendering the whole table again."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from partners.db import StoreRow
from partners.store import EMPTY, NotCurrent, StoredRecord, _patched, render

# Names that sort differently by case, escape in JSON, or hold the store's own punctuation.
TEXT = st.sampled_from(["a", "A", "b", "é", '"', "\\", ", ", '", "tier": "', "ß", "Z", " "])
NAME = st.lists(TEXT, min_size=1, max_size=4).map("".join)
OEM = st.sampled_from(["Cisco", "cisco", "AWS", 'Q"uote', "Dell\\", "Ångström"])


def row(name: str, oem: str, tier: str = "Gold") -> StoreRow:
    return StoreRow(name, tier, "P", oem, None, "n", "2026-01-01T00:00:00Z", "2026-01-01T00:00:00Z")


def unique(rows: list[StoreRow]) -> list[StoreRow]:
    return list({(r.oem, r.name): r for r in rows}.values())


@given(
    st.lists(st.tuples(NAME, OEM), max_size=12),
    st.lists(st.booleans(), max_size=12),
    st.lists(st.tuples(NAME, OEM), max_size=6),
    st.integers(1, 64),
)
def test_a_patched_store_is_the_rendering_of_the_new_table(before, removals, additions, size):
    old = unique([row(name, oem) for name, oem in before])
    flags = removals + [False] * len(old)
    gone = [r for r, flag in zip(old, flags, strict=False) if flag]
    kept = [r for r, flag in zip(old, flags, strict=False) if not flag]
    taken = {(r.oem, r.name) for r in kept}
    added = [
        r
        for r in unique([row(n, o, "Silver") for n, o in additions])
        if (r.oem, r.name) not in taken
    ]
    # An update is a removal of the old line and a new one: every other kept row changes tier.
    updated = [r._replace(tier="Platinum") for r in kept[::2]]
    rendered = render(old)  # read in chunks of any size, as a file is read
    chunks = iter([rendered[at : at + size] for at in range(0, len(rendered), size)])
    patched = b"".join(_patched(chunks, [*gone, *kept[::2]], [*added, *updated]))
    assert patched == render([*kept[1::2], *added, *updated])


def test_a_store_that_is_not_what_was_written_is_not_patched():
    old = render([row("a", "Cisco")])
    damaged_stores = (
        old.replace(b'"a"', b'"b"'),
        old[:-4],
        old + b"x",
        b"{}\n",
        old.replace(b'", "tier"', b'"tier"'),
        old.replace(b'"Cisco"', b'"Cis\\co"'),
    )
    removal: tuple[list[StoredRecord], list[StoredRecord]] = ([row("a", "Cisco")], [])
    update: tuple[list[StoredRecord], list[StoredRecord]] = (
        [row("a", "Cisco")],
        [row("a", "Cisco", "Silver")],
    )
    for damaged in damaged_stores:
        for removed, written in (removal, update):
            lines = iter(damaged.splitlines(keepends=True))
            try:
                b"".join(_patched(lines, removed, written))
            except NotCurrent:
                continue
            raise AssertionError(f"patched a damaged store: {damaged!r}")


def test_a_new_line_for_a_name_the_store_still_holds_is_not_patched_in():
    old = render([row("a", "Cisco"), row("b", "Cisco")])
    try:
        b"".join(_patched(iter([old]), [], [row("b", "Cisco", "Platinum")]))
    except NotCurrent:
        return
    raise AssertionError("patched a second line for 'b' into the store")


def test_the_empty_store_takes_new_records():
    patched = b"".join(_patched(iter([EMPTY]), [], [row("a", "AWS")]))
    assert patched == render([row("a", "AWS")])
