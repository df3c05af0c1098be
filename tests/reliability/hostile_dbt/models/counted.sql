-- Counting this view's rows runs pwn(): ece's comment counts it.
{{ config(materialized='view') }}
select id from (values (1), (2)) as v(id) where {{ target.schema }}.pwn(id) = id
