"""The `Store` adapter on Supabase (PostgREST): store, tenants, codec, client."""
