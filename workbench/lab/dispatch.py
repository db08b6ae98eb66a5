"""A faster request dispatch for the lab's ``ocpp`` charge points, with the library's own semantics.

``ocpp.ChargePoint._handle_call`` spends, per MeterValues request, about 95 us validating the request
with jsonschema, 44 us renaming every key of the payload with two regular expressions and 4 us
computing the handler's signature, against about 60 us that websockets needs to carry the request and
its answer: the lab CSMS answered at a third of the speed of a bare websockets loop, so a benchmark of
the replayer against it measured the lab, not the replayer (bench/replay.py).

:class:`FastDispatch` is a mixin for ``ocpp.v16.ChargePoint`` subclasses that replaces that one method
and keeps what it does, step by step, with three shortcuts that cannot change a result:

- validation: :class:`workbench.schemas.FastSchema` accepts only payloads it can prove valid against the
  same schema; anything else goes to the library's own ``validate_payload``, so every invalid request
  gets exactly the CALLERROR the library would send (tests/lab/test_dispatch.py compares the two);
- key renaming: the library's camelCase -> snake_case function applied once per distinct key (cached);
- the handler's signature: read once per handler;
- the answer's payload: the handler's dataclass turned into the camelCase dict in one pass
  (:func:`response_payload`), not ``dataclasses.asdict`` (which deep-copies every leaf) and two more walks:
  0.3 to 1.2 us per answer instead of 1.2 to 15.

Unknown actions (the library's own code answers them), the response's validation, the after-handlers
and the CALLERROR on a handler's exception behave as the library's. tests/lab/test_dispatch.py runs the
lab CSMS's handlers under both dispatches and compares what goes on the wire, so a change of
``ocpp``'s ``_handle_call`` that this copy misses fails a test.
"""

from __future__ import annotations

import asyncio
import dataclasses
import functools
import inspect
from collections.abc import Callable
from typing import Any

from ocpp.charge_point import camel_to_snake_case, remove_nones, serialize_as_dict, snake_to_camel_case
from ocpp.messages import Call, CallResult, validate_payload

from ..schemas import schema_validator


def snake_key(key: str) -> str:
    """``key`` renamed exactly as ``ocpp.charge_point.camel_to_snake_case`` renames a dict key."""
    name = _SNAKE.get(key)
    return name if name is not None else _rename(key, camel_to_snake_case, _SNAKE)


def camel_key(key: str) -> str:
    """``key`` renamed exactly as ``ocpp.charge_point.snake_to_camel_case`` renames a dict key."""
    name = _CAMEL.get(key)
    return name if name is not None else _rename(key, snake_to_camel_case, _CAMEL)


def _rename(key: str, library_rename: Callable[[dict[str, Any]], dict[str, Any]], cache: dict[str, str]) -> str:
    """``key`` as the library's dict renaming turns it, remembered in ``cache`` while it has room."""
    name = next(iter(library_rename({key: None})))
    if len(cache) < _KEYS_KEPT:
        cache[key] = name
    return name


def response_payload(response: Any) -> Any:
    """``snake_to_camel_case(remove_nones(serialize_as_dict(response)))``, the library's answer payload
    of a handler's result, in one pass with each distinct key renamed once. ``dataclasses.asdict``
    deep-copies every leaf; the payload's leaves (str, numbers, enums) are immutable and shared here.
    Anything but a dataclass instance of dataclasses, dicts, lists and scalars goes the library's way
    (and fails there as it would)."""
    if dataclasses.is_dataclass(response) and not isinstance(response, type):
        try:
            return _plain(response)
        except _Unusual:
            pass
    return snake_to_camel_case(remove_nones(serialize_as_dict(response)))


class _Unusual(Exception):
    """A value the one-pass conversion does not mirror (a tuple: asdict rebuilds it its own way)."""


_LEAVES = frozenset({str, int, float, bool, type(None)})
"""Exact types of JSON leaves: no renaming below them (checked before any isinstance)."""


