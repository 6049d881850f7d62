"""MQTT 3.1.1 packets through byte tables taken from the OASIS specification, and the stream reader.

Section numbers refer to MQTT Version 3.1.1 (OASIS Standard, 29 October 2014). The non-normative
examples of the specification are used byte for byte where it has one (CONNECT flags, PUBLISH "a/b"
with packet id 10, SUBSCRIBE "a/b" + "c/d", SUBACK, the remaining-length table, the topic-filter rules).
"""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from floorgate.devices.mqtt.wire import (
    DISCONNECT,
    MAX_REMAINING_LENGTH,
    PINGREQ,
    PINGRESP,
    MalformedPacket,
    PacketReader,
    PacketType,
    Publish,
    Will,
    decode_connack,
    decode_mid,
    decode_publish,
    decode_suback,
    decode_unsuback,
    encode_connect,
    encode_puback,
    encode_publish,
    encode_subscribe,
    encode_unsubscribe,
    filter_pattern,
    remaining_length,
)

pytestmark = pytest.mark.unit

PROTOCOL = b"\x00\x04MQTT\x04"  # protocol name and level 4 (sections 3.1.2.1, 3.1.2.2)


# -- remaining length (section 2.2.3, table 2.4) ---------------------------------------------------------


@pytest.mark.parametrize(
    ("length", "encoded"),
    [
        (0, b"\x00"),
        (1, b"\x01"),
        (127, b"\x7f"),
        (128, b"\x80\x01"),
        (321, b"\xc1\x02"),  # the worked example of section 2.2.3
        (16_383, b"\xff\x7f"),
        (16_384, b"\x80\x80\x01"),
        (2_097_151, b"\xff\xff\x7f"),
        (2_097_152, b"\x80\x80\x80\x01"),
        (268_435_455, b"\xff\xff\xff\x7f"),
    ],
)
def test_remaining_length_encodes_as_the_specification_tables(length: int, encoded: bytes) -> None:
    assert remaining_length(length) == encoded


@pytest.mark.parametrize("length", [MAX_REMAINING_LENGTH + 1, 2**32, -1])
def test_remaining_length_out_of_range_is_refused_with_the_range(length: int) -> None:
    with pytest.raises(ValueError, match=rf"0\.\.268435455 bytes, not {length}$"):
        remaining_length(length)


