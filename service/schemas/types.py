"""The value types every schema is built from (pydantic v2 annotated types).

Each type carries its limit once: validation (service/schemas/validate.py) and the
OpenAPI document (service/api/docs.py) both read it from here. Models are
TypedDicts, so a validated body is a plain dict holding only the fields the caller
sent (a PATCH changes only those); `Required[...]` marks what a body must carry.
Limits match the database columns (issue 15): a value the column cannot hold is a
422 here, never an error in the driver.
"""
from __future__ import annotations

import re
import unicodedata
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BeforeValidator, ConfigDict, Field, StringConstraints, WithJsonSchema

from service.jsonutil import dumps
from service.store.trigrams import like_trigrams

# Every body and query model: unknown names refused, no coercion ("3" is not 3, 1 is not true).
STRICT = ConfigDict(extra="forbid", strict=True)

MAX_KEY_LENGTH = 200
INT32_MAX = 2**31 - 1
# Unicode categories nobody can see: format (zero-width space, joiners, BOM), control,
# unassigned, private use and surrogates.
_INVISIBLE = frozenset({"Cf", "Cc", "Cn", "Co", "Cs"})
# An address as RFC 5321 sends it (a dot-atom, RFC 6531's non-ASCII letters allowed) at a
# domain of two or more labels, or at an IPv4 literal. Anything but "no space, one @" was
# taken before: "root,ada@example.com" was stored, and the delivery notice (jobs/tasks/emails.py
# puts it in To:) went to both "root" (a mailbox of the relay) and ada; "ada;x@example.com"
# went to "ada" only; "<ada@example.com>", ".ada@", "ada@example..com" were stored as addresses.
_UNICODE = r"[^\x00-\x7f\s]"
_ATEXT = rf"(?:[A-Za-z0-9!#$%&'*+/=?^_`{{|}}~-]|{_UNICODE})"
_LABEL = rf"(?:[A-Za-z0-9]|{_UNICODE})(?:(?:[A-Za-z0-9-]|{_UNICODE})*(?:[A-Za-z0-9]|{_UNICODE}))?"
_EMAIL = re.compile(rf"(?=[^@]{{1,64}}@){_ATEXT}+(?:\.{_ATEXT}+)*"
                    rf"@(?:{_LABEL}(?:\.{_LABEL})+|\[[0-9]{{1,3}}(?:\.[0-9]{{1,3}}){{3}}\])")


def _no_nul(value: str) -> str:
    # PostgreSQL text cannot hold NUL: refused here rather than failing in the driver.
    if "\x00" in value:
        raise ValueError("must not contain NUL characters")
    return value


def _not_blank(value: str) -> str:
    if not value.strip():
        raise ValueError("must not be empty")
    return value


def Text(max_length: int = 10000, min_length: int = 0, **schema: Any) -> Any:
    """A string of at most max_length characters (counted as characters, not bytes), no NUL;
    with min_length, a value of spaces only is empty."""
    checks: list[Any] = [StringConstraints(min_length=min_length or None, max_length=max_length),
                         AfterValidator(_no_nul)]
    if min_length:
        # Said in the document too: its minLength alone let "   " pass where we refuse it.
        checks += [AfterValidator(_not_blank), Field(json_schema_extra={"pattern": r"\S"})]
    if schema:
        checks.append(Field(**schema))
    return Annotated[str, *checks]


# users.email and clients.email hold at most 254 characters (RFC 5321's path limit), counted
# after normalize_email: NFKC can make one character up to 18 (㌕ is five).
MAX_EMAIL_LENGTH = 254
EMAIL_TOO_LONG = f"must be at most {MAX_EMAIL_LENGTH} characters (after NFKC normalisation)"


def normalize_email(text: str) -> str:
    """NFKC (full-width and compatibility forms become their plain letters), trimmed.
    Any case is then the database's lower(), never Python's str.lower(): one definition
    for uniqueness (the index on lower(email)), the login lookup and the login throttle."""
    return unicodedata.normalize("NFKC", text).strip()