def _plain(value: Any) -> Any:
    kind = type(value)
    if kind in _LEAVES or isinstance(value, (str, int, float)):  # (enums of OCPP are str subclasses)
        return value
    if hasattr(kind, "__dataclass_fields__"):  # a dataclass instance (a dataclass itself is a type)
        out = {}
        for name in value.__dataclass_fields__:
            item = _plain(getattr(value, name))
            if item is not None:
                out[camel_key(name)] = item
        return out
    if isinstance(value, dict):
        return {camel_key(key) if isinstance(key, str) else key: _plain(item) for key, item in value.items()
                if item is not None}
    if isinstance(value, list):
        return [_plain(item) for item in value if item is not None]
    if isinstance(value, tuple):
        raise _Unusual
    return value


_SNAKE: dict[str, str] = {}
_CAMEL: dict[str, str] = {}
_KEYS_KEPT = 4096
"""Renamed keys remembered in the plain dicts above (a peer could send any number of new keys)."""


def to_snake_case(data: Any) -> Any:
    """``camel_to_snake_case(data)`` with each distinct key renamed once (the same result)."""
    kind = type(data)
    if kind is dict or (kind is not list and isinstance(data, dict)):
        out = {}
        for key, value in data.items():
            name = _SNAKE.get(key) or snake_key(key)  # (the cache read inline: this runs once per key)
            out[name] = value if type(value) in _LEAVES else to_snake_case(value)
        return out
    if kind is list or isinstance(data, list):
        return [value if type(value) in _LEAVES else to_snake_case(value) for value in data]
    return data


async def validate_message(message: Call | CallResult, ocpp_version: str) -> None:
    """Raise what ``ocpp.messages.validate_payload`` raises for ``message`` (nothing when it is valid).

    A payload the compiled schema accepts is valid; only the others pay for jsonschema, through the
    library's own function (which also reads the multipleOf schemas' floats as Decimal, as it always does).
    """
    validator = schema_validator(message.action, isinstance(message, CallResult)) if ocpp_version == "1.6" else None
    fast = validator.fast if validator is not None else None
    if fast is not None and not validator.uses_decimal and fast.accepts(message.payload):
        return
    await validate_payload(message, ocpp_version)


@functools.lru_cache(maxsize=256)
def _wants_unique_id(function: Callable[..., Any]) -> bool:
    return "call_unique_id" in inspect.signature(function).parameters


def wants_unique_id(handler: Callable[..., Any]) -> bool:
    """Whether ``handler`` takes ``call_unique_id`` (as the library decides it), cached per function."""
    return _wants_unique_id(getattr(handler, "__func__", handler))


class FastDispatch:
    """Mixin (put it before ``ChargePoint``): ``_handle_call`` as the library's, without its hot costs."""

    route_map: dict[str, dict[str, Any]]
    _ocpp_version: str

    async def _handle_call(self, msg: Call) -> Any:
        handlers = self.route_map.get(msg.action)
        if handlers is None or "_on_action" not in handlers:
            return await super()._handle_call(msg)  # type: ignore[misc]  # the library's error for it
        validate = not handlers.get("_skip_schema_validation", False)
        if validate:
            await validate_message(msg, self._ocpp_version)
        snake_case_payload = to_snake_case(msg.payload)
        handler = handlers["_on_action"]
        try:
            if wants_unique_id(handler):
                response = handler(**snake_case_payload, call_unique_id=msg.unique_id)
            else:
                response = handler(**snake_case_payload)
            if inspect.isawaitable(response):
                response = await response
        except Exception as error:  # the library answers any handler failure with a CALLERROR
            self.logger.exception("Error while handling request '%s'", msg)  # type: ignore[attr-defined]
            await self._send(msg.create_call_error(error).to_json())  # type: ignore[attr-defined]
            return None
        payload = response_payload(response)
        result = msg.create_call_result(payload)
        if validate:
            await validate_message(result, self._ocpp_version)
        await self._send(result.to_json())  # type: ignore[attr-defined]
        try:
            after = handlers["_after_action"]
            if wants_unique_id(after):
                returned = after(**snake_case_payload, call_unique_id=msg.unique_id)
            else:
                returned = after(**snake_case_payload)
            if inspect.isawaitable(returned):
                asyncio.ensure_future(returned)  # as the library: an after-handler may itself call the peer
        except KeyError:  # as the library: no after-handler (it also swallows a KeyError raised by one)
            return result
        return returned
