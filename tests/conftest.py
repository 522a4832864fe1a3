"""Fixtures for the whole suite, as plugins: the proxy process (`proxy_process`), the server rig
(`server_kit`) and the fault suite's rig (`fault_kit`).

Helper modules live at the top of tests/ (on `pythonpath`, see pyproject.toml) and are imported by
name; fixtures come in through `pytest_plugins`, never through imports of a conftest.
"""

pytest_plugins = ["proxy_process", "server_kit", "fault_kit", "redis_server"]
