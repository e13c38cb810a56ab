"""HTTP plumbing: the one middleware, JSON responses and ETags, request bodies.

Issue 12's security headers and access log land here, one module each."""
