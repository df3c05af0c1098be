{{ config(materialized='view') }}
select id, name, country from {{ source('app', 'customers') }}
