"""`switchyard demo`: the whole path, with no key and no network.

A built-in mock model (`mock.py`) listens on loopback and is as strict as a real Chat provider of
the DashScope kind: an unknown top-level field or the `developer` role is a 400 in the provider's
own error shape. The demo serves the shipped packs in front of it, sends Codex CLI's real first
request (`codex-turn1-request.json`, captured from Codex CLI 0.169.0; a copy of
tests/fixtures/codex-cli-0.169.0/turn1-request.json kept inside the package so an installed
Switchyard has it) through the running proxy, and prints each part of the path: what the client
sent, what each pack step changed, what the model received, and the stream the client got back.
"""
