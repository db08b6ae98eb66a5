"""OCPP 1.6 facts the analysis encodes, written down once.

Values come from the ``ocpp`` package's enums (``ocpp.v16.enums``), never retyped; the tables here
are the parts of the spec that package does not model: the connector status transition table
(OCPP 1.6 edition 2 §4.9), the connector-0 statuses (§4.9), the SampledValue defaults (§7.45) and
how units scale to one base unit per quantity. Sources and disagreements are noted where they
matter; see shared/reference/ocpp16-facts.md (beside the repository) sections 1 and 4.
"""

from __future__ import annotations

from ocpp.v16.enums import (ChargePointStatus, Location, Measurand, ReadingContext, Reason, UnitOfMeasure,
                             ValueFormat)

# The spec's row/column order of §4.9: letter A..I for the "from" status, digit 1..9 for "to".
STATUS_ORDER: tuple[str, ...] = (
    ChargePointStatus.available.value,
    ChargePointStatus.preparing.value,
    ChargePointStatus.charging.value,
    ChargePointStatus.suspended_ev.value,
    ChargePointStatus.suspended_evse.value,
    ChargePointStatus.finishing.value,
    ChargePointStatus.reserved.value,
    ChargePointStatus.unavailable.value,
    ChargePointStatus.faulted.value,
)
STATUSES = frozenset(STATUS_ORDER)
STATUS_LETTER = {status: "ABCDEFGHI"[i] for i, status in enumerate(STATUS_ORDER)}
STATUS_DIGIT = {status: str(i + 1) for i, status in enumerate(STATUS_ORDER)}

# §4.9 table, one row per "from" status: the "to" digits that are allowed. 53 cells.
# B6 (Preparing -> Finishing, "timed out") was added by errata v3.0 (§3.20) and is absent from
# the original 1.6 FINAL (2015); edition 2 includes it, and so do we.
_ALLOWED_DIGITS = {
    "A": "2345789",      # Available -> Preparing, Charging, SuspEV, SuspEVSE, Reserved, Unavailable, Faulted
    "B": "134569",       # Preparing -> Available, Charging, SuspEV, SuspEVSE, Finishing, Faulted
    "C": "145689",       # Charging -> Available, SuspEV, SuspEVSE, Finishing, Unavailable, Faulted
    "D": "135689",       # SuspendedEV -> Available, Charging, SuspEVSE, Finishing, Unavailable, Faulted
    "E": "134689",       # SuspendedEVSE -> Available, Charging, SuspEV, Finishing, Unavailable, Faulted
    "F": "1289",         # Finishing -> Available, Preparing, Unavailable, Faulted
    "G": "1289",         # Reserved -> Available, Preparing, Unavailable, Faulted
    "H": "123459",       # Unavailable -> Available, Preparing, Charging, SuspEV, SuspEVSE, Faulted
    "I": "12345678",     # Faulted -> everything but Faulted
}
ALLOWED_TRANSITIONS: dict[tuple[str, str], str] = {
    (from_status, to_status): STATUS_LETTER[from_status] + STATUS_DIGIT[to_status]
    for from_status in STATUS_ORDER
    for to_status in STATUS_ORDER
    if STATUS_DIGIT[to_status] in _ALLOWED_DIGITS[STATUS_LETTER[from_status]]
}


def transition_code(from_status: str, to_status: str) -> str | None:
    """The §4.9 code of a status change ("A2" = Available -> Preparing), whether or not the table
    allows it; None when either side is not a ChargePointStatus or the status did not change."""
    if from_status == to_status or from_status not in STATUSES or to_status not in STATUSES:
        return None
    return STATUS_LETTER[from_status] + STATUS_DIGIT[to_status]


# Statuses that can be short enough to be left out under MinimumStatusDuration: the steps of a
# session. Available, Reserved, Unavailable and Faulted are not: each is a state the connector
# rests in (and through Faulted, which the table lets go anywhere, every change would be "explained").
TRANSIENT_STATUSES = frozenset({
    ChargePointStatus.preparing.value,
    ChargePointStatus.charging.value,
    ChargePointStatus.suspended_ev.value,
    ChargePointStatus.suspended_evse.value,
    ChargePointStatus.finishing.value,
})


def _one_skipped_state() -> frozenset[tuple[str, str]]:
    """Changes outside the table that become allowed when exactly one short (transient) status in
    between was not reported (§4.9: a charge point MAY omit statuses shorter than
    MinimumStatusDuration). Of the 19 changes outside the table, 13 qualify; the 6 into Reserved
    from anything but Available (B7 C7 D7 E7 F7 H7) do not."""
    pairs = set()
    for (a, b) in ALLOWED_TRANSITIONS:
        if b not in TRANSIENT_STATUSES:
            continue
        for (b2, c) in ALLOWED_TRANSITIONS:
            if b == b2 and a != c and (a, c) not in ALLOWED_TRANSITIONS:
                pairs.add((a, c))
    return frozenset(pairs)


# Not in the table, but explained by one skipped intermediate status: a warning, not an error.
SKIPPED_STATE_TRANSITIONS = _one_skipped_state()

# §4.9: connector 0 (the charge point's main controller) only reports these.
CONNECTOR0_STATUSES = frozenset({
    ChargePointStatus.available.value,
    ChargePointStatus.unavailable.value,
    ChargePointStatus.faulted.value,
})
# Statuses in which the connector has an EV plugged in and a transaction normally runs.
SUSPENDED_STATUSES = frozenset({ChargePointStatus.suspended_ev.value, ChargePointStatus.suspended_evse.value})
CHARGING_STATUS = ChargePointStatus.charging.value

