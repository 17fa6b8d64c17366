import pytest

from mcp_sessions.errors import MalformedInputError
from mcp_sessions.formats.coerce import enum_value, normalize_id, to_int


@pytest.mark.parametrize(
    ("raw", "width", "expected"),
    [
        ("5B8EFFF798038103D269B633813FC60C", 32, "5b8efff798038103d269b633813fc60c"),
        ("W47/95gDgQPSabYzgT/GDA==", 32, "5b8efff798038103d269b633813fc60c"),  # protobuf JSON base64
        ("W47_95gDgQPSabYzgT_GDA", 32, "5b8efff798038103d269b633813fc60c"),  # url-safe, unpadded
        ("7uGbfsPBsXM=", 16, "eee19b7ec3c1b173"),
        ("d269b633813fc60c", 32, "0000000000000000d269b633813fc60c"),  # 64-bit Zipkin/Jaeger id
        ("abc", 16, "0000000000000abc"),
        (255, 16, "00000000000000ff"),
    ],
)
def test_ids_in_every_spelling_normalise_to_padded_lowercase_hex(raw, width, expected):
    assert normalize_id(raw, width, "traceId") == expected


def test_zero_and_empty_optional_ids_mean_no_parent():
    assert normalize_id("", 16, "parentSpanId", optional=True) is None
    assert normalize_id("0000000000000000", 16, "parentSpanId", optional=True) is None
    assert normalize_id("AAAAAAAAAAA=", 16, "parentSpanId", optional=True) is None


@pytest.mark.parametrize("raw", ["xyz", "a-b-c-d", "W47/95gDgQPSabYzgT/GDAAA"])
def test_base64_that_is_not_an_ids_width_is_rejected(raw):
    with pytest.raises(MalformedInputError, match="neither a hex id nor a base64 id"):
        normalize_id(raw, 32, "traceId")


def test_garbage_id_names_the_field():
    with pytest.raises(MalformedInputError, match=r"spans\[3\]\.spanId"):
        normalize_id("not an id!", 16, "spans[3].spanId")
    with pytest.raises(MalformedInputError, match="missing id"):
        normalize_id(None, 16, "spanId")


@pytest.mark.parametrize(
    ("raw", "expected"),
    [("1544712660000000000", 1544712660000000000), (12, 12), (1.5e3, 1500), ("1.5e3", 1500), (None, None)],
)
def test_int64_as_string_or_number(raw, expected):
    assert to_int(raw, "x") == expected


@pytest.mark.parametrize("raw", ["twelve", True, float("nan"), [1]])
def test_bad_integers_are_rejected_with_the_field(raw):
    with pytest.raises(MalformedInputError, match="startTimeUnixNano"):
        to_int(raw, "startTimeUnixNano")


@pytest.mark.parametrize("raw", [2, "2", "SPAN_KIND_SERVER", "server", "Server"])
def test_enum_by_number_or_name(raw):
    assert enum_value(raw, {"server": "server"}, {2: "server"}, "span_kind_", "kind", "unspecified") == "server"


def test_unknown_enum_falls_back_to_default():
    assert enum_value(9, {}, {2: "server"}, "span_kind_", "kind", "unspecified") == "unspecified"
