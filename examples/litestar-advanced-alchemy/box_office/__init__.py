"""A box office: Litestar + advanced-alchemy, the anyio adopter example of pgsandbox."""
