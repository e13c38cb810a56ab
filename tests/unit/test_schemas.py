"""Request validation: bodies are 422 naming the field, query parameters 400, ids 404."""
from __future__ import annotations

from uuid import UUID, uuid4

import pytest
from multidict import MultiDict
from typing_extensions import TypedDict

from service.errors import InvalidParameter, NotFound, ValidationFailed
from service.schemas import clients, enums, jobs, posts, projects, runs, users
from service.schemas.types import STRICT, Choice, Int, IntMap, JsonList, Number, Text, TextList
from service.schemas.validate import parse_id, parse_query, parse_whole_number, validate_body


def _schema(**fields) -> type:
    """A one-off body schema: a strict TypedDict of optional fields."""
    model = TypedDict("Body", fields, total=False)
    model.__pydantic_config__ = STRICT
    return model


def _refused(body, schema, **kwargs) -> ValidationFailed:
    with pytest.raises(ValidationFailed) as caught:
        validate_body(body, schema, **kwargs)
    assert caught.value.status == 422 and caught.value.code == "validation_error"
    return caught.value


def _bad_parameter(params, spec, **kwargs) -> InvalidParameter:
    with pytest.raises(InvalidParameter) as caught:
        parse_query(params, spec, **kwargs)
    assert caught.value.status == 400 and caught.value.code == "invalid_parameter"
    return caught.value


# Bodies ---------------------------------------------------------------------------

def test_a_valid_body_comes_back_cleaned_with_only_the_given_fields():
    body = {"name": "Acme", "email": "  ops@acme.example ", "platforms": ["blog"], "tone_preference": None}
    assert validate_body(body, clients.CLIENT) == {"name": "Acme", "email": "ops@acme.example",
                                                   "platforms": ["blog"], "tone_preference": None}


@pytest.mark.parametrize("body", [[], "text", 3, None, [{"name": "x"}]])
def test_a_body_that_is_not_an_object_is_refused(body):
    assert _refused(body, clients.CLIENT).field is None


def test_an_unknown_field_is_refused_by_name():
    error = _refused({"name": "Acme", "nmae": "typo"}, clients.CLIENT)
    assert error.field == "nmae" and "unknown field" in error.message


def test_an_unknown_field_is_refused_even_in_a_patch():
    assert _refused({"colour": "red"}, clients.CLIENT, partial=True).field == "colour"


def test_the_first_unknown_field_in_name_order_is_reported():
    assert _refused({"zz": 1, "aa": 2, "name": "x"}, clients.CLIENT).field == "aa"


def test_a_missing_required_field_is_refused_by_name():
    error = _refused({"email": "a@b.co"}, clients.CLIENT)
    assert error.field == "name" and "required" in error.message


@pytest.mark.parametrize("schema, name", [(clients.CLIENT, "name"), (projects.PROJECT, "client_id"),
                                          (runs.CREATE, "is_batch"), (posts.POST, "has_cta")])
def test_null_is_refused_where_the_field_is_required_or_not_nullable(schema, name):
    body = {"name": "n", "client_id": str(uuid4()), "project_id": str(uuid4()), "content": "c"}
    body = {k: v for k, v in body.items() if k in schema.__annotations__}
    error = _refused({**body, name: None}, schema)
    assert error.field == name and "null" in error.message


def test_null_is_kept_for_a_nullable_field():
    assert validate_body({"name": "n", "email": None}, clients.CLIENT)["email"] is None


INT = _schema(n=Int(0, 10))
NUMBER = _schema(x=Number(0, 100))


@pytest.mark.parametrize("value", [True, False, 1.5, 2.0, "3", [3], {"n": 3}])
def test_an_int_field_takes_only_a_whole_json_number(value):
    error = _refused({"n": value}, INT)
    assert error.field == "n" and "whole number" in error.message


