"""The embedded default: the issuer on a folder of manifests, no cluster (docs/operations.md)."""
