"""Identifier rules: unified social credit code, project code, unit number.

The rules are those of GB 32100-2015 (credit codes: 18 characters, check character
with weights 3^i mod 31), GB/T 40058-2021 (project codes: shape and division) and
GB/T 37346-2019 (unit numbers: 28 characters, the first 19 the parcel code).
Validators return ``None`` when the value is valid and a short English sentence
naming the broken rule otherwise, so the edge can put that sentence in a
BAD_USER_INPUT error.
"""

from __future__ import annotations

import re

CREDIT_ALPHABET = "0123456789ABCDEFGHJKLMNPQRTUWXY"
_CREDIT_VALUE = {ch: i for i, ch in enumerate(CREDIT_ALPHABET)}
_CREDIT_WEIGHTS = tuple(pow(3, i, 31) for i in range(17))

# Divisions the hub accepts: Hunan province (43xxxx) is the zone's world.
HENGYANG = "430400"

# re.ASCII: \d would otherwise accept full-width and other Unicode digits (２０２３);
# \Z, not $: $ also matches before a trailing newline.
_PROJECT_CODE = re.compile(r"^(\d{4})-(\d{6})-(\d{2})-(\d{2})-(\d{6})\Z", re.ASCII)
_UNIT_NUMBER = re.compile(r"^(\d{6})(\d{3})(\d{3})([GJZ][A-Z])(\d{5})([FLQW])(\d{8})\Z", re.ASCII)


def credit_check_char(first17: str) -> str:
    """The GB 32100-2015 check character for the first 17 characters."""
    total = sum(_CREDIT_VALUE[ch] * w for ch, w in zip(first17, _CREDIT_WEIGHTS, strict=True))
    c = 31 - total % 31
    return CREDIT_ALPHABET[0 if c == 31 else c]


def credit_code_problem(code: str) -> str | None:
    """Why ``code`` is not a valid unified social credit code, or None."""
    if len(code) != 18:
        return "a unified social credit code has 18 characters"
    bad = sorted({ch for ch in code if ch not in _CREDIT_VALUE})
    if bad:
        return f"characters {''.join(bad)!r} are not in the credit-code alphabet (no I, O, S, V, Z)"
    if not code[2:8].isdigit():
        return "characters 3-8 of a credit code are the administrative division (digits)"
    if credit_check_char(code[:17]) != code[17]:
        return "the check character does not match (GB 32100-2015)"
    return None


def project_code_problem(code: str) -> str | None:
    """Why ``code`` is not a valid investment project code, or None.

    The standard's check rule is not public, so only the shape
    (``YYYY-DDDDDD-GG-TT-NNNNNN``) and the division (Hunan, 43xxxx) are checked.
    """
    m = _PROJECT_CODE.match(code)
    if m is None:
        return "a project code is shaped YYYY-DDDDDD-NN-NN-NNNNNN (GB/T 40058-2021)"
    year, division = int(m.group(1)), m.group(2)
    if not 2000 <= year <= 2099:
        return "the project code's year is out of range"
    if not division.startswith("43"):
        return "the project code's division is not in Hunan (43xxxx)"
    return None


def unit_number_problem(number: str) -> str | None:
    """Why ``number`` is not a valid real-estate unit number, or None."""
    if _UNIT_NUMBER.match(number) is None:
        return "a real-estate unit number has 28 characters (GB/T 37346-2019)"
    return None


def parcel_code(unit_number: str) -> str:
    """The 19-character parcel code (宗地代码) a unit number starts with."""
    return unit_number[:19]