@pytest.mark.parametrize(
    "length",
    [0, 127, 128, 16_383, 16_384, 2_097_151, 2_097_152, 268_435_455],
)
def test_the_reader_decodes_every_boundary_length_from_its_header(length: int) -> None:
    # Only the header is fed: the reader must know the length and wait for the body, not misread it.
    header = b"\x30" + remaining_length(length)
    reader = PacketReader(max_packet=MAX_REMAINING_LENGTH)
    if length == 0:
        assert reader.feed(header) == [(0x30, b"")]
        return
    assert reader.feed(header) == []
    assert reader.buffered == len(header)
    if length <= 16_384:
        body = bytes(range(256)) * (length // 256) + bytes(length % 256)
        assert reader.feed(body) == [(0x30, body)]
        assert reader.buffered == 0


# -- CONNECT (section 3.1) -------------------------------------------------------------------------------


def test_connect_matches_the_specification_example_byte_for_byte() -> None:
    # Figure 3.6: user name, password, will QoS 1, will flag and clean session set (0xCE), keepalive 10.
    packet = encode_connect(
        "c1",
        clean_session=True,
        keepalive=10,
        username="u",
        password="p",
        will=Will("w", b"x", qos=1, retain=False),
    )
    body = (
        PROTOCOL
        + b"\xce"
        + b"\x00\x0a"
        + b"\x00\x02c1"  # client id, then will topic, will message, user name, password (3.1.3)
        + b"\x00\x01w"
        + b"\x00\x01x"
        + b"\x00\x01u"
        + b"\x00\x01p"
    )
    assert packet == b"\x10" + bytes((len(body),)) + body
    assert len(body) == 26


@pytest.mark.parametrize(
    ("kwargs", "flags", "payload"),
    [
        ({"clean_session": True}, 0x02, b""),
        ({"clean_session": False}, 0x00, b""),
        ({"clean_session": False, "will": Will("w", b"x", qos=0, retain=False)}, 0x04, b"\x00\x01w\x00\x01x"),
        ({"clean_session": False, "will": Will("w", b"x", qos=1, retain=False)}, 0x0C, b"\x00\x01w\x00\x01x"),
        ({"clean_session": False, "will": Will("w", b"x", qos=2, retain=False)}, 0x14, b"\x00\x01w\x00\x01x"),
        ({"clean_session": False, "will": Will("w", b"x", qos=0, retain=True)}, 0x24, b"\x00\x01w\x00\x01x"),
        ({"clean_session": True, "will": Will("w", b"", qos=1, retain=True)}, 0x2E, b"\x00\x01w\x00\x00"),
        ({"clean_session": False, "username": "u"}, 0x80, b"\x00\x01u"),
        ({"clean_session": False, "username": "u", "password": "p"}, 0xC0, b"\x00\x01u\x00\x01p"),
        ({"clean_session": True, "username": "", "password": ""}, 0xC2, b"\x00\x00\x00\x00"),
    ],
    ids=[
        "clean-session",
        "persistent-session",
        "will-qos0",
        "will-qos1",
        "will-qos2",
        "will-retain",
        "will-qos1-retain-clean",
        "username",
        "username-password",
        "empty-credentials",
    ],
)
def test_connect_flags_follow_section_3_1_2(kwargs: dict[str, object], flags: int, payload: bytes) -> None:
    packet = encode_connect("c1", keepalive=60, **kwargs)  # type: ignore[arg-type]
    body = PROTOCOL + bytes((flags,)) + b"\x00\x3c" + b"\x00\x02c1" + payload
    assert packet == b"\x10" + bytes((len(body),)) + body


def test_connect_encodes_client_id_and_credentials_as_utf8_strings() -> None:
    packet = encode_connect("é", clean_session=True, keepalive=0, username="ü", password="ß")
    assert packet.endswith(b"\x00\x02\xc3\xa9\x00\x02\xc3\xbc\x00\x02\xc3\x9f")


def test_connect_with_a_long_payload_uses_a_two_byte_remaining_length() -> None:
    packet = encode_connect("c" * 200, clean_session=True, keepalive=30)
    assert packet[:3] == b"\x10" + remaining_length(10 + 2 + 200)
    assert len(packet) == 3 + 212


@pytest.mark.parametrize("keepalive", [-1, 65_536])
def test_connect_refuses_a_keepalive_outside_two_bytes(keepalive: int) -> None:
    with pytest.raises(ValueError, match=rf"keepalive is 0\.\.65535 seconds, not {keepalive}"):
        encode_connect("c1", clean_session=True, keepalive=keepalive)


def test_connect_refuses_a_string_longer_than_65535_bytes() -> None:
    with pytest.raises(ValueError, match="at most 65535 bytes, not 65536"):
        encode_connect("c1", clean_session=True, keepalive=30, username="u" * 65_536)


# -- PUBLISH (section 3.3) -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kwargs", "packet"),
    [
        # Figure 3.11: topic "a/b", packet identifier 10.
        ({"qos": 1, "mid": 10}, b"\x32\x09\x00\x03a/b\x00\x0ahi"),
        ({}, b"\x30\x07\x00\x03a/bhi"),  # QoS 0 has no packet identifier (3.3.2.2)
        ({"retain": True}, b"\x31\x07\x00\x03a/bhi"),
        ({"qos": 1, "mid": 10, "retain": True}, b"\x33\x09\x00\x03a/b\x00\x0ahi"),
        ({"qos": 1, "mid": 10, "dup": True}, b"\x3a\x09\x00\x03a/b\x00\x0ahi"),
        ({"qos": 1, "mid": 0xABCD, "dup": True, "retain": True}, b"\x3b\x09\x00\x03a/b\xab\xcdhi"),
    ],
    ids=["qos1-spec-example", "qos0", "qos0-retain", "qos1-retain", "qos1-dup", "qos1-dup-retain"],
)
def test_publish_matches_section_3_3(kwargs: dict[str, object], packet: bytes) -> None:
    assert encode_publish(b"a/b", b"hi", **kwargs) == packet  # type: ignore[arg-type]


def test_publish_with_an_empty_payload_is_only_its_header() -> None:
    assert encode_publish(b"a/b", b"", retain=True) == b"\x31\x05\x00\x03a/b"


def test_publish_switches_to_a_two_byte_length_at_128() -> None:
    payload = b"p" * (128 - 5)
    assert encode_publish(b"a/b", payload)[:3] == b"\x30\x80\x01"
    assert encode_publish(b"a/b", payload[:-1])[:2] == b"\x30\x7f"


# -- PUBACK, SUBSCRIBE and the fixed packets ----------------------------------------------------------


