"""Fake upstream providers for tests: aiohttp apps as strict as the real providers are documented to be."""
