"""The shape of a pack file: what `switchyard check` validates and `switchyard schema` publishes.

Written once with the descriptors of `switchyard.language.validate`; steps are described by the action
table (`switchyard.language.actions.ARGS`), so a new action appears in the validator and in the JSON
Schema at once. The protocol names are a parameter: the rule language knows no protocol, and the
caller that does (`switchyard.packs`) passes the registry's names.
"""

from __future__ import annotations

import functools

from switchyard.language.actions import ARGS, DOCS, STEP_EXTRA_KEYS
from switchyard.language.validate import Any_, Bool, Int, List, Map, Num, Obj, OneOf, Steps, Str

PACK_NAME = r"[a-z0-9][a-z0-9-]*"
ENV_NAME = r"[A-Za-z_][A-Za-z0-9_]*"


@functools.cache
def pack_shape(protocols: tuple[str, ...] | None = None) -> Obj:
    """The shape of a pack file; `protocols`, when given, are the names `upstream.protocol` and a case's
    `client` may take (the caller that knows the protocols passes them: the rule language does not)."""
    protocol = (
        Str(enum=protocols, doc="what the upstream speaks")
        if protocols
        else Str(what="a protocol name", pattern=r"[a-z][a-z0-9_]*", doc="what the upstream speaks")
    )
    client = Str(enum=protocols) if protocols else Str(what="a protocol name", pattern=r"[a-z][a-z0-9_]*")
    url = Str(
        what="a URL",
        pattern=r"https?://\S+",
        env=True,
        doc="base URL; the protocol's path (/chat/completions, /responses, ...) is appended",
    )
    api_key = OneOf(
        Str(doc="sent as the upstream protocol takes a key (Authorization: Bearer <key> ...) when not empty"),
        List(Str(what="a key"), min_items=1),
        what="a key or a list of keys",
    )
    endpoint = Obj(
        {"url": url, "weight": Num(), "api_key": api_key},
        required=("url",),
        what="an endpoint (a mapping with url, and optionally weight and api_key)",
    )
    upstream = Obj(
        {
            "url": url,
            "endpoints": List(endpoint, min_items=1, what="a list of endpoints"),
            "protocol": protocol,
            "api_key": api_key,
            "affinity": Str(
                what="a JMESPath expression",
                doc="on the client's request: requests with the same value go to the same endpoint and key",
            ),
            "rest": Obj(
                {"after": Int(doc="consecutive failures before an endpoint rests (default 3)"), "for": Num()},
                what="a mapping with after (failures) and for (seconds)",
            ),
            "headers": Map(Str(), what="a mapping of header names to values"),
            "force_stream": Bool(),
            "forward_client_auth": Bool(),
            "retries": Int(
                doc="retries of a failed call before any byte reached the client (default 0)"
            ),  # without api_key: send the client's own credentials (default true)
            "timeout": Obj({"connect": Num(), "read": Num()}, what="a mapping with connect and read (seconds)"),
        },
        required=("protocol",),  # and one of url, endpoints: the compiler says which is missing or doubled
    )
    limit = Obj(
        {
            "per": Str(enum=("client", "pack"), doc="client: each client token (or address) apart; pack: all together"),
            "requests_per_minute": Int(),
            "tokens_per_minute": Int(doc="counted from the usage the provider reported"),
        },
        required=("per",),
        what="a limit (a mapping with per, and requests_per_minute or tokens_per_minute)",
    )

    test_case = Obj(
        {
            "name": Str(),
            "client": client,
            "stage": Str(enum=("request", "response")),
            "input": Any_(doc="the client's body (request stage) or one upstream event or body (response stage)"),
            "expect": Any_(doc="the whole result, exactly"),
            "includes": Any_(doc="a subset the result must contain"),
            "excludes": List(Str(what="a path")),
        },
        required=("name", "input"),
        what="a test case",
    )

    return Obj(
        {
            "pack": Str(what="a pack name (lowercase letters, digits and '-')", pattern=PACK_NAME),
            "description": Str(),
            "priority": Int(doc="higher is tried first; ties by file name"),
            "match": Str(what="a JMESPath expression", doc="JMESPath on the client's request body as received"),
            "models": List(Str(what="a model name")),
            "upstream": upstream,
            "request": Steps(),
            "response": Steps(),
            "tests": List(test_case),
            "limits": List(limit, min_items=1, what="a list of limits"),
            "fallback": List(
                Obj({"pack": Str(what="a pack name", pattern=PACK_NAME), "model": Str()}, required=("pack",)),
            ),
        },
        required=("pack", "match", "upstream"),
        what="a pack (a mapping at the top of the file)",
    )


def json_schema(protocols: tuple[str, ...] | None = None) -> dict:
    """The JSON Schema of a pack file, for editors (yaml-language-server) and CI checks."""
    steps = []
    for name, arg in ARGS.items():
        props = {name: {**arg.json(), "description": DOCS[name]}, "match": STEP_EXTRA_KEYS["match"].json()}
        if name == "each":
            props["do"] = {"$ref": "#/$defs/steps"}
        if name == "do":
            props["do"] = {"$ref": "#/$defs/steps"}
        required = [name, "do"] if name == "each" else [name]  # the compiler refuses an `each` without `do`
        steps.append({"type": "object", "properties": props, "required": required, "additionalProperties": False})
    schema = pack_shape(protocols).json()
    # the compiler refuses a case with none of the three checks; Obj cannot say "one of these keys"
    schema["properties"]["tests"]["items"]["anyOf"] = [{"required": [k]} for k in ("expect", "includes", "excludes")]
    # likewise: an upstream has a url or endpoints (not both), a limit at least one of its two rates
    schema["properties"]["upstream"]["oneOf"] = [{"required": ["url"]}, {"required": ["endpoints"]}]
    rates = ("requests_per_minute", "tokens_per_minute")
    schema["properties"]["limits"]["items"]["anyOf"] = [{"required": [k]} for k in rates]
    schema["properties"]["request"] = {"$ref": "#/$defs/steps"}
    schema["properties"]["response"] = {"$ref": "#/$defs/steps"}
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "title": "Switchyard rule pack",
        **schema,
        "$defs": {"steps": {"type": "array", "items": {"$ref": "#/$defs/step"}}, "step": {"oneOf": steps}},
    }
