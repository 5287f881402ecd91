"""Names and identifiers: people, organisations, villages, valid USCCs, ID and phone numbers.

Personal numbers exist only in memory here; the loader writes their hashes, ciphertexts and
masked forms.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np

from georeg.ids import USCC_ALPHABET, resident_id_check_char, uscc_check_char
from importers.demo.entities import Entities
from importers.demo.geography import Geography
from importers.demo.parameters import (
    BIRTH_DAYS,
    BIRTH_FIRST,
    BUYER,
    COOPERATIVE,
    COOPERATIVE_SUFFIX,
    CROPS,
    ENTERPRISE,
    ENTERPRISE_SUFFIX,
    FAMILY_FARM,
    GIVEN,
    LARGE_GROWER,
    MOBILE_PREFIXES,
    RESIDENT_REGIONS,
    SMALLHOLDER,
    SURNAME_WEIGHTS,
    SURNAMES,
    TRADE_NAMES,
    USCC_PREFIX,
    VILLAGES_PER_TOWNSHIP,
    Crop,
)


def _people(rng: np.random.Generator, n: int) -> list[str]:
    p = np.array(SURNAME_WEIGHTS) / sum(SURNAME_WEIGHTS)
    s = rng.choice(len(SURNAMES), n, p=p).tolist()
    g1 = rng.integers(0, len(GIVEN), n).tolist()
    g2 = rng.integers(0, len(GIVEN), n).tolist()
    two = (rng.random(n) < 0.7).tolist()
    return [SURNAMES[a] + GIVEN[b] + (GIVEN[c] if t else "")
            for a, b, c, t in zip(s, g1, g2, two, strict=True)]


def _name_stream(rng: np.random.Generator) -> Iterator[str]:
    while True:
        yield from _people(rng, 1024)


def _unique_ints(rng: np.random.Generator, n: int, high: int) -> np.ndarray:
    """n distinct integers below `high`, redrawing duplicates (USCC and ID number are unique)."""
    values = rng.integers(0, high, n)
    while True:
        _, first = np.unique(values, return_index=True)
        dup = np.ones(n, dtype=bool)
        dup[first] = False
        if not dup.any():
            return values
        values[dup] = rng.integers(0, high, int(dup.sum()))


def _usccs(rng: np.random.Generator, prefixes: list[str], counties: list[str]) -> list[str]:
    """Valid, distinct codes: authority+category, county division code, 'MA' + 7 characters."""
    base = len(USCC_ALPHABET)
    serial = _unique_ints(rng, len(prefixes), base**7)
    digits = np.stack([(serial // base**i) % base for i in range(6, -1, -1)], axis=1)
    alphabet = np.array(list(USCC_ALPHABET))
    out = []
    for p, c, d in zip(prefixes, counties, alphabet[digits].tolist(), strict=True):
        first17 = p + c + "MA" + "".join(d)
        out.append(first17 + uscc_check_char(first17))
    return out


def _resident_ids(rng: np.random.Generator, regions: list[str]) -> list[str]:
    """Valid, distinct 18-digit numbers: region, birth date 1950-2000, sequence, check digit."""
    n = len(regions)
    key = _unique_ints(rng, n, BIRTH_DAYS * 999)  # distinct (birth date, sequence) per run
    births = np.datetime_as_string(BIRTH_FIRST + (key // 999).astype("timedelta64[D]"))
    out = []
    for region, birth, seq in zip(regions, births.tolist(), (key % 999 + 1).tolist(),
                                  strict=True):
        first17 = f"{region}{birth.replace('-', '')}{seq:03d}"
        out.append(first17 + resident_id_check_char(first17))
    return out


def _mobiles(rng: np.random.Generator, n: int) -> list[str]:
    prefix = rng.choice(MOBILE_PREFIXES, n).tolist()
    rest = rng.integers(0, 10**8, n).tolist()
    return [f"{p}{r:08d}" for p, r in zip(prefix, rest, strict=True)]


@dataclass
class Identity:
    """Text columns of the entities, and the personal numbers (memory only)."""

    names: list[str]
    uscc: list[str | None]
    legal: list[str | None]
    contact: list[str | None]
    village: list[str]
    address: list[str]
    resident_id: list[str | None]
    phone: list[str | None]
    key_supervision: np.ndarray


def _org_names(kind: int, crop: Crop, county: str, town: str, village: str, person: str,
               a: int, b: int) -> Iterator[str]:
    """Name candidates for a registered organisation, most usual first; the caller takes the
    first one not yet used. Trade names (字号) step through all pairs of TRADE_NAMES last."""
    pairs = (TRADE_NAMES[(a + i) % len(TRADE_NAMES)]
             + TRADE_NAMES[(a + i + b + j) % len(TRADE_NAMES)]
             for i in range(len(TRADE_NAMES)) for j in range(len(TRADE_NAMES) - 1))
    if kind == ENTERPRISE:
        yield from (f"{county}{p}{ENTERPRISE_SUFFIX[crop.category]}" for p in pairs)
    elif kind == COOPERATIVE:  # most are named after their village
        suffix = COOPERATIVE_SUFFIX[crop.category]
        yield f"{county}{town}{village[:-1]}{suffix}"
        yield from (f"{county}{town}{p}{suffix}" for p in pairs)
    elif kind == FAMILY_FARM:
        yield f"{person}家庭农场"
        yield f"{county}{town}{person}家庭农场"
        yield from (f"{county}{town}{p}家庭农场" for p in pairs)
    else:  # buyer
        yield f"{person}{crop.zh}收购点"
        yield f"{town}{village}{person}{crop.zh}收购点"
        yield from (f"{town}{p}{crop.zh}收购点" for p in pairs)
    raise RuntimeError("演示主体名称已用尽")


def _identities(geo: Geography, ent: Entities, rng: np.random.Generator,
                key_risk: set[str]) -> Identity:
    n = len(ent)
    kinds, towns, crops = ent.kind.tolist(), ent.town.tolist(), ent.crop.tolist()
    person, contact = _people(rng, n), _people(rng, n)
    trade_a = rng.integers(0, len(TRADE_NAMES), n).tolist()
    trade_b = rng.integers(1, len(TRADE_NAMES), n).tolist()  # an offset: never the same char
    village_pick = rng.integers(0, VILLAGES_PER_TOWNSHIP, n).tolist()
    house = rng.integers(1, 200, n).tolist()
    names, legal, contacts, villages, addresses = [], [], [], [], []
    taken: set[str] = set()  # registered names are unique; people's names need not be
    for i, (k, t, c) in enumerate(zip(kinds, towns, crops, strict=True)):
        county, town = geo.county_labels[t], geo.short_names[t]
        village = geo.villages[t][village_pick[i]]
        if k in (LARGE_GROWER, SMALLHOLDER):
            names.append(person[i])
        else:
            names.append(next(n for n in _org_names(k, CROPS[c], county, town, village,
                                                    person[i], trade_a[i], trade_b[i])
                              if n not in taken))
            taken.add(names[-1])
        legal.append(None if k == SMALLHOLDER else person[i])
        # The owner answers for a family farm or a large grower; firms name a contact.
        contacts.append(None if k == SMALLHOLDER else
                        person[i] if k in (FAMILY_FARM, LARGE_GROWER) else contact[i])
        villages.append(village)
        addresses.append(f"{county}{town}{village}{house[i]}号")

    producer_or_buyer = [i for i, k in enumerate(kinds) if k != SMALLHOLDER]
    codes = _usccs(rng, [USCC_PREFIX[kinds[i]] for i in producer_or_buyer],
                   [geo.codes[towns[i]][:6] for i in producer_or_buyer])
    uscc: list[str | None] = [None] * n
    for i, code in zip(producer_or_buyer, codes, strict=True):
        uscc[i] = code
    small = [i for i, k in enumerate(kinds) if k == SMALLHOLDER]
    region = rng.choice(RESIDENT_REGIONS, len(small)).tolist()
    regions = [r if geo.province_part[towns[i]] else geo.codes[towns[i]][:6]
               for i, r in zip(small, region, strict=True)]
    resident_id: list[str | None] = [None] * n
    for i, rid in zip(small, _resident_ids(rng, regions), strict=True):
        resident_id[i] = rid
    phone: list[str | None] = list(_mobiles(rng, n))
    # Producers with a key-risk main commodity are watched more closely.
    risky = np.array([CROPS[c].slug in key_risk for c in crops])
    key_supervision = (ent.kind < BUYER) & risky & (rng.random(n) < 0.25)
    return Identity(names=names, uscc=uscc, legal=legal, contact=contacts, village=villages,
                    address=addresses, resident_id=resident_id, phone=phone,
                    key_supervision=key_supervision)
