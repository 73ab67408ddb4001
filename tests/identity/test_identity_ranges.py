"""Address spelling, range tags, and learning the Service range."""

from __future__ import annotations

import ipaddress

import pytest

from netsight.identity.ranges import CidrIndex, learn_service_ranges, normalize_ip, range_tags


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("10.1.2.3", "10.1.2.3"),
        (" 10.1.2.3 ", "10.1.2.3"),
        ("010.1.2.3", None),
        ("10.1.2.256", None),
        ("10.1.2", None),
        ("FD00:0:0:0:0:0:0:1", "fd00::1"),
        ("::ffff:10.0.0.1", "10.0.0.1"),
        ("fe80::1%eth0", "fe80::1"),
        ("2001:DB8::", "2001:db8::"),
        ("pod-a", None),
        ("", None),
    ],
)
def test_addresses_have_one_spelling(raw: str, expected: str | None) -> None:
    assert normalize_ip(raw) == expected
    # The cached answer is the same as the first.
    assert normalize_ip(raw) == expected


def test_range_tags_fall_back_to_public_or_reserved() -> None:
    assert range_tags("1.1.1.1") == ("public",)
    assert range_tags("240.0.0.1") == ("reserved",)
    assert range_tags("0.0.0.0") == ("unspecified",)
    assert range_tags("fc00::1") == ("private",)


def test_learned_service_range_starts_at_the_kubernetes_service() -> None:
    ips = ["172.30.0.1", "172.30.0.10", "172.30.251.65", "172.30.100.38"]
    assert learn_service_ranges(ips, ["172.30.0.1"]) == [ipaddress.ip_network("172.30.0.0/16")]


def test_learned_service_range_is_at_least_a_slash_20_and_at_most_a_slash_12() -> None:
    assert learn_service_ranges(["10.96.0.1"], ["10.96.0.1"]) == [
        ipaddress.ip_network("10.96.0.0/20")
    ]
    spread = learn_service_ranges(["10.96.0.1", "10.200.0.5"], ["10.96.0.1"])
    assert spread == [ipaddress.ip_network("10.96.0.0/20"), ipaddress.ip_network("10.200.0.0/20")]
    wide = learn_service_ranges(["10.96.0.1", "10.100.3.4"], [])
    assert wide == [ipaddress.ip_network("10.96.0.0/13")]
    v6 = learn_service_ranges(["fd00:10:96::1", "fd00:10:96::a"], ["fd00:10:96::1"])
    assert v6 == [ipaddress.ip_network("fd00:10:96::/116")]


def test_cidr_index_finds_every_containing_network_most_specific_first() -> None:
    index = CidrIndex()
    assert not index
    assert index.add("10.0.0.0/8", "corp")
    assert index.add("10.1.0.0/16", "vpn")
    assert not index.add("not a cidr", "broken")
    assert index.lookup("10.1.2.3") == ["vpn", "corp"]
    assert index.lookup("10.2.0.1") == ["corp"]
    assert index.lookup("fd00::1") == []
    index.remove("10.1.0.0/16", "vpn")
    assert index.lookup("10.1.2.3") == ["corp"]