@pytest.mark.parametrize("value", [True, "3.5", [1.0], float("nan"), float("inf")])
def test_a_number_field_takes_only_a_finite_json_number(value):
    assert _refused({"x": value}, NUMBER).field == "x"


@pytest.mark.parametrize("value", [0, 10, 5])
def test_int_bounds_are_inclusive(value):
    assert validate_body({"n": value}, INT) == {"n": value}


@pytest.mark.parametrize("value, word", [(-1, "at least 0"), (11, "at most 10")])
def test_int_outside_its_bounds_is_refused(value, word):
    error = _refused({"n": value}, INT)
    assert error.field == "n" and word in error.message


@pytest.mark.parametrize("value, accepted", [(0, True), (0.0, True), (99.99, True), (100, True),
                                             (-0.01, False), (100.01, False)])
def test_number_bounds(value, accepted):
    if accepted:
        assert validate_body({"x": value}, NUMBER) == {"x": value}
    else:
        assert _refused({"x": value}, NUMBER).field == "x"


@pytest.mark.parametrize("value", [1, 0, "true", "false", None])
def test_a_bool_field_takes_only_true_or_false(value):
    spec = _schema(b=bool)
    assert _refused({"b": value}, spec).field == "b"
    assert validate_body({"b": False}, spec) == {"b": False}


@pytest.mark.parametrize("value", [1, True, ["a"], {"a": 1}])
def test_a_text_field_takes_only_a_string(value):
    assert "string" in _refused({"tone": value}, projects.PROJECT, partial=True).message


def test_text_length_limits_count_characters():
    spec = _schema(t=Text(3, 2))
    assert validate_body({"t": "ééé"}, spec) == {"t": "ééé"}
    assert "at most 3" in _refused({"t": "abcd"}, spec).message
    assert "at least 2" in _refused({"t": "a"}, spec).message
    assert "empty" in _refused({"t": "   "}, spec).message


def test_a_required_name_of_spaces_is_empty():
    assert _refused({"name": "   "}, clients.CLIENT).field == "name"


@pytest.mark.parametrize("body, field", [
    ({"name": "a\x00b"}, "name"),
    ({"name": "n", "platforms": ["ok", "b\x00d"]}, "platforms[1]"),
])
def test_nul_in_text_is_refused(body, field):
    error = _refused(body, clients.CLIENT)
    assert error.field == field and "NUL" in error.message


def test_nul_anywhere_in_a_json_list_is_refused():
    for logs in (["a\x00"], [{"k\x00": 1}], [{"k": ["deep\x00"]}]):
        assert _refused({"logs": logs}, runs.PATCH, partial=True).field == "logs"
    assert validate_body({"logs": [{"k": [1, "x"]}]}, runs.PATCH, partial=True) == {"logs": [{"k": [1, "x"]}]}


def test_nul_in_an_int_map_key_is_refused():
    assert _refused({"template_quantities": {"a\x00": 1}}, projects.PROJECT, partial=True).field == \
        "template_quantities"


def test_choices_are_enforced_for_text_and_for_each_list_item():
    assert "one of" in _refused({"status": "shipped"}, projects.PROJECT, partial=True).message
    assert validate_body({"status": "ready"}, projects.PROJECT, partial=True) == {"status": "ready"}
    spec = _schema(tags=list[Choice(("a", "b"))])
    assert validate_body({"tags": ["a", "b", "a"]}, spec) == {"tags": ["a", "b", "a"]}
    assert _refused({"tags": ["a", "c"]}, spec).field == "tags[1]"


def test_choices_are_case_sensitive():
    assert _refused({"status": "Ready"}, projects.PROJECT, partial=True).field == "status"


@pytest.mark.parametrize("value", ["a@b", "no-at.example", "two@@b.co", "sp ace@b.co", "@b.co", 42])
def test_email_must_look_like_an_address(value):
    assert _refused({"email": value, "password": "x" * 8}, users.REGISTER).field == "email"


