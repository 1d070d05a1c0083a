"""The Kubernetes adapter of the operator: kopf handlers and the API writes they make.

Handlers gather inputs from kopf indexes, call the pure ``render`` for the
namespace, and apply the result (docs/contract.md). Nothing here is imported by
the pure modules (model, render, contract, signing_keys).
"""
