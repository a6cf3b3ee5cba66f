"""A lending library: the sync adopter example of pgsandbox."""
