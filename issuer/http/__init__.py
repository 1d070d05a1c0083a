"""The aiohttp adapter: requests in, OAuth responses out (docs/api.md)."""
