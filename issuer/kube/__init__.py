"""Cluster mode: the issuer reads the operator's Secrets and ConfigMaps from the API server."""
