"""Note file names from hostile OEM names: always one safe file inside the OEM folder."""

from __future__ import annotations

import unicodedata
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from partners.filenames import MAX_BYTES, fold, is_reserved, note_name, oem_id
from partners.models import PartnerTier
from partners.obsidian import export_obsidian

RESERVED = ["CON", "PRN", "AUX", "NUL", *(f"COM{i}" for i in range(1, 10))]
RESERVED += [f"LPT{i}" for i in range(1, 10)]
# Devices too, though rarer in lists: the superscript digits and the console.
RESERVED += ["COM¹", "COM²", "COM³", "LPT¹", "LPT²", "LPT³", "CONIN$", "CONOUT$"]

HOSTILE = [
    "../../etc/passwd",
    "..",
    ".",
    "...",
    "/absolute/path",
    "C:\\Windows\\System32",
    "\\\\server\\share",
    "name\x00with nul",
    "nul.md",
    "trailing dots...",
    "trailing space   ",
    " leading space",
    ".hidden",
    "a" * 4096,
    "é" * 3000,
    "日本語のベンダー" * 40,
    "[#^|]",
    "[[wikilink]]",
    "#tag",
    "^block",
    "a|b",
    'quote"d',
    "a:b",
    "a*b?c<d>e",
    "percent %% comment",
    "zero\u200bwidth",
    "bidi\u202eevil\u202c",
    "bom\ufeff",
    "tab\tand\nnewline\r",
    "\u2028line separator",
    "emoji 🚀 vendor",
    "Ω ohm vs Ω omega",
    "e\u0301 decomposed",
    "é composed",
    "CaSe TwIn",
    "case twin",
    "   ",
    "",
    "\x01\x02\x03",
    "con",
    "Con.txt",
    "lpt1.md",
    "COM9 ",
    "AUX.tar.gz",
    "OEM Index",
    "oem index",
    "~$lock",
    "-dash",
    "$(rm -rf /)",
    "`whoami`",
    "<script>alert(1)</script>",
    "%2e%2e%2f",
    "\\..\\..\\x",
    "a/../../b",
    "/",
    "\\",
]
HOSTILE += RESERVED + [r.lower() for r in RESERVED] + [f"{r}.md" for r in RESERVED]
HOSTILE += [f"{r}.txt" for r in RESERVED] + [f"{r.lower()}.json" for r in RESERVED]
HOSTILE += [f"Vendor {c}" for c in '?<>:*|"[]#^%/\\']
HOSTILE += [f"{'x' * n}é" for n in range(110, 125)]
TWINS = ["Café", "Ångström", "Señor Systems", "Noël Networks", "Über Cloud"]
HOSTILE += [unicodedata.normalize("NFD", t) for t in TWINS] + TWINS + [t.upper() for t in TWINS]


def test_the_hostile_list_is_large():
    assert len(set(HOSTILE)) >= 200


def check_safe(name: str) -> None:
    assert name, "empty name"
    assert "/" not in name and "\\" not in name and "\x00" not in name
    assert len(name.encode()) <= MAX_BYTES
    assert name not in (".", "..") and not name.startswith(".")
    assert not name.endswith((".", " "))
    assert not is_reserved(name)
    assert not set('?<>:*|"[]#^%') & set(name)
    assert all(unicodedata.category(c) not in ("Cc", "Cf", "Cs") for c in name)
    assert unicodedata.normalize("NFC", name) == name


@pytest.mark.parametrize("oem", HOSTILE)
def test_every_hostile_name_gives_a_safe_file_name(oem):
    check_safe(note_name(oem, oem_id(oem) if oem.strip() else "oem-00000000"))


def test_reserved_names_are_prefixed_and_empty_names_fall_back_to_the_id():
    assert note_name("CON", "con-1") == "_CON"
    assert note_name("nul.md", "x") == "_nul.md"
    assert note_name("Con.txt", "x") == "_Con.txt"
    assert note_name("...", "dots-12345678") == "dots-12345678"
    assert note_name("\u200b\u200b", "zw-12345678") == "zw-12345678"


