"""(0010,1010) Patient's Age as a number of years: the project's one reading of it.

The Age String (AS) value representation is ``nnnD``, ``nnnW``, ``nnnM`` or ``nnnY``: a number
of days, weeks, months or years (PS3.5 6.2, Table 6.2-1; "018M" is 18 months). pydicom only
validates the form (a regular expression) and no library turns it into years, so it is read
here by hand, once, for the metadata table and the reporting.
"""

from __future__ import annotations

import math
from numbers import Real
from typing import Any

#: Years per unit of an Age String: a day of a 365.25-day year, 7 such days, 1/12 year, a year.
YEARS_PER_UNIT = {"D": 1 / 365.25, "W": 7 / 365.25, "M": 1 / 12, "Y": 1.0}


def age_in_years(value: Any) -> float | None:
    """(0010,1010) Patient's Age as a number of years.

    ``"045Y"`` is 45, ``"120M"`` is 10 and ``"021M"`` 1.75 (months / 12), ``"052W"`` and
    ``"365D"`` just under 1 (weeks x 7 or days / 365.25). SIIM writes a bare number
    (``"38"``) instead of the standard's ``"038Y"``: a bare number is years, also when a
    table read back from CSV holds it as a number. Case and surrounding spaces are
    ignored. Anything else (empty, negative, a decimal text, another unit) gives ``None``.

    Returns:
        Whole years as an ``int``, else years rounded to 4 decimals; ``None`` if unknown.
    """
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, Real):
        years = float(value)
        if not math.isfinite(years) or years < 0:
            return None
    else:
        text = str(value).strip().upper()
        unit = YEARS_PER_UNIT.get(text[-1:]) if text else None
        digits = text[:-1] if unit is not None else text
        if not (digits.isascii() and digits.isdigit()):
            return None
        years = int(digits) * (unit if unit is not None else 1.0)
    return int(years) if float(years).is_integer() else round(years, 4)
