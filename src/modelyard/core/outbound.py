"""HTTP requests to URLs users give, which cannot be pointed at internal services.

Modelyard fetches URLs it is given (a model registered from ``http(s)://``; webhooks next).
Such a URL could name this machine (``127.0.0.1``, ``localhost``), the private network
(``10.0.0.8``) or a cloud's metadata service (``169.254.169.254``, which hands out
credentials), and whatever answered would be stored for anyone who may read it. So every
connection is checked where it is made, in the network backend's ``connect_tcp``:

* the host is resolved once and each of its addresses is checked; loopback, private,
  link-local, multicast, reserved and unspecified addresses (IPv4 and IPv6, an IPv4 address
  mapped into IPv6 as what it maps) are refused unless the policy allows them;
* the socket connects to exactly an address that was checked, never to the name again, so
  a name that resolves to a public address when checked and to ``127.0.0.1`` when
  connected (DNS rebinding) gets nowhere. TLS still verifies the certificate against the
  name, and the ``Host`` header is the URL's;
* redirects are followed up to ``MAX_REDIRECTS`` times, and only to the same scheme, host
  and port: a redirect elsewhere is refused, naming where it pointed;
* proxies from the environment are not used: a proxy would connect, on our behalf, to an
  address this check never sees.

The policy comes from the settings ``MODELYARD_ALLOW_PRIVATE_URLS`` (every private address
allowed) and ``MODELYARD_PRIVATE_URL_HOSTS`` (hosts that may be private, such as an internal
model server). Its resolver is an argument, so tests can make a public-looking name resolve
to a private address without patching.
"""

from __future__ import annotations

import ipaddress
import socket
import ssl
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field

import httpcore
import httpx

from modelyard.config import Settings
from modelyard.errors import InvalidInput

__all__ = [
    "MAX_REDIRECTS",
    "CheckedTransport",
    "OutboundPolicy",
    "Resolver",
    "open_client",
    "refusal",
    "resolve",
]

MAX_REDIRECTS = 5

Resolver = Callable[[str, int], Sequence[str]]
"""``(host, port) -> addresses``, as strings."""

_ALLOW = (
    "set MODELYARD_ALLOW_PRIVATE_URLS=true to allow private addresses, or add the host to "
    "MODELYARD_PRIVATE_URL_HOSTS (comma-separated) to allow it alone"
)


def resolve(host: str, port: int) -> list[str]:
    """The addresses the system resolver gives for ``host``, each once, in its order."""
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


def refusal(address: str) -> str | None:
    """Why a connection to ``address`` is refused unless allowed (``"a loopback address"``),
    or None for a publicly routable address."""
    ip = ipaddress.ip_address(address)
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped  # ::ffff:127.0.0.1 reaches 127.0.0.1
    if ip.is_unspecified:
        return "the unspecified address"  # 0.0.0.0 and :: connect to this machine
    if ip.is_loopback:
        return "a loopback address"
    if ip.is_link_local:
        return "a link-local address"  # 169.254.169.254: the cloud metadata service
    if ip.is_multicast:
        return "a multicast address"
    if ip.is_private:
        return "a private address"
    if ip.is_reserved:
        return "a reserved address"
    if not ip.is_global:
        return "an address that is not publicly routable"
    return None


def _host_key(host: str) -> str:
    """One spelling per host: lower case, no IPv6 brackets, no trailing dot."""
    return host.strip().strip("[]").rstrip(".").lower()


