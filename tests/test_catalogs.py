"""Every catalog complete: no untranslated, fuzzy or placeholder-broken entry, and nothing in
the source that the catalogs lack. A translator's slip fails here, not in a resident's chat."""

import re
import sys
from pathlib import Path

import pytest
from babel.messages.mofile import read_mo
from babel.messages.pofile import read_po

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "scripts"))
import i18n as tool  # noqa: E402

PLACEHOLDER = re.compile(r"\{[a-z_][a-z0-9_]*\}")
TAG = re.compile(r"</?[a-z]+>")
PO_FILES = sorted(ROOT.glob("locales/*/LC_MESSAGES/*.po"))
LATIN_WORD = re.compile(r"\b[A-Za-z]{4,}\b")
ALLOWED_LATIN = {"Mahfil", "Telegram", "JSON", "CSV", "XLSX", "YAML", "PNG", "http", "https",
                 "true", "false"}  # the last two: literal values of the survey file format


def _read(path: Path):
    with path.open("rb") as handle:
        return read_po(handle)


def _strings(value: str | tuple[str, ...] | list[str]) -> tuple[str, ...]:
    return tuple(value) if isinstance(value, tuple | list) else (value,)


@pytest.mark.parametrize("path", PO_FILES, ids=lambda p: f"{p.parts[-3]}/{p.name}")
def test_catalog_is_complete(path: Path) -> None:
    catalog = _read(path)
    lang = path.parts[-3]
    problems = []
    for message in catalog:
        if not message.id:
            continue
        ids = _strings(message.id)
        strings = _strings(message.string)
        if message.fuzzy:
            problems.append(f"fuzzy: {ids[0]!r}")
        if not all(strings):
            problems.append(f"untranslated: {ids[0]!r}")
            continue
        wanted = set(PLACEHOLDER.findall(" ".join(ids)))
        for s in strings:
            found = set(PLACEHOLDER.findall(s))
            # A plural form may spell the number out ("one member"), dropping {n}.
            if found != wanted and not (len(strings) > 1 and found == wanted - {"{n}"}):
                problems.append(f"placeholders differ: {ids[0]!r} -> {s!r}")
            if sorted(TAG.findall(s)) != sorted(TAG.findall(ids[0])):
                problems.append(f"HTML tags differ: {ids[0]!r} -> {s!r}")
            if lang != "en":
                words = set(LATIN_WORD.findall(PLACEHOLDER.sub("", TAG.sub("", s))))
                words -= ALLOWED_LATIN
                words = {w for w in words if f"/{w}" not in s}
                if words:
                    problems.append(f"English left: {s!r}")
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize("lang", ["fa", "he", "kk", "en"])
def test_plural_rules(lang: str) -> None:
    expected = {"fa": "nplurals=2; plural=(n > 1);",
                "he": "nplurals=3; plural=(n == 1 ? 0 : n == 2 ? 1 : 2);",
                "kk": "nplurals=2; plural=(n != 1);", "en": "nplurals=2; plural=(n != 1);"}
    for path in ROOT.glob(f"locales/{lang}/LC_MESSAGES/*.po"):
        assert _read(path).plural_forms == expected[lang], path


def test_every_language_has_every_domain() -> None:
    domains = {p.stem for p in ROOT.glob("locales/*.cfg")}
    for lang_dir in ROOT.glob("locales/*/LC_MESSAGES"):
        assert {p.stem for p in lang_dir.glob("*.po")} == domains, lang_dir


@pytest.mark.parametrize("domain", tool.domains())
def test_catalogs_know_every_message_in_the_source(domain: str) -> None:
    """`make i18n` was run after the last change to user-facing text."""
    used = {m.id if isinstance(m.id, str) else m.id[0] for m in tool.template(domain) if m.id}
    english = _read(ROOT / "locales" / "en" / "LC_MESSAGES" / f"{domain}.po")
    known = {m.id if isinstance(m.id, str) else m.id[0] for m in english if m.id}
    assert not used - known, f"run `make i18n`: {sorted(used - known)[:5]}"


def test_compiled_catalogs_are_current() -> None:
    for path in PO_FILES:
        mo = path.with_suffix(".mo")
        assert mo.exists(), f"{mo} missing: run `make compile`"
        with mo.open("rb") as handle:
            compiled = {_strings(m.id)[0] for m in read_mo(handle) if m.id}
        assert {_strings(m.id)[0] for m in _read(path) if m.id} <= compiled, path


def test_every_module_with_text_belongs_to_a_domain() -> None:
    """A module whose messages no ``locales/<domain>.cfg`` names would never be translated."""
    from babel.messages.extract import pathmatch
    from babel.messages.frontend import parse_mapping_cfg

    patterns = []
    for cfg in sorted((ROOT / "locales").glob("*.cfg")):
        with cfg.open(encoding="utf-8") as handle:
            method_map, _options = parse_mapping_cfg(handle)
        patterns += [pattern for pattern, _method in method_map]
    marked = re.compile(r"\b(N_|t\._|ngettext)\(\s*\"")
    orphans = [
        str(path.relative_to(ROOT)) for path in sorted((ROOT / "bot").rglob("*.py"))
        # The emulator speaks no language; the sandbox only taps buttons the foundation names.
        if not {"emulator", "sandbox"} & set(path.parts)
        and marked.search(path.read_text(encoding="utf-8"))
        and not any(pathmatch(p, str(path.relative_to(ROOT))) for p in patterns)
    ]
    assert not orphans, f"add these to a locales/<domain>.cfg: {orphans}"
