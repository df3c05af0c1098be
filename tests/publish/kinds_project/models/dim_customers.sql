{{ config(materialized='table', schema='marts', alias='customers_dim',
          pre_hook="select 1", post_hook="comment on table {{ this }} is 'built by ece_kinds'",
          grants={'select': ['ece_kinds_reader']}) }}
select c.id, c.name, k.name as country from {{ ref('stg_customers') }} c left join {{ ref('countries_eph') }} k on k.code = c.country
