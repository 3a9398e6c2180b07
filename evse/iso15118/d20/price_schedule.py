"""The price schedule a Scheduled ScheduleExchangeRes may carry (ISO 15118-20 8.3.5.3.40
ChargingScheduleType: AbsolutePriceSchedule or PriceLevelSchedule, a choice the XSD makes
optional, minOccurs="0").

A free station sends none (the default). Some cars insist on one (the `iso15118`
package's EVCC refuses a ChargingSchedule without it), so `[[iso15118]] price_schedule`
offers either: "absolute" (one price rule for the whole schedule: `price_per_kwh` in
`price_currency`, PriceAlgorithm 1-Power) or "price_levels" (level `price_level` of
`price_levels`). Pure: the configured offer and the schedule's anchor and duration in,
the generated EXI classes out.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Final, Literal

from evse.iso15118.d20.rational import from_float
from evse.iso15118.exi._generated.common_types import (
    AbsolutePriceScheduleType,
    PriceLevelScheduleEntryListType,
    PriceLevelScheduleEntryType,
    PriceLevelScheduleType,
    PriceRuleStackListType,
    PriceRuleStackType,
    PriceRuleType,
)

PRICE_ALGORITHM_POWER: Final = "urn:iso:std:iso:15118:-20:PriceAlgorithm:1-Power"
PRICE_SCHEDULE_ID: Final = 1


@dataclass(frozen=True, slots=True)
class PriceOffer:
    kind: Literal["absolute", "price_levels"]
    currency: str = "EUR"  # ISO 4217, 3 letters (Currency: string, maxLength 3)
    language: str = "eng"  # ISO 639-2 (Language: string, maxLength 3)
    per_kwh: float = 0.0  # absolute: EnergyFee, in `currency` per kWh
    levels: int = 1  # price levels: NumberOfPriceLevels (unsignedByte)
    level: int = 0  # ... and the one of this schedule (0 = the cheapest)


def price_fields(offer: PriceOffer | None, anchor: int, duration_s: int) -> dict[str, Any]:
    """The ChargingScheduleType fields of `offer` for one schedule: {} without one."""
    if offer is None:
        return {}
    if offer.kind == "price_levels":
        entry = PriceLevelScheduleEntryType(Duration=duration_s, PriceLevel=offer.level)
        return {"PriceLevelSchedule": PriceLevelScheduleType(
            TimeAnchor=anchor, PriceScheduleID=PRICE_SCHEDULE_ID,
            NumberOfPriceLevels=offer.levels,
            PriceLevelScheduleEntries=PriceLevelScheduleEntryListType(
                PriceLevelScheduleEntry=[entry]))}
    # One rule from 0 W for the whole schedule: the fee per kWh, whatever the power.
    rule = PriceRuleType(EnergyFee=from_float(offer.per_kwh), PowerRangeStart=from_float(0.0))
    return {"AbsolutePriceSchedule": AbsolutePriceScheduleType(
        TimeAnchor=anchor, PriceScheduleID=PRICE_SCHEDULE_ID, Currency=offer.currency,
        Language=offer.language, PriceAlgorithm=PRICE_ALGORITHM_POWER,
        PriceRuleStacks=PriceRuleStackListType(PriceRuleStack=[
            PriceRuleStackType(Duration=duration_s, PriceRule=[rule])]))}
