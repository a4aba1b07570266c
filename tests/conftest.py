"""Test-wide setup: the sandbox's pytest plugin, loaded after coverage has started."""

pytest_plugins = ["runcomfy_async.sandbox.pytest_plugin"]
