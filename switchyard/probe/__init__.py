"""`switchyard probe`: learn what a provider accepts from real, tiny requests, and write the pack.

    catalogue (chat_requests.py, responses_requests.py) -> search (search.py)
        -> alternatives and stream (session.py) -> pack (draft.py, writer.py) -> report (report.py)

The modules, one concept each: `client` sends (bounded, polite, never showing the key), `features`
says what a feature of a body is, `chat_requests` and `responses_requests` list what real clients
send as such features, `search` finds the rejected ones by
bisection, `draft` holds the decisions and compiles them into a pack, `stream` reads a stream for
reasoning, usage and its end, `session` runs the whole probe, `writer` writes the pack text,
`report` says what was learnt. Only `switchyard.cli` imports this package.
"""
