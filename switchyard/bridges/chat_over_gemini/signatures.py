"""Gemini's thought signatures, carried through clients that have no field for them: in the tool call id.

Gemini signs the parts of its answers (`thoughtSignature`, bytes as base64, a sibling of `functionCall`)
and, for Gemini 3, refuses the next turn with a 400 unless the first `functionCall` of every model step
of the current turn comes back with the signature it carried. A Chat client returns exactly three things
of an assistant turn unchanged: its text, its tool calls' names and arguments, and their ids. The id is
the one a client never edits, and it reaches the other clients too: a Responses client's `call_id` and a
Messages client's `tool_use` id are the Chat id through the composed bridges. So the signature rides in
the id:

    <base>                                  a call Gemini did not sign
    <base>__thought__<signature, base64url> a signed call

`base` is Gemini's own `functionCall.id` when it sent one, else one made here (`call_<hex>`), which is
never echoed back to Gemini (ids go back only where Gemini gave them). The signature is written in the
URL-safe alphabet without padding, so the whole id matches `[A-Za-z0-9_-]+`, the pattern Anthropic's
clients hold `tool_use` ids to; `decode` restores the standard alphabet and padding (the same bytes,
which is what Gemini compares). LiteLLM uses the same separator, so histories made through it read the
same way (its signature part is in the standard alphabet; `decode` takes both).
"""

from __future__ import annotations

import re
from collections.abc import Callable

from switchyard.ids import new_id

SEPARATOR = "__thought__"
MADE_HERE = re.compile(r"^call_[0-9a-f]+$")  # an id this bridge made up: Gemini never saw it

_TO_URLSAFE = str.maketrans("+/", "-_")
_TO_STANDARD = str.maketrans("-_", "+/")


def encode(call_id: object, signature: object, ids: Callable[[str], str] = new_id) -> str:
    """The Chat tool call id for a `functionCall` with Gemini's `id` (or None) and its signature (or None)."""
    base = call_id if isinstance(call_id, str) and call_id else ids("call")
    if not isinstance(signature, str) or not signature:
        return base
    return base + SEPARATOR + signature.translate(_TO_URLSAFE).rstrip("=")


def decode(chat_id: str) -> tuple[str | None, str | None]:
    """(Gemini's `functionCall.id` or None, the signature or None) of a Chat tool call id."""
    base, separator, signature = chat_id.partition(SEPARATOR)
    gemini_id = None if MADE_HERE.match(base) or not base else base
    if not separator or not signature:
        return gemini_id, None
    signature = signature.translate(_TO_STANDARD)
    return gemini_id, signature + "=" * (-len(signature) % 4)
