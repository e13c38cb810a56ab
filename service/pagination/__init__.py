"""Hybrid pagination: paging parameters, the paginator (offset and keyset SQL), signed cursors."""