@pytest.mark.parametrize(
    ("mid", "packet"), [(1, b"\x40\x02\x00\x01"), (10, b"\x40\x02\x00\x0a"), (0xFFFF, b"\x40\x02\xff\xff")]
)
def test_puback_is_fixed_header_and_packet_id(mid: int, packet: bytes) -> None:
    assert encode_puback(mid) == packet


def test_subscribe_matches_the_specification_example() -> None:
    # Figure 3.22: packet id 10, "a/b" at QoS 1 and "c/d" at QoS 2; fixed header 0x82 (3.8.1).
    packet = encode_subscribe(10, [("a/b", 1), ("c/d", 2)])
    assert packet == b"\x82\x0e\x00\x0a\x00\x03a/b\x01\x00\x03c/d\x02"


def test_subscribe_needs_a_filter() -> None:
    with pytest.raises(ValueError, match="at least one topic filter"):
        encode_subscribe(1, [])


@pytest.mark.parametrize(
    ("mid", "filters", "packet"),
    [
        # Figure 3.30's payload ("a/b", "c/d"), here for packet id 10; fixed header 0xa2 (3.10.1).
        (10, ["a/b", "c/d"], b"\xa2\x0c\x00\x0a\x00\x03a/b\x00\x03c/d"),
        (0xFFFF, ["#"], b"\xa2\x05\xff\xff\x00\x01#"),
        (1, ["\u00e9"], b"\xa2\x06\x00\x01\x00\x02\xc3\xa9"),  # the length counts UTF-8 bytes
    ],
)
def test_unsubscribe_follows_section_3_10(mid: int, filters: list[str], packet: bytes) -> None:
    assert encode_unsubscribe(mid, filters) == packet


def test_unsubscribe_with_a_long_filter_uses_a_two_byte_remaining_length() -> None:
    packet = encode_unsubscribe(1, ["x" * 200])
    assert packet[:5] == b"\xa2\xcc\x01\x00\x01"  # 2 + 2 + 200 = 204 bytes of body
    assert PacketReader().feed(packet) == [(0xA2, packet[3:])]


def test_unsubscribe_needs_a_filter() -> None:
    with pytest.raises(ValueError, match="UNSUBSCRIBE needs at least one topic filter"):
        encode_unsubscribe(1, [])


@pytest.mark.parametrize(("body", "mid"), [(b"\x00\x0a", 10), (b"\x00\x01", 1), (b"\xff\xff", 0xFFFF)])
def test_decode_unsuback_reads_the_packet_id(body: bytes, mid: int) -> None:
    # Section 3.11: fixed header 0xb0 0x02, then the packet id of the UNSUBSCRIBE it answers.
    assert PacketReader().feed(b"\xb0\x02" + body) == [(0xB0, body)]
    assert decode_unsuback(body) == mid


@pytest.mark.parametrize("body", [b"", b"\x01", b"\x00\x01\x00"])
def test_an_unsuback_of_the_wrong_size_is_malformed_and_named(body: bytes) -> None:
    with pytest.raises(MalformedPacket, match=f"UNSUBACK body is 2 bytes, not {len(body)}"):
        decode_unsuback(body)


def test_fixed_two_byte_packets() -> None:
    assert (PINGREQ, PINGRESP, DISCONNECT) == (b"\xc0\x00", b"\xd0\x00", b"\xe0\x00")
    assert [packet[0] >> 4 for packet in (PINGREQ, PINGRESP, DISCONNECT)] == [
        PacketType.PINGREQ,
        PacketType.PINGRESP,
        PacketType.DISCONNECT,
    ]


# -- the packet reader --------------------------------------------------------------------------------

CONNACK_OK = b"\x20\x02\x00\x00"
LONG_PUBLISH = encode_publish(b"t/long", bytes(range(256)) * 2, qos=1, mid=513)  # two length bytes
STREAM_PACKETS = [
    (0x20, b"\x00\x00"),
    (0x32, b"\x00\x03a/b\x00\x0ahi"),
    (0x40, b"\x00\x0a"),
    (0x90, b"\x00\x0b\x01\x80"),
    (0xD0, b""),
    (LONG_PUBLISH[0], LONG_PUBLISH[3:]),
    (0x30, b"\x00\x01x"),
]
STREAM = (
    CONNACK_OK
    + b"\x32\x09\x00\x03a/b\x00\x0ahi"
    + b"\x40\x02\x00\x0a"
    + b"\x90\x04\x00\x0b\x01\x80"
    + PINGRESP
    + LONG_PUBLISH
    + b"\x30\x03\x00\x01x"
)


