"""Gemini's `Schema` (a subset of OpenAPI 3.0, types in upper case) -> the JSON Schema Chat tools and formats take.

Gemini takes a tool's parameters either as `parametersJsonSchema` (JSON Schema, passed on as it is)
or as `parameters`, a `Schema` object (gemini.md 2): `type` is `STRING|NUMBER|INTEGER|BOOLEAN|ARRAY|
OBJECT|NULL`, `nullable: true` says null is allowed too, `example` is one example, `propertyOrdering`
is a hint to Gemini's decoder. The same subset is `responseSchema`. And Gemini CLI sends its model
router's `responseJsonSchema` with upper-case types as well (gemini.md 7), which Gemini accepts and a
JSON Schema validator does not: so every schema going to a Chat upstream goes through `to_json_schema`.

- `type` is lower-cased (a list of types each), and `nullable: true` adds `"null"` to it (or, on a
  schema without a type, makes it `anyOf` itself and null);
- `example` becomes `examples: [example]`; `propertyOrdering` is dropped (Chat providers order
  properties as declared, which is what it asks for);
- every other keyword is JSON Schema's own and goes as it is, sub-schemas (`properties`, `items`,
  `anyOf`, `oneOf`, `allOf`, `prefixItems`, `$defs`, `not`, `additionalProperties`) converted the same way.
"""

from __future__ import annotations

from typing import Any

_SUBSCHEMA_MAPS = ("properties", "$defs", "definitions", "patternProperties")
_SUBSCHEMA_LISTS = ("anyOf", "oneOf", "allOf", "prefixItems")
_SUBSCHEMAS = ("items", "additionalProperties", "not", "if", "then", "else", "contains", "propertyNames")


def to_json_schema(schema: Any) -> Any:
    """A Gemini `Schema` (or JSON Schema with upper-case types) as JSON Schema; anything else as it is."""
    if not isinstance(schema, dict):
        return schema
    out: dict = {}
    for key, value in schema.items():
        if key == "type":
            out["type"] = _type(value)
        elif key == "nullable" or key == "propertyOrdering":
            continue
        elif key == "example":
            out.setdefault("examples", [value])
        elif key in _SUBSCHEMA_MAPS and isinstance(value, dict):
            out[key] = {name: to_json_schema(sub) for name, sub in value.items()}
        elif key in _SUBSCHEMA_LISTS and isinstance(value, list):
            out[key] = [to_json_schema(sub) for sub in value]
        elif key in _SUBSCHEMAS:
            out[key] = to_json_schema(value)
        else:
            out[key] = value
    if schema.get("nullable") is True:
        kind = out.get("type")
        if isinstance(kind, str):
            out["type"] = [kind, "null"]
        elif isinstance(kind, list):
            out["type"] = [*kind, "null"] if "null" not in kind else kind
        else:
            return {"anyOf": [out, {"type": "null"}]}
    return out


def _type(value: Any) -> Any:
    if isinstance(value, str):
        return value.lower()
    if isinstance(value, list):
        return [v.lower() if isinstance(v, str) else v for v in value]
    return value


# --- proto3 JSON names -------------------------------------------------------------------------------

# Values that are the client's own data, never Gemini's field names: tool arguments and results, and
# JSON Schemas (whose keys are JSON Schema's own, and property names the client chose).
_OPAQUE = frozenset({"args", "response", "parametersJsonSchema", "responseJsonSchema", "example", "default", "enum"})
# Gemini `Schema`s: their keywords may come in snake_case too, but the names under `properties` are the client's.
_SCHEMAS = frozenset({"parameters", "responseSchema"})


def camel_case(value: Any, schema: bool = False) -> Any:
    """A Gemini request with every field name in lowerCamelCase, as Gemini reads both (proto3 JSON).

    The google-genai Python SDK writes some nested names in snake_case (`inlineData.mime_type`,
    `thinkingConfig.include_thoughts`, a `Schema`'s `max_length`); the bridge reads one spelling.
    What the client wrote as data is left alone: function arguments and results, JSON Schemas, the
    property names of a `Schema`.
    """
    if isinstance(value, list):
        return [camel_case(item, schema) for item in value]
    if not isinstance(value, dict):
        return value
    out = {}
    for key, item in value.items():
        name = _camel(key) if "_" in key else key
        if name in _OPAQUE:
            out[name] = item
        elif schema and name == "properties" and isinstance(item, dict):
            out[name] = {prop: camel_case(sub, True) for prop, sub in item.items()}
        else:
            out[name] = camel_case(item, schema or name in _SCHEMAS)
    return out


def _camel(key: str) -> str:
    head, *rest = key.split("_")
    return head + "".join(word[:1].upper() + word[1:] for word in rest) if rest and head else key
