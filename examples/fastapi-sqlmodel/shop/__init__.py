"""A small shop: FastAPI + SQLModel, the async adopter example of pgsandbox."""
