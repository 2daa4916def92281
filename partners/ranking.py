"""The catalog's ranks as a database expression, for the admin's list sorted by rank.

Why an expression and not a stored rank column: a rank is the catalog's answer now, so a
ladder reordered, renamed or added in the admin sorts the list right on the next page load,
with nothing to recompute and no second copy of the ranks to keep in step with the write
path. The CASE has one branch per OEM with a ladder (then per program, then per tier),
evaluated once per row: with the shipped catalog (a few dozen ladders) sorting 100,000 rows
takes a scan and a top-N sort (see `benchmarks/bench_admin_rank.py`). Tiers are compared
lower-cased (`identity_key` casefolds; the two differ only beyond ASCII).
"""

from __future__ import annotations

from collections.abc import Mapping

from django.db.models import Case, IntegerField, Q, Value, When
from django.db.models.functions import Lower
from django.db.models.lookups import Exact, In

from partners.normalize import TIER_RANK, identity_key
from partners.programs import Catalog, Ladder


def _tier_case(ranks: Mapping[str, int]) -> Case:
    """CASE lower(tier) → position (aliases rank as their tier); NULL off the ladder."""
    by_rank: dict[int, list[str]] = {}
    for key, rank in ranks.items():
        by_rank.setdefault(rank, []).append(key)
    whens = [When(In(Lower("tier"), sorted(keys)), then=Value(r)) for r, keys in by_rank.items()]
    return Case(*whens, default=Value(None), output_field=IntegerField())


def rank_expression(catalog: Catalog) -> Case:
    """Each record's rank on its ladder (its program's, else its OEM's default ladder); for
    OEMs without a ladder, the old global ranking (Bronze 1 … Platinum 4). NULL: unranked."""
    by_oem: dict[str, dict[str, Ladder]] = {}
    for (oem_key, program_key), ladder in catalog.ladders.items():
        by_oem.setdefault(oem_key, {})[program_key] = ladder
    whens = []
    for oem_key, ladders in sorted(by_oem.items()):
        default = ladders.pop("", None)
        inner = [
            When(Exact(Lower("program"), program_key), then=_tier_case(ladder.ranks))
            for program_key, ladder in sorted(ladders.items())
        ]
        fallback = _tier_case(default.ranks) if default else Value(None)
        then = Case(*inner, default=fallback, output_field=IntegerField()) if inner else fallback
        whens.append(When(Q(oem_key=oem_key), then=then))
    global_ranks = {identity_key(tier): rank for tier, rank in TIER_RANK.items()}
    return Case(*whens, default=_tier_case(global_ranks), output_field=IntegerField())
