"""Properties of the engine over generated inputs (hypothesis), on the real database."""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from partners.models import PartnerTier, Source
from partners.normalize import clean, identity_key, normalize_tier
from partners.store import store_path
from partners.sync import run_sync
from tests.test_result_json import untimed

pytestmark = pytest.mark.django_db

TEXT = st.text(
    alphabet=st.characters(blacklist_categories=("Cc", "Cs")), min_size=1, max_size=12
).filter(lambda s: s.strip())
RECORD = st.fixed_dictionaries(
    {
        "name": TEXT,
        "tier": st.sampled_from(["gold", "Platinum", " silver ", "BRONZE", "Registered"]),
        "program": TEXT,
        "oem": st.sampled_from(["cisco", "Acme Corp", "Ünïcode AG", "dell", "Zeta"]),
        "poc": st.none() | TEXT,
        "notes": st.none() | TEXT,
    }
)


def reset() -> None:
    """An empty database for the next example: no records and no source's base."""
    PartnerTier.objects.all().delete()
    Source.objects.all().delete()


def unique(records: list[dict]) -> list[dict]:
    """One record per identity key (a second one would be a conflict, tested elsewhere)."""
    seen: dict[tuple[str, str], dict] = {}
    for record in records:
        seen.setdefault((identity_key(record["oem"]), identity_key(record["name"])), record)
    return list(seen.values())


INPUT = st.lists(RECORD, min_size=1, max_size=25).map(unique)
SETTINGS = settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


def write(folder: Path, name: str, records: list[dict]) -> Path:
    path = folder / name
    path.write_text(json.dumps({"partners": records}), encoding="utf-8")
    return path


def contents() -> set[tuple]:
    return set(PartnerTier.objects.values_list("name", "tier", "program", "oem", "poc", "notes"))


def expected(records: list[dict]) -> set[tuple]:
    """What the rules say the records become (the OEMs here have one spelling each)."""
    aliases = {"cisco": "Cisco", "dell": "Dell"}
    return {
        (
            clean(r["name"]),
            normalize_tier(clean(r["tier"]) or ""),
            clean(r["program"]),
            aliases.get(r["oem"], r["oem"]),
            clean(r["poc"]),
            clean(r["notes"]),
        )
        for r in records
    }


@SETTINGS
@given(a=INPUT)
def test_a_second_sync_of_the_same_input_changes_nothing(tmp_path_factory, a):
    reset()
    folder = tmp_path_factory.mktemp("same")
    path = write(folder, "a.json", a)
    assert run_sync([path], apply=True).applied
    again = run_sync([path]).summary
    assert again == {
        "added": 0,
        "updated": 0,
        "unchanged": len(a),
        "missing": 0,
        "removed": 0,
        "kept": 0,
        "conflicts": 0,
    }


@SETTINGS
@given(a=INPUT, b=INPUT)
def test_applying_the_diff_of_a_and_b_to_a_gives_b(tmp_path_factory, a, b):
    reset()
    folder = tmp_path_factory.mktemp("ab")
    run_sync([write(folder, "a.json", a)], apply=True)
    run_sync([write(folder, "b.json", b)], apply=True, prune_all=True, max_remove=100)
    assert contents() == expected(b)


