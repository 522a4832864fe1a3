"""The bridges' tests: after the run, how many objects and events tests/conformance.py validated."""

import conformance


def pytest_terminal_summary(terminalreporter):
    if conformance.total():
        kinds = ", ".join(f"{kind} {n}" for kind, n in conformance.COUNTS.most_common())
        terminalreporter.write_line(f"conformance: {conformance.total()} objects and events validated ({kinds})")