def test_the_long_publish_of_the_stream_has_a_two_byte_length() -> None:
    assert LONG_PUBLISH[1:3] == b"\x8a\x04"  # 2 + 6 + 2 + 512 = 522 = 0x0A + 4 * 128


def test_the_reader_returns_many_packets_from_one_chunk_in_order() -> None:
    reader = PacketReader()
    assert reader.feed(STREAM) == STREAM_PACKETS
    assert reader.buffered == 0


def test_the_reader_gives_the_same_packets_wherever_the_stream_is_cut() -> None:
    for cut in range(1, len(STREAM)):
        reader = PacketReader()
        first = reader.feed(STREAM[:cut])
        assert reader.buffered == cut - sum(_wire_size(body) for _, body in first), f"cut at byte {cut}"
        assert first + reader.feed(STREAM[cut:]) == STREAM_PACKETS, f"cut at byte {cut}"
        assert reader.buffered == 0, f"cut at byte {cut}"


def test_the_reader_gives_the_same_packets_fed_one_byte_at_a_time() -> None:
    reader = PacketReader()
    packets = []
    for index in range(len(STREAM)):
        packets += reader.feed(STREAM[index : index + 1])
    assert packets == STREAM_PACKETS


def test_a_length_not_all_here_yet_is_waited_for_not_misread() -> None:
    reader = PacketReader()
    # 522 = 0x8A 0x04: the first length byte alone has its continuation bit set.
    assert reader.feed(LONG_PUBLISH[:2]) == []
    assert reader.buffered == 2
    assert reader.feed(LONG_PUBLISH[2:3]) == []
    assert reader.feed(LONG_PUBLISH[3:] + CONNACK_OK[:1]) == [(LONG_PUBLISH[0], LONG_PUBLISH[3:])]
    assert reader.buffered == 1  # the next packet's first byte
    assert reader.feed(CONNACK_OK[1:]) == [(0x20, b"\x00\x00")]


def test_an_empty_feed_returns_nothing() -> None:
    reader = PacketReader()
    assert reader.feed(b"") == []
    assert reader.feed(b"\x20") == []
    assert reader.feed(b"") == []
    assert reader.buffered == 1


@pytest.mark.parametrize(
    "stream",
    [
        b"\x30\xff\xff\xff\xff\x01",  # five length bytes
        b"\x30\x80\x80\x80\x80",  # the fourth byte still says "more": malformed before any fifth arrives
        CONNACK_OK + b"\x90\xff\xff\xff\xff\x7f",  # after a good packet in the same chunk
    ],
)
def test_a_remaining_length_of_five_bytes_is_malformed(stream: bytes) -> None:
    with pytest.raises(MalformedPacket, match="remaining length runs past 4 bytes"):
        PacketReader().feed(stream)


def test_a_five_byte_length_split_across_reads_is_malformed_once_the_fourth_byte_is_read() -> None:
    reader = PacketReader()
    assert reader.feed(b"\x30\xff\xff") == []
    with pytest.raises(MalformedPacket, match="past 4 bytes"):
        reader.feed(b"\xff\xff")


def _wire_size(body: bytes) -> int:
    return 1 + len(remaining_length(len(body))) + len(body)


# -- decoding -----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("first", "body", "expected"),
    [
        (0x30, b"\x00\x03a/bhi", Publish("a/b", b"hi", 0, False, False, 0)),
        (0x31, b"\x00\x03a/b", Publish("a/b", b"", 0, True, False, 0)),
        (0x32, b"\x00\x03a/b\x00\x0ahi", Publish("a/b", b"hi", 1, False, False, 10)),
        (0x3B, b"\x00\x03a/b\xab\xcd", Publish("a/b", b"", 1, True, True, 0xABCD)),
        (0x34, b"\x00\x01q\x00\x07", Publish("q", b"", 2, False, False, 7)),
        (0x30, b"\x00\x05caf\xc3\xa9\x00", Publish("café", b"\x00", 0, False, False, 0)),
    ],
)
def test_decode_publish_reads_flags_topic_packet_id_and_payload(
    first: int, body: bytes, expected: Publish
) -> None:
    assert decode_publish(first, body) == expected