def _scripts(part: str) -> set[str]:
    """The alphabets the letters of one address part are written in (LATIN, CYRILLIC, ...)."""
    return {unicodedata.name(ch, "UNKNOWN").split(" ")[0] for ch in part if ch.isalpha()}


def _email(value: str) -> str:
    text = normalize_email(_no_nul(value))
    if len(text) > MAX_EMAIL_LENGTH:
        raise ValueError(EMAIL_TOO_LONG)
    if any(unicodedata.category(ch) in _INVISIBLE for ch in text):
        raise ValueError("must not contain invisible or control characters")
    if not _EMAIL.fullmatch(text):
        raise ValueError("must be an email address")
    if any(len(_scripts(part)) > 1 for part in re.split(r"[@.]", text)):
        raise ValueError("must not mix alphabets within one part (look-alike addresses are refused)")
    return text


# max_length bounds what is sent (and what NFKC is run on); _email bounds the normalised form.
Email = Annotated[str, StringConstraints(max_length=MAX_EMAIL_LENGTH), AfterValidator(_email),
                  Field(json_schema_extra={"format": "email"}, examples=["ada@example.com"], description=(
                      # format "email" alone allows quoted local parts and single-label domains.
                      "An address without quotes or comments (a dot-atom; letters of any alphabet) at a "
                      "domain of two or more labels or an IPv4 literal; NFKC-normalised and trimmed, at most "
                      "254 characters after it; invisible characters and letters of two alphabets in one part "
                      "are refused"))]


WHOLE_NUMBER = "A whole number written without a fraction or exponent: 2.0 and 2e0 are refused"


def Int(minimum: int = 0, maximum: int = 1_000_000) -> Any:
    """A whole JSON number (true, 2.0 and "3" are not), within the column's range."""
    # JSON Schema's "integer" includes 2.0 and 2e0 (any number with a zero fraction): the
    # description says that we refuse them, or the document allows what validation does not.
    return Annotated[int, Field(ge=minimum, le=maximum, description=WHOLE_NUMBER)]


def Number(minimum: float = 0, maximum: float = 1e15) -> Any:
    """A finite JSON number (an integer is one too)."""
    return Annotated[float, Field(ge=minimum, le=maximum, allow_inf_nan=False)]


def Choice(values: tuple[str, ...]) -> Any:
    """One of an enumeration of service/schemas/enums.py (case-sensitive)."""
    return Literal[values]   # type: ignore[valid-type]


def TextList(max_items: int, max_length: int) -> Any:
    return Annotated[list[Text(max_length)], Field(max_length=max_items)]


def IntMap(max_items: int) -> Any:
    """An object of whole non-negative numbers; keys over MAX_KEY_LENGTH are refused,
    never cut (two cut keys could merge into one)."""
    return Annotated[dict[Text(MAX_KEY_LENGTH), Int()], Field(max_length=max_items)]


def _shape(value: Any, limit: int) -> tuple[int, bool]:
    """(nesting depth, whether any string holds NUL) of a JSON value, without recursion;
    the walk stops once the depth passes `limit`."""
    depth, holds_nul = 0, False
    pending: list[tuple[Any, int]] = [(value, 1)]
    while pending:
        item, level = pending.pop()
        if isinstance(item, str):
            holds_nul = holds_nul or "\x00" in item
        elif isinstance(item, (list, dict)):
            depth = max(depth, level)
            if depth > limit:
                return depth, holds_nul
            children = item if isinstance(item, list) else [*item.keys(), *item.values()]
            pending.extend((child, level + 1) for child in children)
    return depth, holds_nul


