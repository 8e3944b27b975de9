"""Suite-wide fixtures: a real PostgreSQL server (started once) for the storage tests."""

pytest_plugins = ["tests.pg"]
