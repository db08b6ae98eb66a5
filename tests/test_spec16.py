"""The OCPP 1.6 facts table: the §4.9 matrix as printed in the spec, connector 0, defaults, units."""

from ocpp.v16.enums import ChargePointStatus, UnitOfMeasure

from workbench import spec16

# The 53 codes of the §4.9 table, read off ocpp16-facts.md §1 (checked there against the PDF).
SPEC_CODES = {
    "A2", "A3", "A4", "A5", "A7", "A8", "A9",
    "B1", "B3", "B4", "B5", "B6", "B9",
    "C1", "C4", "C5", "C6", "C8", "C9",
    "D1", "D3", "D5", "D6", "D8", "D9",
    "E1", "E3", "E4", "E6", "E8", "E9",
    "F1", "F2", "F8", "F9",
    "G1", "G2", "G8", "G9",
    "H1", "H2", "H3", "H4", "H5", "H9",
    "I1", "I2", "I3", "I4", "I5", "I6", "I7", "I8",
}


def test_matrix_has_the_53_codes_of_the_spec():
    assert len(spec16.ALLOWED_TRANSITIONS) == 53
    assert set(spec16.ALLOWED_TRANSITIONS.values()) == SPEC_CODES


def test_codes_name_from_and_to_in_spec_order():
    assert spec16.ALLOWED_TRANSITIONS[("Available", "Preparing")] == "A2"
    assert spec16.ALLOWED_TRANSITIONS[("Preparing", "Finishing")] == "B6"  # errata v3.0
    assert spec16.ALLOWED_TRANSITIONS[("Faulted", "Unavailable")] == "I8"
    assert ("Charging", "Preparing") not in spec16.ALLOWED_TRANSITIONS
    assert spec16.transition_code("Charging", "Reserved") == "C7"
    assert spec16.transition_code("Charging", "Charging") is None
    assert spec16.transition_code("Charging", "Sleeping") is None


def test_statuses_come_from_the_ocpp_package():
    assert set(spec16.STATUS_ORDER) == {s.value for s in ChargePointStatus}
    assert len(spec16.STATUS_ORDER) == 9


def test_connector0_statuses():
    assert spec16.CONNECTOR0_STATUSES == {"Available", "Unavailable", "Faulted"}


def test_skipped_state_changes_are_13_of_the_19_outside_the_table():
    outside = {(a, b) for a in spec16.STATUS_ORDER for b in spec16.STATUS_ORDER
               if a != b and (a, b) not in spec16.ALLOWED_TRANSITIONS}
    assert len(outside) == 19
    assert spec16.SKIPPED_STATE_TRANSITIONS < outside
    errors = {spec16.transition_code(a, b) for a, b in outside - spec16.SKIPPED_STATE_TRANSITIONS}
    assert errors == {"B7", "C7", "D7", "E7", "F7", "H7"}
    # Charging -> Preparing skips Finishing (C6 then F2).
    assert ("Charging", "Preparing") in spec16.SKIPPED_STATE_TRANSITIONS


def test_defaults_and_units():
    assert spec16.DEFAULT_MEASURAND == "Energy.Active.Import.Register"
    assert (spec16.DEFAULT_CONTEXT, spec16.DEFAULT_LOCATION, spec16.DEFAULT_FORMAT) == (
        "Sample.Periodic", "Outlet", "Raw")
    assert spec16.default_unit("Energy.Active.Import.Register") == "Wh"
    assert spec16.default_unit("Energy.Reactive.Import.Register") == "varh"
    assert spec16.default_unit("Power.Active.Import") == "W"
    assert spec16.default_unit("Power.Factor") is None
    assert spec16.default_unit("Current.Import") == "A"
    assert spec16.default_unit("Voltage") == "V"
    assert spec16.UNIT_NORMALISATION["kWh"] == ("Wh", 1000.0)
    assert spec16.UNIT_NORMALISATION["kW"] == ("W", 1000.0)
    assert spec16.UNIT_NORMALISATION["Celcius"] == ("Celsius", 1.0)
    # Every unit of the ocpp package has a normalisation.
    assert {u.value for u in UnitOfMeasure} <= set(spec16.UNIT_NORMALISATION)