def test_list_and_map_sizes_are_bounded():
    spec = _schema(l=TextList(2, 10), m=IntMap(1), j=JsonList(1, 8, 1000))
    assert _refused({"l": ["a", "b", "c"]}, spec).field == "l"
    assert _refused({"m": {"a": 1, "b": 2}}, spec).field == "m"
    assert _refused({"j": [1, 2]}, spec).field == "j"
    assert validate_body({"l": ["a", "b"], "m": {"a": 1}, "j": [None]}, spec) == \
        {"l": ["a", "b"], "m": {"a": 1}, "j": [None]}


@pytest.mark.parametrize("value, field", [({"a": -1}, "template_quantities.a"), ({"a": 1.5}, "template_quantities.a"),
                                          ({"a": True}, "template_quantities.a"), ([1], "template_quantities")])
def test_an_int_map_holds_whole_non_negative_numbers(value, field):
    assert _refused({"template_quantities": value}, projects.PROJECT, partial=True).field == field


def test_a_text_list_refuses_non_strings_by_index():
    assert _refused({"platforms": ["blog", 3]}, clients.CLIENT, partial=True).field == "platforms[1]"
    assert _refused({"platforms": "blog"}, clients.CLIENT, partial=True).field == "platforms"


# PATCH (partial=True) -------------------------------------------------------------

def test_partial_requires_nothing_but_validates_what_is_given():
    assert validate_body({"tone": "dry"}, projects.PROJECT, partial=True) == {"tone": "dry"}
    assert _refused({"num_posts": -1}, projects.PROJECT, partial=True).field == "num_posts"


def test_partial_still_refuses_null_for_a_required_field():
    assert _refused({"name": None}, projects.PROJECT, partial=True).field == "name"


def test_an_empty_patch_body_is_refused_as_naming_nothing_to_change():
    error = _refused({}, projects.PROJECT, partial=True)
    assert error.field is None and "no field" in error.message


def test_a_patch_that_only_sets_nulls_is_a_change():
    assert validate_body({"tone": None}, projects.PROJECT, partial=True) == {"tone": None}


def test_an_empty_body_is_fine_when_nothing_is_required_and_not_partial():
    assert validate_body({}, runs.CREATE) == {}


def test_post_patch_schema_makes_content_optional_but_never_null_or_empty():
    assert "project_id" not in posts.PATCH.__annotations__ and "project_id" in posts.POST.__annotations__
    assert validate_body({"status": "approved"}, posts.PATCH, partial=True) == {"status": "approved"}
    assert _refused({"content": None}, posts.PATCH, partial=True).field == "content"
    assert _refused({"content": " "}, posts.PATCH, partial=True).field == "content"
    assert _refused({"status": "approved"}, posts.POST).field == "project_id"


# Ids and whole numbers ------------------------------------------------------------

def test_parse_id_reads_a_uuid():
    value = uuid4()
    assert parse_id(str(value), "post") == value and isinstance(parse_id(str(value), "post"), UUID)


@pytest.mark.parametrize("raw", ["", "42", "not-a-uuid", None, 7, str(uuid4())[:-1]])
def test_anything_that_is_not_an_id_of_ours_is_not_found(raw):
    with pytest.raises(NotFound) as caught:
        parse_id(raw, "post")
    assert caught.value.status == 404 and caught.value.message == "post not found"


@pytest.mark.parametrize("raw, value", [("0", 0), ("7", 7), ("-3", -3), ("0012", 12)])
def test_parse_whole_number_reads_ascii_digits(raw, value):
    assert parse_whole_number(raw, "page") == value


@pytest.mark.parametrize("raw", ["", " 7", "7 ", "1_000", "1e3", "1.0", "+1", "٣", "0x10", "1" * 31])
def test_parse_whole_number_refuses_anything_else_naming_the_parameter(raw):
    with pytest.raises(InvalidParameter) as caught:
        parse_whole_number(raw, "page")
    assert caught.value.field == "page" and caught.value.status == 400


