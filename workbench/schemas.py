"""The ``ocpp`` package's OCPP 1.6 JSON schemas, compiled for validating a million payloads.

The authority is ``jsonschema.Draft4Validator`` on the package's ``ocpp/v16/schemas/*.json``,
used exactly as the ``ocpp`` package uses it (no format checker; the three schemas with
``multipleOf`` get their floats as ``decimal.Decimal``, as ``ocpp`` does). Draft4Validator costs
~100 us per MeterValues payload, too slow for a million frames, so each schema is also compiled
once into a small Python function (:class:`FastSchema`) that accepts only payloads it can prove
valid: it implements the keywords the 1.6 schemas use, and returns "not proven" for anything
else (an unknown keyword compiles to the slow path, a ``multipleOf`` number always goes to the
slow path). Only a payload the fast function does not accept is given to Draft4Validator, whose
errors are what the finding reports. So every frame is validated, and a finding always comes
from jsonschema itself. tests/checks/test_schema.py checks fast and slow agree on generated payloads.
"""

from __future__ import annotations

import decimal
import functools
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import jsonschema
import ocpp

SCHEMA_DIR = Path(ocpp.__file__).parent / "v16" / "schemas"
MAX_ERRORS_SHOWN = 3  # schema errors quoted in a frame's schema_error

_METADATA_KEYWORDS = frozenset({"$schema", "$id", "id", "title", "description", "javaType", "definitions"})


class _Unsupported(Exception):
    """A schema uses a keyword the fast compiler does not implement: use the slow path only."""


