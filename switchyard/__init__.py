"""Switchyard: the rule language (loader, paths, actions, packs, rule sets), the protocol
bridges (`switchyard.bridges`), and the sidecar server that applies them to requests and streams.

Nothing provider-specific lives here: providers are described by the packs in `rules/`.
"""
