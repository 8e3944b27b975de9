"""Offline benchmarks of imagine-bot against the fake Discord and the reAPI simulator (``python -m bench``)."""
