"""The simulated energy meter of one connector, and the SampledValues it reports.

Power is piecewise constant: it changes only when the simulator says so. The meter integrates it
exactly over wall-clock time and counts whole watt-hours, like a real meter's Wh register: the
sub-Wh remainder is carried, never lost. ``counted_wh`` is the true energy counted since the
meter was made and is never reset, so the ground truth stays right even when the simulator is
told to reset or mislabel the register it reports.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Iterable

from ocpp.v16.enums import Location, Measurand, Phase, ReadingContext, UnitOfMeasure

SUPPORTED_MEASURANDS = (
    Measurand.energy_active_import_register,
    Measurand.power_active_import,
    Measurand.current_import,
    Measurand.voltage,
)
_LINE_PHASES = (Phase.l1, Phase.l2, Phase.l3)
_LINE_TO_NEUTRAL = (Phase.l1_n, Phase.l2_n, Phase.l3_n)


class Meter:
    """Energy meter: ``register_wh`` (whole Wh, as reported), ``power_w`` (W, now)."""

    def __init__(self, register_wh: int, at: dt.datetime) -> None:
        self.register_wh = register_wh
        self.counted_wh = 0
        """Whole Wh counted since creation; unaffected by :meth:`reset_register` (the truth)."""
        self.power_w = 0.0
        self._fraction_wh = 0.0
        self._last = at

    @property
    def updated_at(self) -> dt.datetime:
        """The instant the register was last brought up to date."""
        return self._last

    def advance(self, now: dt.datetime) -> int:
        """Integrate the current power up to ``now``; returns the whole Wh added to the register."""
        elapsed_s = (now - self._last).total_seconds()
        if elapsed_s <= 0:
            return 0
        self._last = now
        self._fraction_wh += self.power_w * elapsed_s / 3600.0
        whole = math.floor(self._fraction_wh)
        self._fraction_wh -= whole
        self.register_wh += whole
        self.counted_wh += whole
        return whole

    def set_power(self, now: dt.datetime, power_w: float) -> None:
        """Account for the old power up to ``now``, then draw ``power_w`` (W) from ``now`` on.
        Setting the same power again changes nothing (the register is not even brought up to date)."""
        power_w = max(0.0, float(power_w))
        if power_w == self.power_w:
            return
        self.advance(now)
        self.power_w = power_w

    def reset_register(self) -> None:
        """The register restarts at 0 (a faulty meter); the counted truth goes on."""
        self.register_wh = 0


def register_text(register_wh: int, *, kwh_as_wh: bool = False) -> str:
    """The register as a SampledValue string: whole Wh, or (the fault) kWh with 3 decimals."""
    if kwh_as_wh:
        return f"{register_wh / 1000:.3f}"
    return str(register_wh)


def sampled_values(
    measurands: Iterable[str],
    *,
    register_wh: int,
    power_w: float,
    phases: int,
    voltage_v: float,
    context: ReadingContext | str,
    kwh_as_wh: bool = False,
) -> list[dict[str, str]]:
    """SampledValue dicts (OCPP field names) for the measurands asked, in the order asked.

    Energy register in Wh (or, with ``kwh_as_wh``, kWh numbers labelled Wh), power in W,
    Current.Import per line phase in A (power / phases / voltage), Voltage per phase in V.
    Measurands this meter does not have are skipped.
    """
    context = ReadingContext(context).value
    per_phase_current_a = power_w / phases / voltage_v if phases else 0.0
    values: list[dict[str, str]] = []
    for measurand in measurands:
        common = {"context": context, "measurand": measurand, "location": Location.outlet.value}
        if measurand == Measurand.energy_active_import_register:
            text = register_text(register_wh, kwh_as_wh=kwh_as_wh)
            values.append({"value": text, **common, "unit": UnitOfMeasure.wh.value})
        elif measurand == Measurand.power_active_import:
            values.append({"value": f"{power_w:.1f}", **common, "unit": UnitOfMeasure.w.value})
        elif measurand == Measurand.current_import:
            for phase in _LINE_PHASES[:phases]:
                text = f"{per_phase_current_a:.2f}"
                values.append({"value": text, **common, "phase": phase.value, "unit": UnitOfMeasure.a.value})
        elif measurand == Measurand.voltage:
            for phase in _LINE_TO_NEUTRAL[:phases]:
                values.append(
                    {"value": f"{voltage_v:.1f}", **common, "phase": phase.value, "unit": UnitOfMeasure.v.value}
                )
    return values