# §7.45 SampledValue defaults when a field is absent.
DEFAULT_MEASURAND = Measurand.energy_active_import_register.value
DEFAULT_CONTEXT = ReadingContext.sample_periodic.value
DEFAULT_LOCATION = Location.outlet.value
DEFAULT_FORMAT = ValueFormat.raw.value
# The spec contradicts itself on the unit default: §7.45 says "always Wh", §7.43 says Wh when the
# (default) measurand is an energy type. A missing unit on Power.Active.Import is a known charger
# deviation (W meant), so we read §7.43: the measurand's natural unit.
DEFAULT_UNIT = UnitOfMeasure.wh.value

# §6.46 / §7.36: a StopTransaction.req without reason means Local.
DEFAULT_STOP_REASON = Reason.local.value


def default_unit(measurand: str) -> str | None:
    """The unit assumed when a sampled value of ``measurand`` has none (see DEFAULT_UNIT)."""
    if measurand.startswith("Energy.Reactive"):
        return UnitOfMeasure.varh.value
    if measurand.startswith("Energy."):
        return UnitOfMeasure.wh.value
    if measurand in (Measurand.power_reactive_import.value, Measurand.power_reactive_export.value):
        return UnitOfMeasure.var.value
    if measurand.startswith("Power.") and measurand != Measurand.power_factor.value:
        return UnitOfMeasure.w.value
    if measurand.startswith("Current."):
        return UnitOfMeasure.a.value
    if measurand == Measurand.voltage.value:
        return UnitOfMeasure.v.value
    if measurand == Measurand.frequency.value:
        return "Hz"   # [ERR] §3.86: Frequency has no unit in the enum; Hertz is implied.
    if measurand == Measurand.temperature.value:
        return UnitOfMeasure.celsius.value
    if measurand == Measurand.soc.value:
        return UnitOfMeasure.percent.value
    return None


# unit as sent -> (normalised unit, factor): value_normalized = value * factor. Kilo-units scale
# to the base unit so energy is always Wh and power always W. "Celcius" is the original OCA schema
# spelling (still what [JERR] tells chargers to send); "Hertz" is accepted by mobilityhouse's schema.
UNIT_NORMALISATION: dict[str, tuple[str, float]] = {
    UnitOfMeasure.wh.value: ("Wh", 1.0),
    UnitOfMeasure.kwh.value: ("Wh", 1000.0),
    UnitOfMeasure.varh.value: ("varh", 1.0),
    UnitOfMeasure.kvarh.value: ("varh", 1000.0),
    UnitOfMeasure.w.value: ("W", 1.0),
    UnitOfMeasure.kw.value: ("W", 1000.0),
    UnitOfMeasure.va.value: ("VA", 1.0),
    UnitOfMeasure.kva.value: ("VA", 1000.0),
    UnitOfMeasure.var.value: ("var", 1.0),
    UnitOfMeasure.kvar.value: ("var", 1000.0),
    UnitOfMeasure.a.value: ("A", 1.0),
    UnitOfMeasure.v.value: ("V", 1.0),
    UnitOfMeasure.celsius.value: ("Celsius", 1.0),
    "Celcius": ("Celsius", 1.0),
    UnitOfMeasure.fahrenheit.value: ("Fahrenheit", 1.0),
    UnitOfMeasure.k.value: ("K", 1.0),
    UnitOfMeasure.percent.value: ("Percent", 1.0),
    "Hertz": ("Hz", 1.0),
    "Hz": ("Hz", 1.0),
}

# Measurands used for energy and power (names as in the spec).
ENERGY_IMPORT_REGISTER = Measurand.energy_active_import_register.value
POWER_IMPORT = Measurand.power_active_import.value
CURRENT_IMPORT = Measurand.current_import.value
VOLTAGE = Measurand.voltage.value
REGISTER_MEASURANDS = frozenset(m.value for m in Measurand if m.value.endswith(".Register"))

# Contexts of samples taken at a transaction's boundaries (§7.42).
TRANSACTION_BEGIN = ReadingContext.transaction_begin.value
TRANSACTION_END = ReadingContext.transaction_end.value
SAMPLE_PERIODIC = ReadingContext.sample_periodic.value
SAMPLE_CLOCK = ReadingContext.sample_clock.value

# Phase of a current and the voltage it pairs with when power = sum(I x U) per phase. The spec
# says Current uses L1..L3 and Voltage L1-N..L3-N; chargers swap them (a known deviation), so both
# spellings are accepted on both sides.
PHASE_LINE = {"L1": "L1", "L2": "L2", "L3": "L3", "L1-N": "L1", "L2-N": "L2", "L3-N": "L3"}

# §9.1 configuration keys (the plural spellings are common mistakes that we read too, but report).
METER_VALUE_SAMPLE_INTERVAL = "MeterValueSampleInterval"
METER_VALUE_SAMPLE_INTERVAL_MISSPELT = "MeterValuesSampleInterval"
HEARTBEAT_INTERVAL = "HeartbeatInterval"

# §3.7: messages a charge point queues while offline and delivers later with original timestamps.
TRANSACTION_ACTIONS = frozenset({"StartTransaction", "StopTransaction", "MeterValues"})
