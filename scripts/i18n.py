"""Translators' tool: extract, update and compile every gettext domain with Babel.

    python scripts/i18n.py update    # source -> locales/<domain>.pot -> each <lang>/<domain>.po
    python scripts/i18n.py compile   # each .po -> .mo (what the bot loads)
    python scripts/i18n.py init LANG # start a new language: empty .po files for every domain

A domain is named by its Babel mapping ``locales/<domain>.cfg``. ``pybabel init`` writes
wrong plural rules for Persian and Hebrew, so the rules below are imposed on every update.
"""

from __future__ import annotations

import copy
import io
import sys
from pathlib import Path

from babel.messages.catalog import Catalog
from babel.messages.extract import extract_from_dir
from babel.messages.frontend import parse_mapping_cfg
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po, write_po

ROOT = Path(__file__).resolve().parent.parent
LOCALES = ROOT / "locales"
sys.path.insert(0, str(ROOT))
from bot.i18n import domain_of  # noqa: E402 - the bot's own rule: which domain owns a file

KEYWORDS = {"_": None, "N_": None, "ngettext": (1, 2)}

# CLDR: Persian has one/other with 0 and 1 both "one"; Hebrew has one, two and other.
PLURALS = {
    "fa": (2, "(n > 1)"),
    "he": (3, "(n == 1 ? 0 : n == 2 ? 1 : 2)"),
    "kk": (2, "(n != 1)"),
    "en": (2, "(n != 1)"),
}


def domains() -> list[str]:
    return sorted(p.stem for p in LOCALES.glob("*.cfg"))


def languages() -> list[str]:
    return sorted(p.name for p in LOCALES.iterdir() if (p / "LC_MESSAGES").is_dir())


def template(domain: str) -> Catalog:
    """The messages the source code of ``domain`` uses, as Babel extracts them."""
    with (LOCALES / f"{domain}.cfg").open(encoding="utf-8") as handle:
        method_map, options_map = parse_mapping_cfg(handle)
    catalog = Catalog(project="Mahfil", domain=domain)
    for filename, lineno, message, comments, context in extract_from_dir(
        ROOT, method_map, options_map, keywords=KEYWORDS, comment_tags=("Translators:",)
    ):
        if domain_of(str(ROOT / filename)) != domain:
            continue  # another domain names this file outright
        catalog.add(message, None, [(filename, lineno)], auto_comments=comments,
                    context=context)
    return catalog


def _fix_plurals(catalog: Catalog, lang: str) -> None:
    if lang in PLURALS:
        catalog._num_plurals, catalog._plural_expr = PLURALS[lang]


def update() -> None:
    for domain in domains():
        pot = template(domain)
        buffer = io.BytesIO()
        write_po(buffer, pot, omit_header=False, no_location=True, sort_output=True)
        _write_if_changed(LOCALES / f"{domain}.pot", buffer.getvalue())
        for lang in languages():
            path = LOCALES / lang / "LC_MESSAGES" / f"{domain}.po"
            if path.exists():
                with path.open("rb") as handle:
                    catalog = read_po(handle, locale=lang, domain=domain)
            else:
                catalog = Catalog(locale=lang, domain=domain, project="Mahfil")
            # update() shares Message objects with the template: give each language its own.
            catalog.update(copy.deepcopy(pot), no_fuzzy_matching=True)
            _fix_plurals(catalog, lang)
            catalog.fuzzy = False  # the header; entries keep their own flags
            catalog.project, catalog.version = "Mahfil", "1"
            if lang == "en":  # the source language translates to itself
                for message in catalog:
                    strings = message.string if isinstance(message.string, tuple | list) \
                        else (message.string,)
                    if message.id and not all(strings):
                        message.string = message.id
            buffer = io.BytesIO()
            write_po(buffer, catalog, no_location=True, sort_output=True,
                     ignore_obsolete=True, width=100)
            if _write_if_changed(path, buffer.getvalue()):
                print(f"updated {path.relative_to(ROOT)}")


def _write_if_changed(path: Path, content: bytes) -> bool:
    """Write unless only the creation date or Babel's version differs: no churn in every
    catalog per run (or per machine)."""
    def dateless(data: bytes) -> list[bytes]:
        return [line for line in data.splitlines()
                if not line.startswith((b'"POT-Creation-Date', b'"Generated-By'))]

    if path.exists() and dateless(path.read_bytes()) == dateless(content):
        return False
    path.write_bytes(content)
    return True


def compile_all() -> None:
    for path in sorted(LOCALES.glob("*/LC_MESSAGES/*.po")):
        with path.open("rb") as handle:
            catalog = read_po(handle, locale=path.parts[-3])
        with path.with_suffix(".mo").open("wb") as handle:
            write_mo(handle, catalog, use_fuzzy=False)
    print(f"compiled {len(list(LOCALES.glob('*/LC_MESSAGES/*.mo')))} catalogs")


def init(lang: str) -> None:
    (LOCALES / lang / "LC_MESSAGES").mkdir(parents=True, exist_ok=True)
    update()


def main(argv: list[str]) -> int:
    if argv[:1] == ["update"]:
        update()
    elif argv[:1] == ["compile"]:
        compile_all()
    elif argv[:1] == ["init"] and len(argv) == 2:
        init(argv[1])
    else:
        print(__doc__)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
