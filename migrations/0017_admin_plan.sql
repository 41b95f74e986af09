-- The Admin plan (the dashboard's plan for its operators) is unlimited, as in the original and the
-- dashboard: without a row it got Free's limit (5 webhooks a month). Sparky's defaults name it
-- too (src/sparky/store/tenants.py), and a server publishes its limits at start-up; this row is for
-- databases no upgraded server has started on yet. A row an operator set is kept.
insert into public.sparky_plan_limits (plan, monthly_limit)
values ('Admin', null)
on conflict do nothing;
