"""HTTP handlers, one module per resource (schema in -> store call -> response), the
route table (routes.py) and the admin endpoints (admin/)."""