def JsonList(max_items: int, max_depth: int, max_bytes: int) -> Any:
    """A list of any JSON values (stored as jsonb): bounded in items, nesting (the list
    itself included) and size as compact JSON; no NUL in any string (jsonb refuses it)."""
    def check(value: list) -> list:
        depth, holds_nul = _shape(value, max_depth)
        if depth > max_depth:
            raise ValueError(f"must not nest deeper than {max_depth} levels")
        if holds_nul:
            raise ValueError("must not contain NUL characters")
        if len(dumps(value)) > max_bytes:
            raise ValueError(f"must be at most {max_bytes} bytes as JSON")
        return value
    return Annotated[list[Any], Field(max_length=max_items, description=(
        f"Any JSON values; at most {max_depth} levels deep and {max_bytes} bytes as JSON")), AfterValidator(check)]


class _IdMarker:
    """Marks an id field: a value that is not an id of ours is 404 (parse_id), not 400/422."""


ID = _IdMarker()
# Any string is taken here: the handler's parse_id answers 404 for one that is not an id of ours.
Id = Annotated[str, ID, WithJsonSchema({"type": "string", "format": "uuid"})]


# Query-string forms: the raw text is read strictly (plain ASCII digits; int() and float()
# would also take " 7", "1_000", "1e3" and non-ASCII digits), then the bounds apply.
_WHOLE_NUMBER = re.compile(r"-?[0-9]{1,30}")
_DECIMAL = re.compile(r"-?[0-9]{1,30}(\.[0-9]{1,30})?")


def _query_int(raw: Any) -> Any:
    if isinstance(raw, str):
        if not _WHOLE_NUMBER.fullmatch(raw):
            raise ValueError(f"must be a whole number, got {raw[:40]!r}")
        return int(raw)
    return raw


def _query_number(raw: Any) -> Any:
    if isinstance(raw, str):
        if not _DECIMAL.fullmatch(raw):
            raise ValueError(f"must be a number, got {raw[:40]!r}")
        return float(raw)
    return raw


def _query_bool(raw: Any) -> Any:
    if isinstance(raw, str):
        lowered = raw.lower()
        if lowered not in ("true", "false", "1", "0"):
            raise ValueError("must be true or false")
        return lowered in ("true", "1")
    return raw


def QueryInt(minimum: int = 0, maximum: int = INT32_MAX) -> Any:
    # Field before the validator: so the JSON Schema says minimum/maximum, not ge/le.
    return Annotated[int, Field(ge=minimum, le=maximum), BeforeValidator(_query_int)]


def QueryNumber(minimum: float = 0, maximum: float = 1e15) -> Any:
    return Annotated[float, Field(ge=minimum, le=maximum, allow_inf_nan=False), BeforeValidator(_query_number)]


QueryBool = Annotated[bool, BeforeValidator(_query_bool)]


def _search(value: str) -> str:
    if len(value.strip()) < 3:
        raise ValueError("must be at least 3 characters")
    # "---", "C++" or "%%%" are 3 characters but give pg_trgm no trigram to look up: the
    # index would return every row to be tested (90-130 ms at 100,000 posts against 2-9 ms for
    # a term with trigrams, measured; it grows with the table), the very cost the 3-character
    # minimum exists to refuse. like_trigrams is pg_trgm's extraction for ILIKE '%term%'.
    if not like_trigrams(value):
        raise ValueError("must contain letters or digits the search index can use, such as a word of 3 or more")
    return value


# A case-insensitive 'contains' search: 3 to 200 characters (docs/API.md section 4). It is served by a
# trigram index, and a trigram needs three characters: anything shorter would scan every row, and so
# would a term of 3 or more without a trigram (no letter or digit, or too few in a row: "C++").
Search = Annotated[str, StringConstraints(max_length=200), AfterValidator(_no_nul), AfterValidator(_not_blank),
                   AfterValidator(_search),
                   Field(json_schema_extra={"minLength": 3, "pattern": r"\S"},
                         description="Case-insensitive 'contains' search, 3 to 200 characters (3 without "
                                     "the leading and trailing spaces: ' ab ' is too short), with letters "
                                     "or digits the trigram index can use")]