@pytest.mark.parametrize(
    ("first", "body", "problem"),
    [
        (0x36, b"\x00\x03a/b\x00\x01", "PUBLISH with QoS 3"),
        (0x30, b"\x00", "PUBLISH body of 1 bytes has no topic length"),
        (0x30, b"", "PUBLISH body of 0 bytes has no topic length"),
        (0x30, b"\x00\x09a/b", "PUBLISH topic/packet id run past its 5-byte body"),
        # the topic fits, but a QoS 1 PUBLISH also needs its two packet-id bytes
        (0x32, b"\x00\x03a/b\x00", "PUBLISH topic/packet id run past its 6-byte body"),
        (0x30, b"\x00\x02\xff\xfehi", "PUBLISH topic is not UTF-8"),
        (0x30, b"\x00\x01\x80", "PUBLISH topic is not UTF-8"),
    ],
    ids=["qos3", "one-byte", "empty", "topic-past-body", "no-packet-id", "latin1-topic", "bare-continuation"],
)
def test_decode_publish_names_what_is_malformed(first: int, body: bytes, problem: str) -> None:
    with pytest.raises(MalformedPacket) as raised:
        decode_publish(first, body)
    assert problem in str(raised.value)


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        (b"\x00\x00", (False, 0)),
        (b"\x01\x00", (True, 0)),  # session present (3.2.2.2)
        (b"\x00\x01", (False, 1)),
        (b"\x00\x04", (False, 4)),
        (b"\x00\x05", (False, 5)),
    ],
)
def test_decode_connack(body: bytes, expected: tuple[bool, int]) -> None:
    assert decode_connack(body) == expected


@pytest.mark.parametrize("body", [b"", b"\x00", b"\x00\x00\x00"])
def test_a_connack_of_the_wrong_size_is_malformed(body: bytes) -> None:
    with pytest.raises(MalformedPacket, match=f"CONNACK body is 2 bytes, not {len(body)}"):
        decode_connack(body)


def test_decode_suback_matches_the_specification_example() -> None:
    # Figure 3.26: success QoS 0, failure, success QoS 2; here for packet id 10.
    assert decode_suback(b"\x00\x0a\x00\x80\x02") == (10, [0, 0x80, 2])


@pytest.mark.parametrize("body", [b"", b"\x00\x0a"])
def test_a_suback_without_return_codes_is_malformed(body: bytes) -> None:
    with pytest.raises(MalformedPacket, match=f"SUBACK body of {len(body)} bytes has no return code"):
        decode_suback(body)


def test_decode_puback_reads_the_packet_id() -> None:
    assert decode_mid("PUBACK", b"\x00\x0a") == 10
    assert decode_mid("PUBACK", b"\xff\xff") == 0xFFFF


@pytest.mark.parametrize("body", [b"", b"\x01", b"\x00\x01\x00"])
def test_a_puback_of_the_wrong_size_is_malformed_and_named(body: bytes) -> None:
    with pytest.raises(MalformedPacket, match=f"PUBACK body is 2 bytes, not {len(body)}"):
        decode_mid("PUBACK", body)


# -- topic filters (section 4.7) -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("topic_filter", "topic", "matches"),
    [
        # 4.7.1.2 multi-level wildcard
        ("sport/tennis/player1/#", "sport/tennis/player1", True),
        ("sport/tennis/player1/#", "sport/tennis/player1/ranking", True),
        ("sport/tennis/player1/#", "sport/tennis/player1/score/wimbledon", True),
        ("sport/tennis/player1/#", "sport/tennis/player2", False),
        ("sport/tennis/player1/#", "sport/tennis/player10", False),
        ("sport/#", "sport", True),
        ("sport/#", "sports", False),
        ("#", "sport/tennis/player1", True),
        ("#", "/finance", True),
        # 4.7.1.3 single-level wildcard
        ("sport/tennis/+", "sport/tennis/player1", True),
        ("sport/tennis/+", "sport/tennis/player2", True),
        ("sport/tennis/+", "sport/tennis/player1/ranking", False),
        ("sport/+", "sport", False),
        ("sport/+", "sport/", True),
        ("sport/+/player1", "sport/tennis/player1", True),
        ("+/tennis/#", "sport/tennis/player1/ranking", True),
        ("+", "finance", True),
        ("+/+", "/finance", True),
        ("/+", "/finance", True),
        ("+", "/finance", False),
        # 4.7.2 topics beginning with $
        ("#", "$SYS/broker/clients", False),
        ("#", "$SYS", False),
        ("+/monitor/Clients", "$SYS/monitor/Clients", False),
        ("$SYS/#", "$SYS/monitor/Clients", True),
        ("$SYS/monitor/+", "$SYS/monitor/Clients", True),
        ("a/#", "a/$SYS", True),  # only a wildcard in the first level is kept from "$" topics
        # 4.7.3 case, spaces and leading slashes are significant
        ("ACCOUNTS", "Accounts", False),
        ("Accounts payable", "Accounts payable", True),
        ("/finance", "finance", False),
        ("finance", "/finance", False),
        # a filter that starts with an empty level is not a bare "#"
        ("/#", "/finance", True),
        ("/#", "/", True),
        ("/#", "finance", False),
        ("/#", "sport/tennis", False),
        # regular-expression characters in a level are literal
        ("a.b/+", "axb/c", False),
        ("a.b/+", "a.b/c", True),
        ("(x)/#", "(x)/y", True),
        # the edge's own filters
        ("floorgate/dc1/ptl/+/event", "floorgate/dc1/ptl/A-01-01/event", True),
        ("floorgate/dc1/ptl/+/event", "floorgate/dc10/ptl/A-01-01/event", False),
        ("floorgate/dc1/ptl/+/event", "floorgate/dc1/ptl/A/01/event", False),
    ],
)
def test_filter_matches_as_section_4_7(topic_filter: str, topic: str, matches: bool) -> None:
    assert (filter_pattern(topic_filter).fullmatch(topic) is not None) is matches, (
        f"{topic_filter!r} should {'' if matches else 'not '}match {topic!r}"
    )


