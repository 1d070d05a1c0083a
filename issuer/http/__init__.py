"""The aiohttp adapter: requests in, OAuth responses out (DESIGN §4)."""
