{{ config(materialized='incremental', unique_key='id', on_schema_change='append_new_columns') }}
select id, kind from {{ source('app', 'events') }}
{% if is_incremental() %} where id > (select coalesce(max(id), 0) from {{ this }}) {% endif %}
