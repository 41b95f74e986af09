"""The options executor's settings: `TRADIER_OPTIONS` (JSON) in the environment, with the legacy
config.json `tradier_options` / `tradierOptions` section's keys over it for the local user.
Names are accepted in snake_case or the original's camelCase; every value is checked at start-up."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from pydantic import AliasChoices, BaseModel, ConfigDict, Field, ValidationError, field_validator


def _names(*names: str) -> Any:
    return AliasChoices(*names)


class OptionsSettings(BaseModel):
    model_config = ConfigDict(frozen=True, populate_by_name=True, extra="ignore", allow_inf_nan=False)

    #: the nearest expiration at least this many days away is chosen when the alert names none
    #: (1: never a same-day expiry by accident)
    min_days_to_expiry: int = Field(1, ge=0, le=365, validation_alias=_names("min_days_to_expiry",
                                                                               "minDaysToExpiry"))
    #: how far (percent of the strike asked for, or of the underlying's price for at-the-money) the
    #: chosen listed strike may be
    strike_tolerance_percent: Decimal = Field(Decimal(5), ge=0, le=50, validation_alias=_names(
        "strike_tolerance_percent", "strikeTolerancePercent", "strikeTolerance"))
    #: the entry limit is the ask plus this percent (rounded up to the tick): room to be filled
    entry_limit_offset_percent: Decimal = Field(Decimal(2), ge=0, le=50, validation_alias=_names(
        "entry_limit_offset_percent", "entryLimitOffsetPercent", "entryLimitOffset"))
    #: exits when the alert has no stop_loss_percent / take_profit_percent (of the entry price)
    stop_loss_percent: Decimal = Field(Decimal(50), gt=0, lt=100, validation_alias=_names(
        "stop_loss_percent", "stopLossPercent", "slPercent"))
    take_profit_percent: Decimal = Field(Decimal(100), gt=0, le=1000, validation_alias=_names(
        "take_profit_percent", "takeProfitPercent", "tpPercent"))
    #: share of the option buying power when the alert gives no size, position_size_usd or quantity
    #: (None: such an alert is refused)
    size_percent: Decimal | None = Field(None, gt=0, le=100, validation_alias=_names("size_percent",
                                                                                    "sizePercent"))
    #: OCC roots in the penny program ($0.01 ticks below $3.00, $0.05 above; rules.py)
    penny_pilot_roots: frozenset[str] = Field(frozenset({"SPY", "QQQ", "IWM"}), validation_alias=_names(
        "penny_pilot_roots", "pennyPilotRoots"))
    # used by the options monitor, which follows each trade until it is closed
    #: when positions may be held (signals/trading_window.py presets: 24/5, ny-session, ...)
    trading_window: str = Field("ny-session", validation_alias=_names("trading_window", "tradingWindow"))
    #: close open positions at market once outside the trading window
    auto_close_outside_window: bool = Field(False, validation_alias=_names("auto_close_outside_window",
                                                                           "autoCloseOutsideWindow"))
    #: close a position this many minutes before its expiration day's close (0: hold to expiry)
    expiry_cutoff_minutes: int = Field(30, ge=0, le=390, validation_alias=_names("expiry_cutoff_minutes",
                                                                                 "expiryCutoffMinutes"))

    @field_validator("trading_window")
    @classmethod
    def _window(cls, value: str) -> str:
        from sparky.signals.trading_window import PRESETS

        if value not in PRESETS or value == "custom":
            raise ValueError(f"must be one of {', '.join(p for p in PRESETS if p != 'custom')}")
        return value

    @field_validator("penny_pilot_roots", mode="before")
    @classmethod
    def _roots(cls, value: Any) -> Any:
        if isinstance(value, str):
            value = [part for part in value.replace(" ", ",").split(",") if part]
        if not isinstance(value, list | tuple | set | frozenset):
            raise ValueError("must be a list of option roots like [\"SPY\", \"QQQ\"]")
        return frozenset(str(v).strip().upper() for v in value)

    def over(self, section: dict[str, Any], source: str = "config.json tradier_options section") -> OptionsSettings:
        """These settings with `section`'s option keys over them (validated together); ValueError
        naming `source` and each bad key as `section` wrote it."""
        names = {alias: name for name, info in type(self).model_fields.items()
                 for alias in getattr(info.validation_alias, "choices", ())}
        given = {names[k]: v for k, v in section.items() if k in names}
        if not given:
            return self
        try:
            return type(self).model_validate({**self.model_dump(), **given})
        except ValidationError as err:  # one line per bad key, named as the section wrote it
            spelled = {names[k]: k for k in section if k in names}
            problems = [f"{spelled.get(str(e['loc'][0]), e['loc'][0])}: {str(e['msg']).removeprefix('Value error, ')}"
                        for e in err.errors()]
            raise ValueError(f"{source}: " + "; ".join(problems)) from None

    def snapshot(self) -> dict[str, Any]:
        """What a trade row's `config_snapshot` keeps (JSON: numbers as strings)."""
        data = self.model_dump(mode="json")
        data["penny_pilot_roots"] = sorted(self.penny_pilot_roots)
        return data
