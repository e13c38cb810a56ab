"""Who is calling: the user (a leaf type), passwords, tokens and the request guards."""
