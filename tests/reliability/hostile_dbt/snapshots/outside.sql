-- The classic snapshot config: a fixed target_schema, outside the environment.
{% snapshot outside %}
{{ config(target_schema='ece_squatted', unique_key='id', strategy='check', check_cols=['id']) }}
select 1 as id
{% endsnapshot %}