@pytest.mark.parametrize(
    "oem",
    ["COM¹", "com²", "COM³.md", "LPT¹", "lpt².txt", "Lpt³", "CONIN$", "conin$.md", "CONOUT$"]
    + ["Conout$.tar.gz", "COM¹ ", "com³ .txt"],
)
def test_it_prefixes_superscript_com_lpt_and_console_device_names(oem):
    assert note_name(oem, "x") == "_" + oem.strip()


@pytest.mark.django_db
def test_it_exports_superscript_and_console_device_oems_with_the_prefix(tmp_path):
    vault = tmp_path / "vault"
    vault.mkdir()
    _insert(["COM¹", "conin$", "CONOUT$.md"])

    result = export_obsidian(vault)

    names = sorted(Path(p).name for p in result.files_written)
    assert names == ["OEM Index.md", "_COM¹.md", "_CONOUT$.md.md", "_conin$.md"]


def test_long_names_are_cut_at_a_character_boundary_with_room_for_a_suffix():
    name = note_name("é" * 3000, "x", suffix=" (e-12345678)")
    assert len(name.encode()) <= MAX_BYTES and name.endswith(" (e-12345678)")
    assert name.encode().decode() == name


@settings(max_examples=300, deadline=None)
@given(st.text(min_size=0, max_size=300))
def test_any_text_gives_a_safe_file_name(oem):
    check_safe(note_name(oem, "fallback-00000000"))
    check_safe(note_name(oem, "fallback-00000000", suffix=" (fallback-00000000)"))


@pytest.mark.django_db
def test_hostile_oems_export_to_distinct_files_inside_the_oem_folder(tmp_path):
    vault = tmp_path / "vault"
    vault.mkdir()
    oems = [h for h in dict.fromkeys(HOSTILE) if h.strip() and not _has_control(h)]
    _insert(oems)

    result = export_obsidian(vault)

    folder = (vault / "30 Hubs" / "OEMs").resolve()
    files = [Path(p) for p in result.files_written]
    keys = {_key(o) for o in oems}
    assert result.conflicts == []
    assert len(files) == len(keys) + 1  # one per OEM, plus the index
    assert len({fold(f.name) for f in files}) == len(files)  # distinct, even ignoring case
    for path in files:
        assert path.resolve().parent == folder
        check_safe(path.stem)
    assert sorted(p.name for p in vault.rglob("*") if p.is_file()) == sorted(f.name for f in files)


@pytest.mark.django_db
@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(st.lists(st.text(min_size=1, max_size=60), min_size=1, max_size=8))
def test_any_oem_names_export_to_distinct_files_inside_the_folder(tmp_path_factory, names):
    vault = tmp_path_factory.mktemp("vault")
    PartnerTier.objects.all().delete()
    names = [n for n in names if n.strip() and not _has_control(n)]
    _insert(names)

    result = export_obsidian(vault)

    folder = (vault / "30 Hubs" / "OEMs").resolve()
    files = [Path(p) for p in result.files_written]
    assert len(files) == len({_key(n) for n in names}) + 1
    assert len({fold(f.name) for f in files}) == len(files)
    assert all(f.resolve().parent == folder for f in files)


def _has_control(text: str) -> bool:
    return any(unicodedata.category(c) == "Cc" for c in text) or len(text) > 200


def _key(oem: str) -> str:
    from partners.normalize import identity_key

    return identity_key(oem)


def _insert(oems: list[str]) -> None:
    seen = set()
    for oem in oems:
        if _key(oem) in seen:
            continue
        seen.add(_key(oem))
        PartnerTier.objects.create(name="Partner", tier="Gold", program="P", oem=oem.strip())


def test_letters_are_kept_as_they_are():
    assert note_name("Xerox Systems", "x") == "Xerox Systems"
    assert (
        oem_id("Red Hat").startswith("red-hat-") and len(oem_id("Red Hat")) == len("red-hat-") + 8
    )
