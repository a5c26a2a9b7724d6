"""Open vocabularies: how a user's own words (channels, kinds, industries, titles,
countries) are normalised before they are compared or grouped.

A CRM export says "Organic Search", "organic-search" or "ORGANIC_SEARCH"; a scoring file
says ``organic_search``. :func:`token` makes all of them one token, so matching never
depends on case, spaces, hyphens, underscores, accents or ``&`` versus ``and``.
:func:`country_code` reads a country given as an ISO code or by name.
"""

from __future__ import annotations

import re
import unicodedata
from functools import lru_cache
from typing import Any

import pycountry

__all__ = ["country_code", "token"]

_SEPARATORS = re.compile(r"[^a-z0-9]+")


@lru_cache(maxsize=16_384)
def token(value: str) -> str:
    """``value`` as a token: accents dropped, case folded, ``&`` read as ``and``, every
    run of other characters one underscore, none at either end.

    "Financial Services", "financial_services" and "Financial & Services" give
    ``financial_services`` and ``financial_and_services``; "Café Chat" gives
    ``cafe_chat``. A value with no Latin letter or digit (say, "—" or "Чат") gives "".
    """
    decomposed = unicodedata.normalize("NFKD", value)
    plain = "".join(c for c in decomposed if not unicodedata.combining(c))
    words = plain.casefold().replace("&", " and ")
    return _SEPARATORS.sub("_", words).strip("_")


@lru_cache(maxsize=4_096)
def country_code(value: str) -> str | None:
    """The ISO 3166-1 alpha-2 code of a country given by its alpha-2 or alpha-3 code,
    its name, official name or common name (any case); None when it is none of them."""
    text = value.strip()
    if not text:
        return None
    found: Any = None
    if len(text) == 2:
        found = pycountry.countries.get(alpha_2=text.upper())
    elif len(text) == 3:
        found = pycountry.countries.get(alpha_3=text.upper())
    if found is None:
        found = _by_name().get(token(text))
    return str(found.alpha_2) if found is not None else None


_COMMON_NAMES = {
    "uae": "AE", "emirates": "AE", "russia": "RU", "turkey": "TR", "uk": "GB",
    "great_britain": "GB", "britain": "GB", "england": "GB", "scotland": "GB",
    "wales": "GB", "northern_ireland": "GB", "holland": "NL", "ivory_coast": "CI",
    "macau": "MO", "palestine": "PS", "swaziland": "SZ", "burma": "MM", "cape_verde": "CV",
    "brunei": "BN", "micronesia": "FM", "vatican": "VA", "america": "US",
    "united_states_of_america": "US", "korea": "KR", "south_korea": "KR",
    "north_korea": "KP", "dr_congo": "CD", "drc": "CD", "congo_kinshasa": "CD",
    "congo_brazzaville": "CG", "east_timor": "TL", "macedonia": "MK",
}
"""Everyday English names a CRM export uses that ISO's names (pycountry) do not hold."""


@lru_cache(maxsize=1)
def _by_name() -> dict[str, Any]:
    names: dict[str, Any] = {
        name: pycountry.countries.get(alpha_2=code) for name, code in _COMMON_NAMES.items()}
    for country in pycountry.countries:
        for attribute in ("name", "official_name", "common_name"):
            name = getattr(country, attribute, None)
            if isinstance(name, str):
                names.setdefault(token(name), country)
    for country in pycountry.countries:  # "Bolivia, Plurinational State of": "bolivia"
        short = getattr(country, "name", "").split(",")[0]
        names.setdefault(token(short), country)
    return names
