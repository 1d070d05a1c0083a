"""Gatekey's operator half: the resource model, the pure ``render`` and the object contract.

Imported as ``gatekey.operator`` (see the package-dir mapping in pyproject.toml).
"""
