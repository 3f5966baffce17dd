"""The default bridge network's IPv4 gateway: the address a stage container reaches the host's
test servers at (inside a container, loopback is the container's own)."""

from __future__ import annotations

import ipaddress
from typing import Any


def bridge_gateway(client: Any) -> tuple[str, str]:
    """The bridge's IPv4 (gateway, subnet). An engine that was given no gateway for the bridge
    leaves it out of the network's IPAM settings (Docker 20.10 here); the bridge then takes the
    subnet's first host address, which is the one returned."""
    config = client.networks.get("bridge").attrs["IPAM"]["Config"]
    ipv4 = next(c for c in config if "." in c.get("Subnet", ""))
    subnet = str(ipv4["Subnet"])
    gateway = ipv4.get("Gateway") or str(next(ipaddress.ip_network(subnet).hosts()))
    return str(gateway), subnet
