"""Request schemas: the one source for validating bodies and query strings (and,
with issue 11, for the OpenAPI document). `fields` is the engine; one module per
resource declares its bodies and filters; `enums` holds every enumeration once."""