@dataclass(frozen=True)
class OutboundPolicy:
    """Which addresses outbound requests may connect to."""

    allow_private: bool = False
    private_hosts: frozenset[str] = frozenset()
    resolver: Resolver = field(default=resolve, compare=False)

    @classmethod
    def from_settings(cls, settings: Settings, *, resolver: Resolver = resolve) -> OutboundPolicy:
        return cls(
            allow_private=settings.allow_private_urls,
            private_hosts=frozenset(_host_key(h) for h in settings.private_url_hosts),
            resolver=resolver,
        )

    def addresses(self, host: str, port: int) -> list[str]:
        """The addresses a connection to ``host`` may use: all of its addresses, or an
        ``InvalidInput`` naming the first that is refused (one refused address refuses the
        host: which address a connection gets is the resolver's choice, not ours)."""
        found = list(self.resolver(host, port))
        if not found:
            raise OSError(f"no address for {host}")
        if self.allow_private or _host_key(host) in self.private_hosts:
            return found
        for address in found:
            reason = refusal(address)
            if reason is not None:
                shown = host if host == address else f"{host} ({address})"
                raise InvalidInput(
                    f"refusing to connect to {shown}: it is {reason}, which may reach "
                    f"internal services; {_ALLOW}",
                    details={"host": host, "address": address, "reason": reason},
                )
        return found


class _CheckedBackend(httpcore.SyncBackend):
    """httpcore's network backend, connecting only to addresses the policy allows."""

    def __init__(self, policy: OutboundPolicy) -> None:
        self._policy = policy

    def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.NetworkStream:
        try:
            addresses = self._policy.addresses(host, port)
        except OSError as exc:  # the name does not resolve: as unreachable as a closed port
            raise httpcore.ConnectError(f"cannot resolve {host}: {exc}") from exc
        failure: Exception | None = None
        for address in addresses:
            try:
                return super().connect_tcp(address, port, timeout, local_address, socket_options)
            except (httpcore.ConnectError, httpcore.ConnectTimeout) as exc:
                failure = exc
        assert failure is not None  # addresses is never empty
        raise failure


class CheckedTransport(httpx.HTTPTransport):
    """An httpx transport whose every connection is checked by ``policy``."""

    def __init__(
        self,
        policy: OutboundPolicy,
        *,
        ssl_context: ssl.SSLContext | None = None,
        retries: int = 0,
    ) -> None:
        super().__init__(retries=retries)
        # httpx 0.28 takes no network backend, so its pool is built again with ours and
        # the arguments HTTPTransport gives it by default. The integration tests connect
        # through this transport to a real server, so a change in httpx shows there.
        # (The default TLS context honours SSL_CERT_FILE: a company's CA is not a proxy.)
        self._pool = httpcore.ConnectionPool(
            ssl_context=ssl_context or httpx.create_ssl_context(),
            max_connections=100,
            max_keepalive_connections=20,
            keepalive_expiry=5.0,
            retries=retries,
            network_backend=_CheckedBackend(policy),
        )


def _same_origin_redirects(response: httpx.Response) -> None:
    """Refuse a redirect to another scheme, host or port (a response hook, so it runs
    before httpx follows the redirect)."""
    if not response.has_redirect_location:
        return
    here = response.request.url
    there = here.join(response.headers["Location"])
    if (there.scheme, there.host, there.port) == (here.scheme, here.host, here.port):
        return
    elsewhere = "another host" if there.host != here.host else "another scheme or port"
    raise InvalidInput(
        f"'{here}' redirected to {elsewhere} ('{there}'), which is not followed: only "
        "redirects to the same scheme, host and port are; use the URL it points to if you "
        "trust it",
        details={"url": str(here), "location": str(there)},
    )


def open_client(
    policy: OutboundPolicy, *, timeout: float, ssl_context: ssl.SSLContext | None = None
) -> httpx.Client:
    """An httpx client for URLs users give: checked connections, redirects followed only
    within the same origin and at most ``MAX_REDIRECTS`` times (then
    ``httpx.TooManyRedirects``). ``ssl_context`` replaces the system's trusted CAs."""
    return httpx.Client(
        transport=CheckedTransport(policy, ssl_context=ssl_context),
        follow_redirects=True,
        max_redirects=MAX_REDIRECTS,
        timeout=timeout,
        trust_env=False,
        event_hooks={"response": [_same_origin_redirects]},
    )