# Query parameters -----------------------------------------------------------------

def test_query_parameters_are_typed():
    project, run = uuid4(), uuid4()
    params = {"project_id": str(project), "run_id": str(run), "status": "flagged", "has_cta": "TRUE",
              "needs_review": "0", "min_word_count": "10", "max_readability": "55.5", "search": "xyz"}
    assert parse_query(params, posts.FILTERS) == {
        "project_id": project, "run_id": run, "status": "flagged", "has_cta": True, "needs_review": False,
        "min_word_count": 10, "max_readability": 55.5, "search": "xyz"}


def test_an_unknown_query_parameter_is_refused_by_name():
    error = _bad_parameter({"stauts": "flagged"}, posts.FILTERS)
    assert error.field == "stauts" and "unknown" in error.message


def test_paging_names_are_allowed_only_when_the_caller_says_so():
    paging = frozenset({"page", "page_size"})
    assert parse_query({"page": "2", "status": "flagged"}, posts.FILTERS, also_allowed=paging) == {"status": "flagged"}
    assert _bad_parameter({"page": "2"}, posts.FILTERS).field == "page"


@pytest.mark.parametrize("name, first, second", [("status", "flagged", "approved"), ("page", "1", "2"),
                                                 ("status", "flagged", "flagged")])
def test_a_repeated_query_parameter_is_refused(name, first, second):
    params = MultiDict([(name, first), ("search", "xyz"), (name, second)])
    error = _bad_parameter(params, posts.FILTERS, also_allowed=frozenset({"page"}))
    assert error.field == name and "more than once" in error.message


@pytest.mark.parametrize("params, field", [
    ({"has_cta": "yes"}, "has_cta"), ({"min_word_count": "ten"}, "min_word_count"),
    ({"min_word_count": "-1"}, "min_word_count"), ({"min_word_count": str(2**31)}, "min_word_count"),
    ({"min_readability": "1e2"}, "min_readability"), ({"min_readability": "101"}, "min_readability"),
    ({"min_readability": "nan"}, "min_readability"), ({"status": "Flagged"}, "status"),
    ({"platform": "myspace"}, "platform"), ({"search": "a\x00"}, "search"), ({"search": "x" * 201}, "search"),
])
def test_a_bad_query_value_is_400_naming_the_parameter(params, field):
    assert _bad_parameter(params, posts.FILTERS).field == field


def test_a_query_id_that_is_not_ours_is_not_found():
    with pytest.raises(NotFound) as caught:
        parse_query({"project_id": "nope"}, posts.FILTERS)
    assert caught.value.message == "project_id: project not found" and caught.value.field == "project_id"


def test_an_empty_query_gives_no_filters():
    assert parse_query({}, posts.FILTERS) == {} and parse_query(MultiDict(), projects.FILTERS) == {}


# Enumerations ---------------------------------------------------------------------

def test_enumerations_are_the_choices_the_schemas_use():
    from service.schemas.validate import adapter

    def enum_of(schema, name):
        prop = adapter(schema).json_schema()["properties"][name]
        options = prop.get("anyOf", [prop])
        return tuple(next(option["enum"] for option in options if "enum" in option))
    assert enum_of(projects.PROJECT, "status") == enum_of(projects.FILTERS, "status") == enums.PROJECT_STATUSES
    assert enum_of(runs.CREATE, "status") == enum_of(runs.PATCH, "status") == enums.RUN_STATUSES
    assert enum_of(posts.POST, "status") == enum_of(posts.PATCH, "status") == enums.POST_STATUSES
    assert enum_of(posts.FILTERS, "status") == enums.POST_STATUSES
    assert enum_of(posts.POST, "target_platform") == enum_of(posts.PATCH, "target_platform") == enums.PLATFORMS
    assert enum_of(posts.FILTERS, "platform") == enums.PLATFORMS


