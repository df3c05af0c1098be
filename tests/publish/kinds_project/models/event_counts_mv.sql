{{ config(materialized='materialized_view', schema='marts') }}
select kind, count(*) as events from {{ ref('events_inc') }} group by kind
