"""What the fuzzers send: valid values mixed with the ones that break naive
code (64-bit boundaries, floats, NUL and other control characters, huge
strings, unknown and repeated parameters, bad JSON, wrong JSON types)."""

import json
from urllib.parse import quote, urlencode

from hypothesis import strategies as st

BOUNDARY_INTS = [0, -1, 1, 2**31 - 1, 2**31, 2**63 - 1, 2**63, 2**64, -(2**63), -(2**63) - 1, 253402300800000]
ints = st.sampled_from(BOUNDARY_INTS) | st.integers()
times = st.sampled_from([1_700_000_000_000, 1_700_000_000_000_000, 0, 1, 253402300799999]) | ints
float_texts = st.sampled_from(
    ["1.0", "1e3", "-0.0", "nan", "inf", "-inf", "1,5", " 1", "1 ", "0x10", "١٢", "²"]
)
control_texts = st.sampled_from(["\x00", "a\x00b", "\x01\x1f", "\t", "\r\n", "\u2028", "\x7f", "\ufeff"])
huge_texts = st.sampled_from([256, 1000, 10_000]).map(lambda n: "x" * n)
# Text a query string or a JSON body can carry (no lone surrogates).
texts = st.text(st.characters(blacklist_categories=("Cs",)), max_size=20)

STATES = ["pending", "running", "finished", "deleted"]
KEYS = ["53/1/1", "53/1/2", "53/2/3", "53/1/30", "54/1/1", "53/9/9", "53/1/0", "53/0/1"]
SPIDERS = ["books", "quotes", "gone"]
TAGS = ["tag-a", "tag-b", "rare"]
valid_texts = st.sampled_from(
    [*STATES, *KEYS, *SPIDERS, *TAGS, "1700000000000", "5", "0", "close_reason", "spider_args", "1h", "24h"]
)


def weighted(*choices):
    """Like st.one_of, with (weight, strategy) pairs: hypothesis draws each
    branch of one_of equally often (and repeated branches once)."""
    options = [strategy for weight, strategy in choices for _ in range(weight)]
    return st.sampled_from(range(len(options))).flatmap(lambda index: options[index])


numbers = weighted((3, ints.map(str)), (2, float_texts), (1, st.floats().map(repr)))
weird_values = weighted((2, numbers), (1, control_texts), (1, huge_texts), (1, texts))
# Hostile values three times as often as valid ones, numbers most.
values = weighted((1, valid_texts), (3, weird_values))


def query_string(names):
    """A query string: mostly one hostile parameter among up to two plausible
    ones (several bad ones at once would mostly meet the first check only),
    sometimes several of anything, repeated names, now and then far too many."""
    name = weighted((9, st.sampled_from(names)), (1, texts))
    plausible = st.lists(st.tuples(st.sampled_from(names), valid_texts), max_size=2)
    one_bad = st.tuples(plausible, st.tuples(name, values)).map(lambda parts: [*parts[0], parts[1]])
    anything = st.lists(st.tuples(name, values), min_size=1, max_size=5)
    too_many = st.integers(1001, 1100).map(lambda n: [("spider", "books")] * n)
    return weighted((14, one_bad), (4, anything), (1, too_many), (1, st.just([]))).map(urlencode)


def path_segment(valid):
    return (st.sampled_from(valid) | weird_values).map(lambda text: quote(text, safe=""))


def id_segment():
    """What a numeric path segment may hold: the <id:…> converter takes digits only."""
    return ints.map(abs).map(str) | st.sampled_from(["1", "2", "3", "9"])


# --- JSON bodies -------------------------------------------------------------

json_scalars = (
    st.none()
    | st.booleans()
    | ints
    | st.floats(allow_nan=True, allow_infinity=True)
    | texts
    | control_texts
    | huge_texts
    | valid_texts
)
json_values = st.recursive(
    json_scalars,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(texts | valid_texts, inner, max_size=3),
    max_leaves=6,
)
JOB_FIELDS = {
    "spider": st.sampled_from(SPIDERS) | json_values,
    "state": st.sampled_from(STATES) | json_values,
    "key": st.sampled_from(KEYS) | json_values,
    "tags": st.lists(st.sampled_from(TAGS) | texts | control_texts, max_size=3) | json_values,
    "add_tag": st.sampled_from(TAGS) | st.lists(st.sampled_from(TAGS), max_size=2) | json_values,
    "remove_tag": st.sampled_from(TAGS) | json_values,
    "units": ints | json_values,
    "priority": st.integers(-1, 5) | json_values,
    "pending_time": times | json_values,
    "running_time": times | json_values,
    "finished_time": times | json_values,
    "ts": times | json_values,
    "close_reason": st.sampled_from(["finished", "failed", "cancelled"]) | json_values,
    "spider_args": st.dictionaries(texts, texts, max_size=2) | json_values,
    "unique": texts | json_values,
    "version": texts | json_values,
    "items": ints | json_values,
    "note": json_values,
}
job_objects = st.fixed_dictionaries({}, optional=JOB_FIELDS)


def dumped(value):
    # NaN and Infinity written as Python's json writes them: not JSON.
    return json.dumps(value, allow_nan=True)


json_lines = (job_objects | json_values).map(dumped)
raw_lines = st.binary(max_size=40).map(lambda data: data.decode("latin-1")) | st.sampled_from(
    ["{", '{"spider": "books"', "[1, 2", '{"spider": "books"}}', "\x00", "null", '"\\ud800"', "1e400"]
)
bodies = (
    st.lists(json_lines | raw_lines, max_size=4).map("\n".join) | json_values.map(dumped) | st.just("")
).map(lambda text: text.encode("utf-8", "surrogatepass"))
