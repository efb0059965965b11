"""The outbound policy: which addresses a URL users give may reach, decided per address."""

from __future__ import annotations

from pathlib import Path

import pytest

from modelyard.core.outbound import OutboundPolicy, refusal
from modelyard.errors import InvalidInput
from tests.conftest import make_settings


@pytest.mark.parametrize(
    ("address", "reason"),
    [
        ("127.0.0.1", "a loopback address"),
        ("127.8.9.10", "a loopback address"),
        ("::1", "a loopback address"),
        ("::ffff:127.0.0.1", "a loopback address"),  # IPv4-mapped IPv6
        ("::ffff:10.0.0.1", "a private address"),
        ("0.0.0.0", "the unspecified address"),
        ("::", "the unspecified address"),
        ("10.1.2.3", "a private address"),
        ("172.16.0.1", "a private address"),
        ("192.168.1.1", "a private address"),
        ("fd00::1", "a private address"),
        ("169.254.169.254", "a link-local address"),  # the cloud metadata service
        ("fe80::1", "a link-local address"),
        ("fe80::1%1", "a link-local address"),
        ("224.0.0.1", "a multicast address"),
        ("ff02::1", "a multicast address"),
        ("240.0.0.1", "a private address"),  # reserved, listed by Python among the private
        ("100.64.0.1", "an address that is not publicly routable"),  # carrier-grade NAT
    ],
)
def test_internal_addresses_are_refused_by_kind(address: str, reason: str) -> None:
    assert refusal(address) == reason


@pytest.mark.parametrize("address", ["93.184.216.34", "8.8.8.8", "2606:4700:4700::1111"])
def test_public_addresses_are_allowed(address: str) -> None:
    assert refusal(address) is None


def resolving(answers: dict[str, list[str]]) -> OutboundPolicy:
    return OutboundPolicy(resolver=lambda host, port: answers[host])


def test_a_public_name_resolving_to_a_private_address_is_refused() -> None:
    policy = resolving({"models.example.com": ["10.0.0.5"]})
    with pytest.raises(InvalidInput) as caught:
        policy.addresses("models.example.com", 443)
    assert caught.value.message.startswith(
        "refusing to connect to models.example.com (10.0.0.5): it is a private address"
    )
    assert "MODELYARD_ALLOW_PRIVATE_URLS=true" in caught.value.message
    assert "MODELYARD_PRIVATE_URL_HOSTS" in caught.value.message
    assert caught.value.details == {
        "host": "models.example.com",
        "address": "10.0.0.5",
        "reason": "a private address",
    }


def test_one_internal_address_among_public_ones_refuses_the_host() -> None:
    policy = resolving({"mixed.example.com": ["93.184.216.34", "127.0.0.1"]})
    with pytest.raises(InvalidInput, match=r"\(127\.0\.0\.1\): it is a loopback address"):
        policy.addresses("mixed.example.com", 80)


def test_public_addresses_are_given_back_in_the_resolvers_order() -> None:
    policy = resolving({"cdn.example.com": ["93.184.216.34", "2606:2800:220:1::1"]})
    assert policy.addresses("cdn.example.com", 443) == ["93.184.216.34", "2606:2800:220:1::1"]


def test_the_host_is_resolved_once_per_check() -> None:
    calls: list[tuple[str, int]] = []

    def rebinding(host: str, port: int) -> list[str]:
        # A resolver that answers public first and loopback afterwards (DNS rebinding).
        calls.append((host, port))
        return ["93.184.216.34"] if len(calls) == 1 else ["127.0.0.1"]

    assert OutboundPolicy(resolver=rebinding).addresses("rebind.example.com", 80) == [
        "93.184.216.34"
    ]
    assert calls == [("rebind.example.com", 80)]


def test_settings_allow_every_private_address_or_named_hosts(tmp_path: Path) -> None:
    answers = {"models.internal": ["10.0.0.5"], "other.internal": ["10.0.0.6"]}
    everything = OutboundPolicy.from_settings(
        make_settings(tmp_path, allow_private_urls=True),
        resolver=lambda host, port: answers[host],
    )
    assert everything.addresses("other.internal", 80) == ["10.0.0.6"]
    named = OutboundPolicy.from_settings(
        make_settings(tmp_path, private_url_hosts=["Models.Internal."]),
        resolver=lambda host, port: answers[host],
    )
    assert named.addresses("models.internal", 80) == ["10.0.0.5"]
    with pytest.raises(InvalidInput, match=r"other\.internal \(10\.0\.0\.6\)"):
        named.addresses("other.internal", 80)


def test_private_url_hosts_read_from_the_environment_as_a_comma_separated_list(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from modelyard.config import Settings

    monkeypatch.setenv("MODELYARD_PRIVATE_URL_HOSTS", "models.internal, 10.0.0.7 ,")
    monkeypatch.setenv("MODELYARD_ALLOW_PRIVATE_URLS", "false")
    settings = Settings()
    assert settings.private_url_hosts == ["models.internal", "10.0.0.7"]
    assert settings.allow_private_urls is False
    policy = OutboundPolicy.from_settings(settings, resolver=lambda host, port: [host])
    assert policy.addresses("10.0.0.7", 80) == ["10.0.0.7"]
