-- find_webhook_secret_owners(p_secret text) -> rows (user_id uuid)
-- The users whose production webhook secret (bot_credentials, exchange 'webhook') is p_secret.
-- Sparky looks a secret up here when it is not in its cached list (a secret added since the last
-- refresh). Called as POST /rest/v1/rpc/find_webhook_secret_owners with the secret in the JSON
-- body: the lookup it replaces was a GET whose query string carried the plain secret, and query
-- strings end up in request logs (Supabase's among them).
-- A stored value is either the plain secret (the dashboard writes those) or 'sha256:<64 hex>',
-- the SHA-256 of its UTF-8 bytes (`sparky users add`). A plain value matches the secret itself;
-- a digest only matches the secret's digest, so presenting a stored digest proves nothing. More
-- than one row means the secret proves no one; Sparky then refuses it.
-- SECURITY INVOKER with search_path pinned, like 0006-0007; only service_role may call it.
create or replace function public.find_webhook_secret_owners(p_secret text)
returns table (user_id uuid)
language sql
stable
set search_path = ''
as $$
    with presented (plain, digest) as (
        select p_secret,
               'sha256:' || pg_catalog.encode(pg_catalog.sha256(pg_catalog.convert_to(p_secret, 'UTF8')), 'hex')
    )
    select distinct c.user_id
      from public.bot_credentials c, presented
     where c.exchange = 'webhook'
       and c.environment = 'production'
       and c.user_id is not null
       and presented.plain <> ''
       and c.webhook_secret in (presented.plain, presented.digest)  -- idx_bot_credentials_webhook_secret
       and case when c.webhook_secret ~ '^sha256:[0-9a-f]{64}$'
                then c.webhook_secret = presented.digest
                else c.webhook_secret = presented.plain
           end;
$$;

revoke all on function public.find_webhook_secret_owners(text) from public, anon, authenticated;
grant execute on function public.find_webhook_secret_owners(text) to service_role;

notify pgrst, 'reload schema';
