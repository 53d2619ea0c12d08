"""How retrospective rounds every figure it reports (reports, customer goals, the dashboard, the
rectification list): half up, as a person reading it would, to one decimal unless asked. A root
module, not a feature: every feature reports figures, none owns the rule. Pure."""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal
from fractions import Fraction


def round_half_up(value: Fraction | Decimal | float, places: int = 1) -> float:
    """Round as a person reading the report would (2.25 → 2.3), not as binary floats do."""
    exact = (
        Decimal(value.numerator) / Decimal(value.denominator) if isinstance(value, Fraction) else Decimal(str(value))
    )
    result = float(exact.quantize(Decimal(1).scaleb(-places), rounding=ROUND_HALF_UP))
    return result + 0.0  # turns -0.0 into 0.0


def percent(part: int, whole: int) -> float | None:
    """`part` as a percentage of `whole` to one decimal; None when there is nothing to divide."""
    if whole == 0:
        return None
    return round_half_up(Fraction(part * 100, whole))


def rounded(value: Fraction | Decimal | float | None, places: int = 1) -> float | None:
    """An average or median as reported; None when there was nothing to average."""
    return None if value is None else round_half_up(value, places)
