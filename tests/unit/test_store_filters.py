"""The store's list filter blocks agree with every SQL file of their list, and its argument shapes."""
from __future__ import annotations

import re
from decimal import Decimal

import pytest

from service.db.registry import SQL_DIR
from service.pagination.page_request import ORDERS
from service.store import clients, posts, projects, runs
from service.store.patterns import contains

STORES = {"clients": clients, "projects": projects, "runs": runs, "posts": posts}

# The names each kind of list query takes after the filter block (paginator.py).
PAGING = {
    "offset": ("limit", "offset"),
    "keyset": ("key_created_at", "key_id", "limit"),
    "boundary": ("position",),
    "count": ("cap",),
}


def _list_queries(store):
    """(kind, query) for all seven SQL files of a store's list."""
    lq = store.LIST
    found = [("count", lq.count)]
    for kind in ("offset", "keyset", "boundary"):
        mapping = getattr(lq, kind)
        assert set(mapping) == set(ORDERS), f"{lq.resource}: {kind} has orders {sorted(mapping)}"
        found += [(kind, mapping[order]) for order in ORDERS]
    return found


def _visible_function_parameters(resource: str) -> tuple[str, ...]:
    """The parameter names (p_ dropped) of the last visible_<resource>() the migrations define."""
    pattern = re.compile(rf"CREATE\s+(?:OR\s+REPLACE\s+)?FUNCTION\s+visible_{resource}\s*\((.*?)\)\s*RETURNS",
                         re.IGNORECASE | re.DOTALL)
    found = None
    for path in sorted((SQL_DIR / "migrations").glob("*.sql")):
        for match in pattern.finditer(path.read_text()):
            found = match.group(1)
    assert found is not None, f"no migration defines visible_{resource}()"
    return tuple(re.match(r"\s*p_(\w+)", part).group(1) for part in found.split(","))


@pytest.mark.parametrize("resource", STORES)
def test_list_filters_is_the_filter_block_plus_paging_of_every_list_query(resource):
    store = STORES[resource]
    filters = store.list_filters(None)
    assert filters["owner_id"] is None and all(value is None for value in filters.values())
    assert store.LIST.resource == resource
    for kind, q in _list_queries(store):
        expected = set(filters) | set(PAGING[kind])
        assert set(q.params) == expected and len(q.params) == len(expected), (
            f"{q.name}: params {q.params}; the store's filters {tuple(filters)} + {PAGING[kind]}; "
            f"missing {sorted(expected - set(q.params))}, extra {sorted(set(q.params) - expected)}")


@pytest.mark.parametrize("resource", STORES)
def test_every_list_query_passes_the_filter_block_to_visible_function_in_its_order(resource):
    """The seven files call visible_<resource>($1, ..., $k) by position: the header's first k
    names must be the function's parameters in order, and the call must pass $1..$k."""
    store = STORES[resource]
    function = _visible_function_parameters(resource)
    assert set(function) == set(store.list_filters(None)), f"visible_{resource}() takes {function}"
    call = re.compile(rf"visible_{resource}\s*\(([^)]*)\)")
    for _, q in _list_queries(store):
        assert q.params[:len(function)] == function, f"{q.name}: header starts {q.params[:len(function)]}"
        code = "\n".join(line for line in q.text.splitlines() if not line.lstrip().startswith("--"))
        calls = call.findall(code)
        assert len(calls) == 1, f"{q.name} calls visible_{resource}() {len(calls)} times"
        arguments = [a.strip() for a in calls[0].split(",")]
        assert arguments == [f"${n}" for n in range(1, len(function) + 1)], f"{q.name}: passes {arguments}"


@pytest.mark.parametrize("resource", STORES)
def test_list_filters_binds_with_each_list_query(resource):
    """What the paginator does: the filter block plus the paging names binds every query."""
    store = STORES[resource]
    filters = store.list_filters(None)
    for kind, q in _list_queries(store):
        paging = {name: f"<{name}>" for name in PAGING[kind]}
        bound = q.bind({**filters, **paging})
        assert [bound[q.params.index(name)] for name in PAGING[kind]] == list(paging.values())


def test_list_filters_shape_search_patterns():
    assert clients.list_filters(None, search="50%_off")["search"] == r"%50\%\_off%"
    assert projects.list_filters(None, search="a")["search"] == "%a%"
    found = posts.list_filters(None, search="x_y", template_name="100%")
    assert (found["search"], found["template_name"]) == (r"%x\_y%", r"%100\%%")
    assert posts.list_filters(None)["search"] is None


@pytest.mark.parametrize("text, pattern", [
    ("plain", "%plain%"),
    ("100%", r"%100\%%"),
    ("snake_case", r"%snake\_case%"),
    ("back\\slash", r"%back\\slash%"),
    ("\\%", r"%\\\%%"),              # the backslash is escaped before the % it precedes
    ("", "%%"),
    ("Ünïcode", "%Ünïcode%"),
])
def test_contains_escapes_like_wildcards_and_the_escape_character(text, pattern):
    assert contains(text) == pattern


def test_contains_of_none_is_none():
    assert contains(None) is None


def _like_matches(pattern: str, text: str) -> bool:
    """PostgreSQL's ILIKE with the default escape character, for checking what a pattern means."""
    regex, i = "", 0
    while i < len(pattern):
        c = pattern[i]
        if c == "\\" and i + 1 < len(pattern):
            regex += re.escape(pattern[i + 1])
            i += 2
            continue
        regex += ".*" if c == "%" else "." if c == "_" else re.escape(c)
        i += 1
    return re.fullmatch(regex, text, re.IGNORECASE | re.DOTALL) is not None


@pytest.mark.parametrize("needle, haystack, expected", [
    ("50%", "get 50% off", True),
    ("50%", "get 500 off", False),           # % is literal, not "anything"
    ("a_c", "xa_cx", True),
    ("a_c", "xabcx", False),                 # _ is literal, not "any one character"
    ("a\\b", "a\\b", True),
    ("a\\b", "ab", False),
    ("HeLLo", "say hello", True),
])
def test_contains_pattern_means_a_literal_substring(needle, haystack, expected):
    assert _like_matches(contains(needle), haystack) is expected


@pytest.mark.parametrize("value, text", [
    (19.99, "19.99"), (0.1, "0.10"), (1234567890.12, "1234567890.12"), (5, "5.00"), (0, "0.00"),
    (Decimal("7.10"), "7.10"),
    # To the cent as numeric(12,2) stores it (half away from zero): a total computed from it
    # is computed from the price shown.
    (0.005, "0.01"), (0.125, "0.13"), (1.004, "1.00"),
])
def test_money_keeps_the_decimal_text_of_the_json_number(value, text):
    assert projects.money(value) == Decimal(text)
    assert str(projects.money(value)) == text


def test_money_of_19_99_is_not_the_binary_float():
    assert projects.money(19.99) == Decimal("19.99") != Decimal(19.99)
    assert projects.money(None) is None


def test_project_fields_pass_money_through_money():
    shaped = projects._fields({"price_per_post": 19.99, "total_price": 0.3, "name": "n"})
    assert shaped["price_per_post"] == Decimal("19.99") and shaped["total_price"] == Decimal("0.3")
    assert shaped["research_price_per_post"] is None and shaped["name"] == "n"
    assert set(shaped) == set(projects.FIELDS) and projects.MONEY <= set(projects.FIELDS)