@pytest.mark.parametrize(
    ("topic_filter", "problem"),
    [
        ("sport/tennis#", "'#' must be a whole last level"),
        ("sport/tennis/#/ranking", "'#' must be a whole last level"),
        ("#/a", "'#' must be a whole last level"),
        ("sport+", "'+' must be a whole level"),
        ("sport/+tennis", "'+' must be a whole level"),
        ("++", "'+' must be a whole level"),
        ("", "at least one character"),
        ("a/\x00/b", "null character"),
    ],
)
def test_invalid_filters_are_refused_with_the_rule(topic_filter: str, problem: str) -> None:
    with pytest.raises(ValueError) as raised:
        filter_pattern(topic_filter)
    assert problem in str(raised.value)
    assert repr(topic_filter) in str(raised.value)


# -- round trip ---------------------------------------------------------------------------------------

topics = st.text(
    alphabet=st.characters(exclude_categories=["Cs"], exclude_characters="\x00#+"),
    min_size=1,
    max_size=40,
)
# Mostly short payloads, some across the 128 and 16,384 remaining-length boundaries.
payloads = st.one_of(
    st.binary(max_size=300),
    st.tuples(st.binary(min_size=1, max_size=8), st.integers(16_300, 16_500)).map(
        lambda pattern_size: (pattern_size[0] * pattern_size[1])[: pattern_size[1]]
    ),
)


@st.composite
def publishes(draw: st.DrawFn) -> Publish:
    qos = draw(st.sampled_from([0, 1]))
    return Publish(
        topic=draw(topics),
        payload=draw(payloads),
        qos=qos,
        retain=draw(st.booleans()),
        dup=qos == 1 and draw(st.booleans()),  # DUP is 0 for every QoS 0 PUBLISH (3.3.1.1)
        mid=draw(st.integers(1, 0xFFFF)) if qos else 0,
    )


@settings(max_examples=100, deadline=None)
@given(messages=st.lists(publishes(), min_size=1, max_size=6), data=st.data())
def test_publishes_survive_encoding_and_any_chunking(messages: list[Publish], data: st.DataObject) -> None:
    stream = b"".join(
        encode_publish(m.topic.encode(), m.payload, qos=m.qos, retain=m.retain, mid=m.mid, dup=m.dup)
        for m in messages
    )
    cuts = sorted(data.draw(st.sets(st.integers(1, len(stream) - 1), max_size=12), label="cuts"))
    reader = PacketReader()
    packets: list[tuple[int, bytes]] = []
    for start, end in zip([0, *cuts], [*cuts, len(stream)], strict=True):
        packets += reader.feed(stream[start:end])
    assert reader.buffered == 0
    assert [decode_publish(first, body) for first, body in packets] == messages


def test_a_length_over_the_readers_limit_is_malformed_instead_of_buffered() -> None:
    reader = PacketReader(max_packet=1000)
    with pytest.raises(MalformedPacket, match="1,001 bytes is over the 1,000"):
        reader.feed(b"\x30" + remaining_length(1001) + b"\x00")


def test_a_password_without_a_user_name_is_refused() -> None:
    with pytest.raises(ValueError, match="password only with a user name"):
        encode_connect("c", clean_session=True, keepalive=30, password="secret")
