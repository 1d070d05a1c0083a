"""Gatekey's issuer: serves tokens from a Snapshot of the rendered objects.

Imported as ``gatekey.issuer`` (see the package-dir mapping in pyproject.toml).
"""
