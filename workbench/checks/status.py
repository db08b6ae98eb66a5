"""Connector status checks: the §4.9 transition table, connector 0, error codes (OCPP 1.6 ed.2 §4.9, §7.6, §7.7).

Rules (see shared/reference/ocpp16-facts.md (beside the repository) §1):

* The first status of a connector after a BootNotification or on a new connection may be anything
  (after a reconnect the charge point reports only its current status; after a boot it SHALL report
  every connector, [ERR] §3.22).
* A repeated status is not a violation (it may carry a new errorCode or info).
* A change outside the table is an **error**, unless one short transient status in between
  (Preparing, Charging, SuspendedEV, SuspendedEVSE, Finishing) explains it: a charge point MAY omit
  statuses shorter than MinimumStatusDuration, so that is a **warning** ("skipped state"). The
  facts file says "transitions outside the table [...] following MinimumStatusDuration gaps [are]
  warnings"; with one transient status skipped, 13 of the 19 changes outside the table qualify and
  only the 6 into Reserved from anything but Available stay errors.
* B6 (Preparing -> Finishing) is allowed: it was added by errata v3.0 and is in edition 2.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from .. import spec16
from ._support import as_int, clean, seqs
from .registry import CheckConfig, Finding, check

EV_COMMUNICATION_STATUSES = frozenset({"Preparing", "SuspendedEV", "SuspendedEVSE", "Finishing"})


@check("status_transition", clause="OCPP 1.6 ed.2 §4.9 (connector status transitions table)")
def status_transition(cap: Any, config: CheckConfig) -> Iterator[Finding]:
    """Status changes of a connector (>0) that the §4.9 table does not allow (skipped states: warning)."""
    st = cap.status
    if len(st) == 0:
        return
    previous_seq = st.groupby(["charge_point_id", "connector_id"], dropna=False, sort=False)["seq"].shift(1)
    bad = (st["allowed"].eq(False).fillna(False) & (st["connector_id"] > 0).fillna(False)
           & ~st["first_after_boot"]).to_numpy(dtype=bool)
    rows = st[bad]
    for ts, cp, connector, before, after, code, seq, prev in zip(
            rows["ts"].tolist(), rows["charge_point_id"].tolist(), rows["connector_id"].tolist(),
            rows["previous_status"].tolist(), rows["status"].tolist(), rows["transition"].tolist(),
            rows["seq"].tolist(), previous_seq[bad].tolist()):
        skipped = (before, after) in spec16.SKIPPED_STATE_TRANSITIONS
        if skipped:
            message = (f"connector {connector}: {before} -> {after} ({code}) is not in the §4.9 table; "
                       f"a short status in between was probably not reported (MinimumStatusDuration)")
        else:
            message = f"connector {connector}: {before} -> {after} ({code}) is not allowed by the §4.9 table"
        yield Finding("status_transition", "warning" if skipped else "error", clean(ts), clean(cp),
                      as_int(connector), None, message, seqs(prev, seq))


@check("status_connector0", clause="OCPP 1.6 ed.2 §4.9 (connector 0 reports only Available, Unavailable, Faulted)")
def status_connector0(cap: Any, config: CheckConfig) -> Iterator[Finding]:
    """Connector 0 (the main controller) reporting a status other than Available, Unavailable or Faulted."""
    st = cap.status
    if len(st) == 0:
        return
    bad = ((st["connector_id"] == 0).fillna(False) & st["status"].notna()
           & ~st["status"].isin(list(spec16.CONNECTOR0_STATUSES))).to_numpy(dtype=bool)
    rows = st[bad]
    for ts, cp, status, seq in zip(rows["ts"].tolist(), rows["charge_point_id"].tolist(),
                                   rows["status"].tolist(), rows["seq"].tolist()):
        yield Finding("status_connector0", "error", clean(ts), clean(cp), 0, None,
                      f"connector 0 reported {status}; it may only report Available, Unavailable or Faulted",
                      seqs(seq))


@check("status_error_code", clause="OCPP 1.6 ed.2 §7.6 ChargePointErrorCode (EVCommunicationError), §4.9")
def status_error_code(cap: Any, config: CheckConfig) -> Iterator[Finding]:
    """EVCommunicationError with a status other than Preparing/SuspendedEV/SuspendedEVSE/Finishing (warning),
    and other error codes reported with an operative status (info: the charger reports a warning)."""
    st = cap.status
    if len(st) == 0:
        return
    has_error = (st["error_code"].notna() & (st["error_code"] != "NoError")).to_numpy(dtype=bool)
    rows = st[has_error]
    for ts, cp, connector, status, code, info, seq in zip(
            rows["ts"].tolist(), rows["charge_point_id"].tolist(), rows["connector_id"].tolist(),
            rows["status"].tolist(), rows["error_code"].tolist(), rows["info"].tolist(), rows["seq"].tolist()):
        detail = f" ({info})" if clean(info) else ""
        if code == "EVCommunicationError" and status not in EV_COMMUNICATION_STATUSES:
            yield Finding("status_error_code", "warning", clean(ts), clean(cp), as_int(connector), None,
                          f"connector {clean(connector)}: EVCommunicationError with status {status}; it is only "
                          f"defined for Preparing, SuspendedEV, SuspendedEVSE and Finishing{detail}", seqs(seq))
        elif status != "Faulted":
            yield Finding("status_error_code", "info", clean(ts), clean(cp), as_int(connector), None,
                          f"connector {clean(connector)}: {status} with error code {code}{detail}", seqs(seq))
