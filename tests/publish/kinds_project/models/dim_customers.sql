{{ config(materialized='table', schema='marts', alias='customers_dim',
          pre_hook="insert into {{ target.schema }}.run_log (phase) values ('pre')",
          post_hook="insert into {{ target.schema }}.run_log (phase) values ('post')",
          grants={'select': ['ece_kinds_reader']}) }}
select c.id, c.name, k.name as country from {{ ref('stg_customers') }} c left join {{ ref('countries_eph') }} k on k.code = c.country