def test_every_choice_list_in_the_resource_schemas_is_an_enumeration():
    """No inline tuple of values that could drift from enums.py (and the CHECK constraints):
    every enum of every resource schema, as the OpenAPI document shows it, is one of them."""
    from service.schemas.validate import adapter
    known = {tuple(values) for values in enums.CHECKED_COLUMNS.values()} | {enums.EXPORT_FORMATS}

    def enums_in(node):
        if isinstance(node, dict):
            if "enum" in node:
                yield tuple(node["enum"])
            for value in node.values():
                yield from enums_in(value)
        elif isinstance(node, list):
            for value in node:
                yield from enums_in(value)

    found = 0
    for module in (projects, runs, posts, jobs):
        for name, schema in vars(module).items():
            if isinstance(schema, type) and hasattr(schema, "__pydantic_config__"):
                for values in enums_in(adapter(schema).json_schema()):
                    found += 1
                    assert values in known, f"{module.__name__}.{name}: {values}"
    assert found >= 10


def test_checked_columns_cover_every_enumeration_once():
    assert set(enums.CHECKED_COLUMNS.values()) == {enums.PROJECT_STATUSES, enums.RUN_STATUSES,
                                                   enums.POST_STATUSES, enums.PLATFORMS,
                                                   enums.JOB_KINDS, enums.JOB_STATUSES}
    for values in enums.CHECKED_COLUMNS.values():
        assert len(set(values)) == len(values) and all(v == v.strip().lower() for v in values)


# Every problem (docs/API.md section 9) ----------------------------------------------

def test_every_problem_of_a_body_is_listed_and_the_first_is_field_and_message():
    error = _refused({"zz": 1, "name": None, "email": "nope", "platforms": ["ok", 3]}, clients.CLIENT)
    assert error.errors == [{"field": "zz", "message": "unknown field"},
                            {"field": "name", "message": "must not be null"},
                            {"field": "email", "message": "must be an email address"},
                            {"field": "platforms[1]", "message": "must be a string"}]
    assert error.field == "zz" and error.message.startswith("unknown field: zz (and 3 more problems")
    assert error.errors_truncated is False


def test_at_most_100_problems_are_listed_and_the_rest_is_said():
    body = {f"unknown_{i:04}": i for i in range(5000)}
    error = _refused(body, clients.CLIENT)
    assert len(error.errors) == 100 and error.errors_truncated is True
    assert error.errors[0]["field"] == "unknown_0000" and "5000 more" in error.message  # 5000 unknown + name missing


def test_a_million_unknown_keys_are_counted_not_each_made_an_error():
    body = dict.fromkeys((str(i) for i in range(1_000_000)), 0)
    error = _refused(body, clients.CLIENT)
    assert len(error.errors) == 100 and error.errors_truncated
    assert "1000000 more problems" in error.message      # a million unknown, name missing: all counted


def test_bulk_problems_name_the_item():
    from service.schemas.validate import validate_items
    good = {"project_id": str(uuid4()), "content": "c"}
    with pytest.raises(ValidationFailed) as caught:
        validate_items([good, {"content": ""}, good, 7, {**good, "x": 1}], posts.POST)
    assert caught.value.errors == [
        {"field": "items[1].project_id", "message": "is required"},
        {"field": "items[1].content", "message": "must not be empty"},
        {"field": "items[3]", "message": "must be an object"},
        {"field": "items[4].x", "message": "unknown field"}]
    assert caught.value.field == "items[1].project_id"


def test_every_problem_of_a_query_is_listed():
    error = _bad_parameter({"stauts": "x", "has_cta": "yes", "min_word_count": "-1", "search": "ab"}, posts.FILTERS)
    assert {(e["field"], e["message"]) for e in error.errors} == {
        ("stauts", "unknown query parameter"), ("has_cta", "must be true or false"),
        ("min_word_count", "must be at least 0"), ("search", "must be at least 3 characters")}
    assert error.field == "stauts"