@SETTINGS
@given(a=INPUT, seed=st.integers(0, 1000))
def test_input_order_does_not_change_the_result(tmp_path_factory, a, seed):
    reset()
    folder = tmp_path_factory.mktemp("order")
    shuffled = a[:]
    random.Random(seed).shuffle(shuffled)
    half = max(1, len(shuffled) // 2)
    parts = [shuffled[:half], shuffled[half:]] if len(shuffled) > 1 else [shuffled]
    one = run_sync([write(folder, "one.json", a)]).to_dict()["added"]
    paths = [write(folder, f"part{i}.json", part) for i, part in enumerate(parts)]
    two = run_sync(paths).to_dict()["added"]
    strip = lambda records: sorted(  # noqa: E731
        json.dumps({k: r[k] for k in ("name", "tier", "program", "oem", "poc", "notes")})
        for r in records
    )
    assert strip(one) == strip(two)


@SETTINGS
@given(a=INPUT)
def test_store_to_database_to_store_is_byte_identical(tmp_path_factory, a, settings):
    reset()
    folder = tmp_path_factory.mktemp("round")
    run_sync([write(folder, "a.json", a)], apply=True)
    first = store_path().read_bytes()
    copy = folder / "store_copy.json"
    copy.write_bytes(first)
    reset()

    assert run_sync([copy], apply=True).applied

    assert store_path().read_bytes() == first
    assert contents() == expected(a)


def world_state(vault: Path) -> tuple:
    """The database (times included), the store's bytes and every note's bytes (not those in
    Obsidian's .trash: a revert moves there the notes its run created)."""
    rows = sorted(
        PartnerTier.objects.values_list(
            "name", "tier", "program", "oem", "poc", "notes", "created_at", "updated_at"
        )
    )
    notes = {p.relative_to(vault): p.read_bytes() for p in (vault / "30 Hubs").rglob("*.md")}
    return rows, store_path().read_bytes(), notes


@SETTINGS
@given(a=INPUT, b=INPUT, prune=st.booleans())
def test_reverting_b_gives_a_back_and_reverting_the_revert_gives_b(tmp_path_factory, a, b, prune):
    from django.test import override_settings

    from partners.revert import revert_run

    reset()
    folder = tmp_path_factory.mktemp("revert")
    vault = folder / "vault"
    vault.mkdir()
    # One override per example, undone after it (the `settings` fixture would stack one per
    # assignment across every example hypothesis runs).
    with override_settings(
        VAULT_ROOT=vault, PARTNERS_AUTO_EXPORT=True, PARTNERS_NOTE_RECENT_CHANGES=0
    ):
        run_sync([write(folder, "a.json", a)], apply=True)
        after_a = world_state(vault)
        second = run_sync([write(folder, "b.json", b)], apply=True, prune_all=prune, max_remove=100)
        after_b = world_state(vault)
        plan = second.plan
        if not (plan.added or plan.updated or (prune and plan.missing)):
            return  # b wrote nothing (it may only lack records): there is no run to revert
        reverted = revert_run(second.run_id or 0, apply=True)
        assert not reverted.conflicts
        assert world_state(vault) == after_a
        revert_run(reverted.run_id or 0, apply=True)
        assert world_state(vault) == after_b


NAMES = ["Acme", "Globex", "Initech", "Umbrella"]
TIERS = ["Bronze", "Silver", "Gold", "Platinum"]
STATEMENT = st.dictionaries(st.sampled_from(NAMES), st.sampled_from(TIERS), min_size=1)
STEP = st.one_of(
    st.tuples(st.sampled_from(["A", "B"]), STATEMENT, st.booleans()),
    st.tuples(st.just("edit"), st.sampled_from(NAMES), st.sampled_from(TIERS)),
)


@SETTINGS
@given(steps=st.lists(STEP, min_size=1, max_size=8))
def test_two_sources_and_edits_change_only_what_each_changed(tmp_path_factory, steps):
    """Sources A and B and a person's edits in any order: a re-sync of an unchanged source
    changes nothing and says what a full read of it says; a field changes only where its
    source's statement changed (or it had none); a prune from A removes only what A stated
    before."""
    from partners.edits import save_record

    reset()
    folder = tmp_path_factory.mktemp("sources")
    said: dict[str, dict[str, str]] = {"A": {}, "B": {}}
    for step in steps:
        if step[0] == "edit":
            _, name, new_tier = step
            record = PartnerTier.objects.filter(name=name).first()
            if record:
                values = {"name": name, "tier": new_tier, "program": "P", "oem": "Cisco"}
                save_record({**values, "poc": None, "notes": None}, pk=record.pk, user=None)
            continue
        source, statement, prune = step
        rows = [
            {"name": n, "tier": t, "program": "P", "oem": "Cisco"} for n, t in statement.items()
        ]
        path = write(folder, f"{source}.json", rows)
        result = run_sync([path], apply=True, prune=prune, max_remove=100)
        assert result.applied, result.error_message
        before = said[source]
        for update in result.plan.updated:
            name, new = update.record.name, update.changes.get("tier", {}).get("new")
            if new is not None:
                assert name not in before or before[name] != new, (name, before, new)
        removed = {row.name for row in result.plan.missing} if prune else set()
        assert removed <= set(before), (removed, before)
        said[source] = {**before, **statement}
        for name in removed:
            said[source].pop(name, None)
        again = run_sync([path], apply=True).summary
        assert (again["added"], again["updated"], again["removed"]) == (0, 0, 0), again
        # Restated from its base (the file is unchanged), the result is a full read's.
        restated = run_sync([path]).to_dict()
        Source.objects.update(read={})
        assert untimed(restated) == untimed(run_sync([path]).to_dict())
