"""The search language: what users type becomes the filter they meant."""

import pytest

from netsight.ui.search import SearchFilter, Vocabulary, complete, parse_search


def test_filters_from_the_issue_example_are_all_understood():
    parsed = parse_search("ns:payments app:shop port:5432 external")
    assert parsed.namespaces == ("payments",)
    assert parsed.apps == ("shop",)
    assert parsed.ports == (5432,)
    assert parsed.external is True
    assert parsed.problems == ()


@pytest.mark.parametrize(
    ("text", "ips", "cidrs"),
    [
        ("10.244.1.23", ("10.244.1.23",), ()),
        ("fd00:0:0::17", ("fd00::17",), ()),
        ("10.244.0.0/16", (), ("10.244.0.0/16",)),
        ("10.244.1.7/16", (), ("10.244.0.0/16",)),
        ("2001:db8::/32", (), ("2001:db8::/32",)),
        ("ip:10.0.0.1 cidr:192.168.0.0/24", ("10.0.0.1",), ("192.168.0.0/24",)),
    ],
    ids=["ipv4", "ipv6-normalised", "cidr", "cidr-host-bits", "ipv6-cidr", "explicit-keys"],
)
def test_addresses_and_ranges_are_normalised(text, ips, cidrs):
    parsed = parse_search(text)
    assert parsed.ips == ips
    assert parsed.cidrs == cidrs
    assert parsed.names == ()


def test_bare_words_are_name_searches_and_quotes_group_words():
    parsed = parse_search('checkout "corporate vpn"')
    assert parsed.names == ("checkout", "corporate vpn")


def test_comma_lists_and_repeats_are_alternatives_without_duplicates():
    parsed = parse_search("port:80,443 port:80 ns:a ns:b proto:TCP")
    assert parsed.ports == (80, 443)
    assert parsed.namespaces == ("a", "b")
    assert parsed.protos == ("tcp",)


@pytest.mark.parametrize("word", ["port:http", "port:70000", "proto:sctp", "ns:", "ip:nope"])
def test_words_that_cannot_be_understood_are_reported_not_dropped_silently(word):
    assert parse_search(word).problems


def test_unbalanced_quote_does_not_raise():
    assert parse_search('"unterminated ns:x').namespaces == ("x",)


def test_canonical_text_parses_back_to_the_same_filter():
    original = parse_search("ns:payments app:shop port:5432 10.0.0.1 10.1.0.0/16 'a b' external")
    assert parse_search(original.to_text()) == original


def test_empty_text_is_an_empty_filter():
    assert parse_search("   ").is_empty
    assert not parse_search("x").is_empty


def test_object_matching_applies_every_field():
    flt = parse_search("ns:payments app:shop check")
    assert flt.matches(kind="Pod", namespace="payments", name="checkout-1", app="shop")
    assert not flt.matches(kind="Pod", namespace="web", name="checkout-1", app="shop")
    assert not flt.matches(kind="Pod", namespace="payments", name="cart", app="shop")
    assert parse_search("external").matches(kind="External", name="1.1.1.1")
    assert not parse_search("external").matches(kind="Pod", name="x")


def test_address_matching_covers_ips_and_ranges():
    flt = parse_search("10.0.0.1 192.168.0.0/24")
    assert flt.matches_address("192.168.0.77")
    assert flt.matches_address("10.0.0.1")
    assert not flt.matches_address("10.0.0.2")
    assert SearchFilter().matches_address("anything")


def test_namespace_picker_merges_into_the_filter():
    assert parse_search("ns:a").with_namespaces(["b", "a"]).namespaces == ("a", "b")


def test_completion_offers_keys_then_values_from_the_cluster():
    vocabulary = Vocabulary(namespaces=("payments", "platform", "web"), apps=("shop",))
    assert "ns:" in complete("", vocabulary)
    assert complete("app:shop ns:p", vocabulary) == ["app:shop ns:payments", "app:shop ns:platform"]
    assert complete("proto:u", vocabulary) == ["proto:udp"]
    assert complete("app:x", vocabulary) == []
