"""Which configured secrets a server may start with.

A server reachable from other machines (HOST is not a loopback address) or run with
SPARKY_ENV=production must not accept a secret anyone could guess: the placeholder values of
`config.example.json` and `.env.example`, `changeme` and the like, or anything shorter than
MIN_SECRET_LENGTH. A server on 127.0.0.1 only answers this machine, so short secrets keep working
there for trying Sparky out. Secrets Sparky generates itself (none configured) are always long.
"""

from __future__ import annotations

import ipaddress

#: 16 characters of a random token are out of reach of guessing over HTTP; words are not
MIN_SECRET_LENGTH = 16

PLACEHOLDER_SECRETS = frozenset(
    {"", "changeme", "change-me", "change_me", "secret", "password", "xxx", "todo", "placeholder",
     "your-secret-here", "your_webhook_secret", "your-webhook-secret", "your_secret_here"}
)
#: the shapes of example values in documentation and sample files
PLACEHOLDER_PREFIXES = ("your", "replace", "change-me", "change_me", "changeme", "example", "<", "${")

HOW_TO_CHOOSE = "use long random values (python3 -c 'import secrets; print(secrets.token_urlsafe(32))')"


def is_placeholder(value: str | None) -> bool:
    if value is None:
        return True
    v = value.strip().lower()
    return v in PLACEHOLDER_SECRETS or v.startswith(PLACEHOLDER_PREFIXES)


def is_loopback(host: str) -> bool:
    """True when a server bound to `host` answers this machine only."""
    if host.strip().lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip().strip("[]")).is_loopback
    except ValueError:
        return False  # a host name resolving elsewhere, or a LAN name: assume it is reachable


def weak_secret_problems(secrets: dict[str, str | None]) -> list[str]:
    """One sentence per configured secret (name → value; None = not configured) that is guessable."""
    problems = []
    for name, value in secrets.items():
        if value is None:
            continue
        if is_placeholder(value):
            problems.append(f"{name} is a placeholder")
        elif len(value.strip()) < MIN_SECRET_LENGTH:
            problems.append(f"{name} is shorter than {MIN_SECRET_LENGTH} characters")
    return problems


def refuse_guessable_secrets(secrets: dict[str, str | None], *, host: str, production: bool) -> None:
    """Raise ValueError naming every guessable secret when the server is exposed or in production.

    `secrets` maps the setting's name to its value, None when not configured; in production the
    webhook secret and the admin token must be configured (generated ones are for trying Sparky).
    """
    exposed = not is_loopback(host)
    if not (production or exposed):
        return
    problems = weak_secret_problems(secrets)
    if production:
        if secrets.get("WEBHOOK_SECRET") is None and secrets.get("config.json webhookSecret") is None:
            problems.insert(0, "WEBHOOK_SECRET (or config.json webhookSecret) is not set")
        if secrets.get("ADMIN_TOKEN") is None:
            problems.append("ADMIN_TOKEN is not set")
        if problems:
            raise ValueError(f"refusing to start in production: {'; '.join(problems)}; {HOW_TO_CHOOSE}")
    elif problems:
        raise ValueError(
            f"refusing to listen on {host}, which other machines can reach, with guessable secrets: "
            f"{'; '.join(problems)}; {HOW_TO_CHOOSE}, leave WEBHOOK_SECRET and ADMIN_TOKEN unset to have "
            "Sparky generate them, or set HOST=127.0.0.1 to try Sparky on this machine only"
        )
