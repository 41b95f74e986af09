"""Which source addresses may POST /webhook (`ALLOWED_IPS`), checked before the body is read.

The address is what uvicorn reports: the peer itself, or — when the peer is a trusted proxy
(`FORWARDED_ALLOW_IPS`, loopback by default) — the client its `X-Forwarded-For` names. Behind a
proxy that is not trusted every sender has the proxy's address, so a loopback address is never
allowed implicitly: that would let everyone through the proxy in.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass

import structlog

from sparky.errors import Forbidden

log = structlog.get_logger("sparky.webhook")

IpNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
IpAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

#: the addresses TradingView sends webhooks from (its published list; IPv4 only)
TRADINGVIEW_IPS = ("52.89.214.238", "34.212.75.30", "54.218.53.128", "52.32.178.7")
PRESETS = {"tradingview": TRADINGVIEW_IPS}


def parse_address(host: str | None) -> IpAddress | None:
    """The client's address, IPv4-mapped IPv6 (`::ffff:a.b.c.d`, dual-stack sockets) as IPv4;
    None when it is not an address at all."""
    try:
        address = ipaddress.ip_address((host or "").strip())
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


def parse_networks(text: str, *, setting: str, presets: bool = True, wildcard: bool = False) -> tuple[IpNetwork, ...]:
    """A comma list of addresses and CIDR blocks (and the `tradingview` preset) → networks.
    Every bad entry is refused with a message naming `setting`."""
    networks: list[IpNetwork] = []
    for part in (text or "").split(","):
        item = part.strip()
        if not item:
            continue
        if presets and item.lower() in PRESETS:
            networks.extend(ipaddress.ip_network(ip) for ip in PRESETS[item.lower()])
            continue
        if wildcard and item == "*":
            networks.extend((ipaddress.ip_network("0.0.0.0/0"), ipaddress.ip_network("::/0")))
            continue
        try:
            networks.append(ipaddress.ip_network(item, strict=True))
        except ValueError as err:
            kinds = "an IP address, a CIDR block such as 10.0.0.0/8" + (", or 'tradingview'" if presets else "") + \
                (", or '*'" if wildcard else "")
            raise ValueError(f"{setting}: {item!r} is not {kinds} ({err})") from None
    return tuple(networks)


@dataclass(frozen=True)
class SourceAllowlist:
    """Empty: every address may send. Otherwise only addresses inside one of `networks`."""

    networks: tuple[IpNetwork, ...] = ()

    @classmethod
    def parse(cls, text: str) -> SourceAllowlist:
        return cls(parse_networks(text, setting="ALLOWED_IPS"))

    def allows(self, host: str | None) -> bool:
        if not self.networks:
            return True
        address = parse_address(host)
        return address is not None and any(address in network for network in self.networks)

    def check(self, host: str | None) -> None:
        """Raise Forbidden (403) for an address outside the list."""
        if self.allows(host):
            return
        address = parse_address(host)
        hint = "ALLOWED_IPS lists the addresses that may send alerts"
        if address is not None and (address.is_loopback or address.is_private):
            hint += ("; behind a proxy, set FORWARDED_ALLOW_IPS (or --forwarded-allow-ips) to the proxy's address so "
                     "the sender's own address (X-Forwarded-For) is seen")
        log.info("webhook.rejected", stage="source_ip", source_ip=host)
        raise Forbidden(f"Forbidden: {host or 'an unknown address'} may not send webhooks to this server", hint=hint)
