"""User pools as Secrets hold them: ``htpasswd`` text (pure)."""


def parse_htpasswd(text: str) -> dict[str, str]:
    """``user:hash`` lines (blank lines and ``#`` comments ignored) -> user -> hash."""
    users: dict[str, str] = {}
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith("#") and ":" in line:
            user, _, hashed = line.partition(":")
            users[user] = hashed
    return users
