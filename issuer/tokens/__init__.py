"""Token minting: JWT access tokens, opaque tokens and the token response."""
