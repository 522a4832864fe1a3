"""Switchyard: the rule language (loader, paths, actions, packs, rule sets), the protocol
bridges (`switchyard.bridges`), and the sidecar server that applies them to requests and streams.

Nothing provider-specific lives here: providers are described by the packs in `rules/` (shipped in the
wheel as `switchyard.rules`).
"""

# The one version (pyproject.toml reads it; `switchyard --version`, the image's label and `/-/rules` show it).
__version__ = "0.1.0"
