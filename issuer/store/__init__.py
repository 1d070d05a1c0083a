"""Token stores: where opaque access tokens and refresh-token chains live, by hash only."""
