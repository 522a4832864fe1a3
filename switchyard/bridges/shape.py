"""The JSON types a client's body must have where a bridge reads it: a wrong one is a 400, never a 500.

Both request translators (`chat_request.to_chat`, `responses_request.to_responses`) read nested client
values (tools, messages, content parts, formats). Each value they look into goes through one of these
first, so a body like `tools: ["x"]` is refused with a `RequestError` naming the parameter
(`param="tools[0]"`) rather than failing inside the translation with an AttributeError. `None` (an
absent or null field) is the caller's to allow: `optional=True` turns it into an empty value.
"""

from __future__ import annotations

from typing import Any

from switchyard.errors import RequestError


def obj(value: Any, param: str, *, optional: bool = False) -> dict:
    """`value` if it is a JSON object (`{}` for None when `optional`); else a 400 naming `param`."""
    if isinstance(value, dict):
        return value
    if optional and value is None:
        return {}
    raise RequestError(f"'{param}' must be an object.", param=param)


def array(value: Any, param: str, *, optional: bool = False) -> list:
    """`value` if it is a JSON array (`[]` for None when `optional`); else a 400 naming `param`."""
    if isinstance(value, list):
        return value
    if optional and value is None:
        return []
    raise RequestError(f"'{param}' must be an array.", param=param)


def text(value: Any, param: str, *, optional: bool = False) -> str | None:
    """`value` if it is a string (None stays None when `optional`); else a 400 naming `param`."""
    if isinstance(value, str) or (optional and value is None):
        return value
    raise RequestError(f"'{param}' must be a string.", param=param)
