{% snapshot customers_snapshot %}
{{ config(unique_key='id', strategy='check', check_cols='all') }}
select id, name, country from {{ ref('stg_customers') }}
{% endsnapshot %}
