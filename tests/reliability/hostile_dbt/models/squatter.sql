-- Through the generate_schema_name above this lands in production's schema.
{{ config(materialized='table', schema='analytics') }}
select 666 as id
