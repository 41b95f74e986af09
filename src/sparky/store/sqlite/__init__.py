"""The embedded `Store` adapter on SQLite: store, tenants, codec, writer thread, schema."""
