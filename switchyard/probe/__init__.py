"""`switchyard probe`: learn what a provider accepts from real, tiny requests, and write the pack.

    catalogue (features.py) -> search (search.py) -> alternatives and stream (session.py) -> pack (writer.py)

The modules, one concept each: `client` sends (bounded, polite, never showing the key), `features`
is what real clients send as features a body can carry, `search` finds the rejected ones by
bisection, `draft` holds the decisions and compiles them into a pack, `stream` reads a stream for
reasoning, usage and its end, `session` runs the whole probe, `writer` writes the pack text,
`report` says what was learnt. Only `switchyard.cli` imports this package.
"""