class FastSchema:
    """A schema compiled to Python: ``accepts(payload)`` is True only when the payload is valid.

    False means "not proven valid" (the caller asks Draft4Validator). Generated code mirrors
    Draft 4 semantics: a keyword constrains only instances of its own type; ``integer`` excludes
    floats and booleans; ``number`` excludes booleans; ``$ref`` replaces its siblings.
    """

    def __init__(self, schema: dict[str, Any]) -> None:
        self._root = schema
        self._lines: list[str] = []
        self._constants: dict[str, Any] = {}
        self._counter = 0
        self._emit(schema, "payload", 1)
        body = "\n".join("    " + line for line in self._lines)
        source = ("def accepts(payload):\n    try:\n" + body + "\n    except TypeError:\n        return False\n"
                  "    return True\n")
        namespace: dict[str, Any] = {**self._constants, "_MISSING": _MISSING}
        exec(compile(source, f"<fast schema {schema.get('title', '?')}>", "exec"), namespace)
        self.source = source
        self.accepts: Callable[[Any], bool] = namespace["accepts"]

    def _name(self, prefix: str) -> str:
        self._counter += 1
        return f"{prefix}{self._counter}"

    def _constant(self, value: Any) -> str:
        name = self._name("K")
        self._constants[name] = value
        return name

    def _resolve(self, node: dict[str, Any]) -> dict[str, Any]:
        seen = 0
        while "$ref" in node:
            ref = node["$ref"]
            if not isinstance(ref, str) or not ref.startswith("#/") or seen > 20:
                raise _Unsupported(f"$ref {ref!r}")
            target: Any = self._root
            for part in ref[2:].split("/"):
                target = target[part]
            node, seen = target, seen + 1
        return node

    # Leaf properties ({"type": "string"} with or without an enum, {"type": "integer"}) are the bulk of
    # every payload: each becomes one line. An absent property passes through the default; an enum is a
    # set of str plus the absent marker, so only a present str of the enum (or absence) passes, and an
    # unhashable value raises TypeError, which accepts() turns into "not proven".
    _LEAF_DEFAULTS = {"string": ('""', "str"), "integer": ("0", "int")}

    def _one_line_property(self, var: str, name: str, subschema: Any) -> str | None:
        if not isinstance(subschema, dict):
            return None
        leaf = self._resolve(subschema)
        keys = set(leaf) - _METADATA_KEYWORDS - {"format"}
        if leaf.get("type") == "string":
            keys.discard("additionalProperties")  # an object keyword: never applies to a str
        if keys == {"type", "enum"} and leaf["type"] == "string" and all(isinstance(v, str) for v in leaf["enum"]):
            allowed = self._constant(frozenset(leaf["enum"]) | {_MISSING})
            return f"if {var}.get({name!r}, _MISSING) not in {allowed}: return False"
        if keys == {"type"} and leaf["type"] in self._LEAF_DEFAULTS:
            default, exact = self._LEAF_DEFAULTS[leaf["type"]]
            return f"if {var}.get({name!r}, {default}).__class__ is not {exact}: return False"
        return None

    def _emit(self, node: Any, var: str, depth: int) -> None:
        if not isinstance(node, dict):
            raise _Unsupported("schema node is not an object")
        node = self._resolve(node)
        pad = "    " * depth
        keys = set(node) - _METADATA_KEYWORDS
        unknown = keys - {"type", "properties", "required", "additionalProperties", "enum", "maxLength",
                          "items", "minItems", "multipleOf", "format", "additionalItems"}
        if unknown:
            raise _Unsupported(", ".join(sorted(unknown)))
        lines = self._lines
        # Exact type tests (type(v) is dict): JSON decoding yields exact types, and a subclass (bool is
        # an int subclass) simply fails the fast test and goes to jsonschema.
        known_type = None
        if "type" in node:
            types = node["type"] if isinstance(node["type"], list) else [node["type"]]
            tests = [_TYPE_TESTS[t].format(v=var) for t in types if t in _TYPE_TESTS]
            if len(tests) != len(types):
                raise _Unsupported(f"type {node['type']!r}")
            lines.append(f"{pad}if not ({' or '.join(tests)}): return False")
            known_type = types[0] if len(types) == 1 else None
        if "enum" in node:
            values = node["enum"]
            if not all(isinstance(v, str) for v in values):
                raise _Unsupported("non-string enum")
            guard = "" if known_type == "string" else f"type({var}) is not str or "
            lines.append(f"{pad}if {guard}{var} not in {self._constant(frozenset(values))}: return False")
        if "maxLength" in node:
            guard = "" if known_type == "string" else f"type({var}) is str and "
            lines.append(f"{pad}if {guard}len({var}) > {int(node['maxLength'])}: return False")
        if "multipleOf" in node:
            # Float precision makes this jsonschema's call (with Decimal), never the fast path's.
            lines.append(f"{pad}if type({var}) is int or type({var}) is float: return False")
        # "format" is not checked: Draft4Validator without a format checker ignores it (as ocpp does).
        # Keywords of another type than the one already required can never apply: emit nothing.
        if {"properties", "required", "additionalProperties"} & keys and known_type in (None, "object"):
            inner = pad
            if known_type != "object":
                lines.append(f"{pad}if type({var}) is dict:")
                inner = pad + "    "
                lines.append(f"{inner}pass")
            for name in node.get("required", []):
                lines.append(f"{inner}if {name!r} not in {var}: return False")
            additional = node.get("additionalProperties", True)
            properties = node.get("properties", {})
            if additional is False:
                lines.append(f"{inner}if not {self._constant(frozenset(properties))}.issuperset({var}): return False")
            elif additional is not True:
                raise _Unsupported("additionalProperties schema")
            for name, subschema in properties.items():
                one_line = self._one_line_property(var, name, subschema)
                if one_line is not None:
                    lines.append(f"{inner}{one_line}")
                    continue
                child = self._name("v")
                lines.append(f"{inner}{child} = {var}.get({name!r}, _MISSING)")
                lines.append(f"{inner}if {child} is not _MISSING:")
                self._emit(subschema, child, len(inner) // 4 + 1)
        if {"items", "minItems"} & keys and known_type in (None, "array"):
            inner = pad
            if known_type != "array":
                lines.append(f"{pad}if type({var}) is list:")
                inner = pad + "    "
                lines.append(f"{inner}pass")
            if "minItems" in node:
                lines.append(f"{inner}if len({var}) < {int(node['minItems'])}: return False")
            if "items" in node:
                if not isinstance(node["items"], dict):
                    raise _Unsupported("tuple items")
                child = self._name("v")
                lines.append(f"{inner}for {child} in {var}:")
                self._emit(node["items"], child, len(inner) // 4 + 1)
        # additionalItems only matters with tuple "items", which raise _Unsupported above.


_MISSING = object()
_TYPE_TESTS = {
    "object": "type({v}) is dict",
    "array": "type({v}) is list",
    "string": "type({v}) is str",
    "integer": "type({v}) is int",
    "number": "type({v}) is int or type({v}) is float",
    "boolean": "type({v}) is bool",
    "null": "{v} is None",
}


class SchemaValidator:
    """One 1.6 schema: a fast acceptance test and the authoritative Draft4Validator."""

    def __init__(self, name: str, schema_text: str) -> None:
        self.name = name
        self.uses_decimal = '"multipleOf"' in schema_text
        # As ocpp.messages does: the multipleOf schemas (and their payloads) read floats as Decimal.
        schema = json.loads(schema_text, parse_float=decimal.Decimal if self.uses_decimal else float)
        self.validator = jsonschema.Draft4Validator(schema)
        try:
            self.fast: FastSchema | None = FastSchema(schema)
        except _Unsupported:
            self.fast = None

    def errors(self, payload: Any) -> list[str]:
        """Draft4Validator's error messages for ``payload`` ([] when valid), each with its JSON path."""
        if self.fast is not None and self.fast.accepts(payload):
            return []
        return self.slow_errors(payload)

    def slow_errors(self, payload: Any) -> list[str]:
        try:  # a payload nested too deep for Python's recursion is a finding, not a crash
            instance = _decimals(payload) if self.uses_decimal else payload
            found = sorted(self.validator.iter_errors(instance), key=lambda e: list(e.absolute_path))
        except (RecursionError, TypeError, ValueError) as exc:
            return [f"payload cannot be validated: {type(exc).__name__}"]
        return [_describe(e) for e in found]


def _decimals(value: Any) -> Any:
    """Floats as Decimal (from their repr), as ``ocpp`` parses them for the multipleOf schemas."""
    if isinstance(value, float):
        return decimal.Decimal(repr(value))
    if isinstance(value, dict):
        return {k: _decimals(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_decimals(v) for v in value]
    return value


def _describe(error: jsonschema.ValidationError) -> str:
    path = "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in error.absolute_path)
    message = error.message if len(error.message) <= 200 else error.message[:200] + "..."
    return f"{path.lstrip('.') or '(payload)'}: {message}"


@functools.lru_cache(maxsize=None)
def schema_validator(action: str, response: bool) -> SchemaValidator | None:
    """The validator of ``action``'s request (or response) schema; None when 1.6 has no such action."""
    name = f"{action}Response" if response else action
    if not name.isidentifier():
        return None
    path = SCHEMA_DIR / f"{name}.json"
    try:
        with open(path, encoding="utf-8-sig") as fh:
            text = fh.read()
        return SchemaValidator(name, text)
    except (OSError, ValueError):
        return None


def summarize(errors: list[str]) -> str:
    """The first :data:`MAX_ERRORS_SHOWN` errors, then how many more: the frames table's ``schema_error``."""
    shown = "; ".join(errors[:MAX_ERRORS_SHOWN])
    if len(errors) > MAX_ERRORS_SHOWN:
        shown += f" (+{len(errors) - MAX_ERRORS_SHOWN} more)"
    return shown


def known_actions() -> frozenset[str]:
    """Actions the ``ocpp`` package has 1.6 request schemas for (core, profiles and security extension)."""
    return frozenset(p.stem for p in SCHEMA_DIR.glob("*.json") if not p.stem.endswith("Response"))


__all__ = ["SCHEMA_DIR", "FastSchema", "SchemaValidator", "known_actions", "schema_validator", "summarize"]
