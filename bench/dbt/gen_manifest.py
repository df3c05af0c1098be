#!/usr/bin/python3
"""Generates a production and a branch manifest.json of a large dbt project, shaped like what dbt 1.9 writes
(manifest schema v12): sources -> staging -> intermediate -> marts, generic tests on staging and marts, project
macros calling each other, dbt's own macros, parent_map and child_map. The branch changes three model bodies (one
per layer) and one macro that a tenth of the marts call.

    bench/dbt/gen_manifest.py --models 50000 --out DIR     # writes DIR/prod.manifest.json, DIR/branch.manifest.json
"""
import argparse
import json
import os
import random


def column(name, description):
    return {"name": name, "description": description, "meta": {}, "data_type": None, "constraints": [],
            "quote": None, "tags": [], "granularity": None}


def model_config(materialized):
    return {"enabled": True, "alias": None, "schema": None, "database": None, "tags": [], "meta": {}, "group": None,
            "materialized": materialized, "incremental_strategy": None, "batch_size": None, "lookback": 1,
            "begin": None, "persist_docs": {}, "post-hook": [], "pre-hook": [], "quoting": {}, "column_types": {},
            "full_refresh": None, "unique_key": None, "on_schema_change": "ignore",
            "on_configuration_change": "apply", "grants": {}, "packages": [],
            "docs": {"show": True, "node_color": None}, "contract": {"enforced": False, "alias_types": True},
            "event_time": None, "concurrent_batches": None, "access": "protected"}


def sha(rng):
    return "%064x" % rng.getrandbits(256)


def model(project, layer, group, name, raw_code, parents, macros, materialized, rng):
    return {
        "database": "analytics_db", "schema": "analytics", "name": name, "resource_type": "model",
        "package_name": project, "path": f"{layer}/{group}/{name}.sql",
        "original_file_path": f"models/{layer}/{group}/{name}.sql", "unique_id": f"model.{project}.{name}",
        "fqn": [project, layer, group, name], "alias": name, "checksum": {"name": "sha256", "checksum": sha(rng)},
        "config": model_config(materialized), "tags": [], "description": f"The {layer} model {name}.",
        "columns": {"id": column("id", "Row id."), "amount_cents": column("amount_cents", "Amount in cents.")},
        "meta": {}, "group": None, "docs": {"show": True, "node_color": None},
        "patch_path": f"{project}://models/{layer}/schema_{group}.yml", "build_path": None,
        "unrendered_config": {"materialized": materialized}, "created_at": 1795238063.9071314,
        "relation_name": f'"analytics_db"."analytics"."{name}"', "raw_code": raw_code, "language": "sql",
        "refs": [{"name": p.split(".")[-1], "package": None, "version": None} for p in parents if p.startswith("model.")],
        "sources": [], "metrics": [], "depends_on": {"macros": macros, "nodes": parents}, "compiled_path": None,
        "contract": {"enforced": False, "alias_types": True, "checksum": None}, "access": "protected",
        "constraints": [], "version": None, "latest_version": None, "deprecation_date": None, "primary_key": ["id"],
        "time_spine": None,
    }


def generic_test(project, layer, kind, model_name, rng):
    name = f"{kind}_{model_name}_id"
    uid = f"test.{project}.{name}.{rng.getrandbits(40):010x}"
    return uid, {
        "database": "analytics_db", "schema": "analytics_dbt_test__audit", "name": name, "resource_type": "test",
        "package_name": project, "path": f"{name}.sql", "original_file_path": f"models/{layer}/schema.yml",
        "unique_id": uid, "fqn": [project, layer, name], "alias": name, "checksum": {"name": "none", "checksum": ""},
        "config": {"enabled": True, "alias": None, "schema": "dbt_test__audit", "database": None, "tags": [],
                   "meta": {}, "group": None, "materialized": "test", "severity": "ERROR", "store_failures": None,
                   "store_failures_as": None, "where": None, "limit": None, "fail_calc": "count(*)",
                   "warn_if": "!= 0", "error_if": "!= 0"},
        "tags": [], "description": "", "columns": {}, "meta": {}, "group": None,
        "docs": {"show": True, "node_color": None}, "patch_path": None, "build_path": None, "unrendered_config": {},
        "created_at": 1795238060.561861, "relation_name": None,
        "raw_code": f"{{{{ test_{kind}(**_dbt_generic_test_kwargs) }}}}", "language": "sql",
        "refs": [{"name": model_name, "package": None, "version": None}], "sources": [], "metrics": [],
        "depends_on": {"macros": [f"macro.dbt.test_{kind}"], "nodes": [f"model.{project}.{model_name}"]},
        "compiled_path": None, "contract": {"enforced": False, "alias_types": True, "checksum": None},
        "column_name": "id", "file_key_name": f"models.{model_name}", "attached_node": f"model.{project}.{model_name}",
        "test_metadata": {"name": kind, "kwargs": {"column_name": "id",
                                                   "model": f"{{{{ get_where_subquery(ref('{model_name}')) }}}}"},
                          "namespace": None},
    }


def source(project, i):
    name = f"tbl_{i:05d}"
    src = f"src_{i // 50:03d}"
    return {
        "database": "raw_db", "schema": src, "name": name, "resource_type": "source", "package_name": project,
        "path": "models/sources.yml", "original_file_path": "models/sources.yml",
        "unique_id": f"source.{project}.{src}.{name}", "fqn": [project, src, name], "source_name": src,
        "source_description": "", "loader": "", "identifier": name, "quoting": {"database": None, "schema": None,
                                                                               "identifier": None, "column": None},
        "loaded_at_field": None, "freshness": {"warn_after": {"count": None, "period": None},
                                               "error_after": {"count": None, "period": None}, "filter": None},
        "external": None, "description": f"Raw table {name}.", "columns": {}, "meta": {}, "source_meta": {},
        "tags": [], "config": {"enabled": True, "event_time": None}, "patch_path": None, "unrendered_config": {},
        "relation_name": f'"raw_db"."{src}"."{name}"', "created_at": 1795238063.9,
    }


def macro(project, name, sql, depends):
    return {"name": name, "resource_type": "macro", "package_name": project, "path": f"macros/{name}.sql",
            "original_file_path": f"macros/{name}.sql", "unique_id": f"macro.{project}.{name}", "macro_sql": sql,
            "depends_on": {"macros": depends}, "description": "", "meta": {},
            "docs": {"show": True, "node_color": None}, "patch_path": None, "arguments": [],
            "created_at": 1795238025.366623, "supported_languages": None}


def build(models, branch, seed):
    rng = random.Random(seed)  # same seed for both manifests: identical except for the branch's changes
    project = "synth"
    n_sources = max(1, models // 10)
    n_staging, n_intermediate = models // 4, models // 2
    n_marts = models - n_staging - n_intermediate
    nodes, sources, macros = {}, {}, {}

    # dbt's own macros (the adapter's materializations and tests), then the project's, calling each other.
    for i in range(400):
        deps = [f"macro.dbt.m_{j:04d}" for j in rng.sample(range(i), min(i, 2))]
        macros[f"macro.dbt.m_{i:04d}"] = macro("dbt", f"m_{i:04d}", "{% macro m_%04d() %}select %d{%% endmacro %%}"
                                               .replace("%04d", f"{i:04d}").replace("%d", str(i)), deps)
    for kind in ("not_null", "unique"):
        macros[f"macro.dbt.test_{kind}"] = macro("dbt", f"test_{kind}", f"{{% test {kind}(model, column_name) %}}"
                                                 "{{ return(adapter.dispatch('test_x')(model, column_name)) }}"
                                                 "{% endtest %}", ["macro.dbt.m_0001"])
    safe_divide = ("{{% macro safe_divide(num, den) %}}\n    {body}\n{{% endmacro %}}"
                   .format(body="{{ num }} / nullif({{ den }}, 0)" if branch
                           else "case when {{ den }} = 0 then null else {{ num }} / {{ den }} end"))
    macros[f"macro.{project}.safe_divide"] = macro(project, "safe_divide", safe_divide, [])
    macros[f"macro.{project}.cents_to_dollars"] = macro(
        project, "cents_to_dollars", "{% macro cents_to_dollars(c) %}{{ safe_divide(c, 100) }}{% endmacro %}",
        [f"macro.{project}.safe_divide"])

    for i in range(n_sources):
        s = source(project, i)
        sources[s["unique_id"]] = s

    changed = {f"stg_{n_staging // 2:05d}", f"int_{n_intermediate // 2:05d}", f"fct_{n_marts // 2:05d}"}
    flag = ",\n    1 as branch_flag" if branch else ""

    def add_model(layer, name, parents, macro_ids, materialized):
        selects = "\n".join(f"left join {{{{ ref('{p.split('.')[-1]}') }}}} r{k} on r{k}.id = r0.id"
                            for k, p in enumerate(parents[1:], 1) if p.startswith("model."))
        first = parents[0]
        frm = (f"{{{{ source('{first.split('.')[2]}', '{first.split('.')[3]}') }}}}" if first.startswith("source.")
               else f"{{{{ ref('{first.split('.')[-1]}') }}}}")
        amount = "{{ cents_to_dollars('r0.amount_cents') }}" if macro_ids else "r0.amount_cents"
        raw = (f"select\n    r0.id,\n    {amount} as amount_cents,\n    r0.name,\n    r0.updated_at"
               f"{flag if name in changed else ''}\nfrom {frm} as r0\n{selects}\n"
               f"where r0.id >= {{{{ var('synth_min_id') }}}}")
        nodes[f"model.{project}.{name}"] = model(project, layer, f"g{rng.randrange(40):03d}", name, raw, parents,
                                                 macro_ids, materialized, rng)
        if layer in ("staging", "marts"):
            for kind in ("not_null", "unique"):
                uid, t = generic_test(project, layer, kind, name, rng)
                nodes[uid] = t

    source_ids = list(sources)
    for i in range(n_staging):
        add_model("staging", f"stg_{i:05d}", [source_ids[i % n_sources]], [], "view")
    for i in range(n_intermediate):
        pool = ([f"model.{project}.stg_{rng.randrange(n_staging):05d}"] +
                [f"model.{project}.int_{rng.randrange(i):05d}" for _ in range(rng.randrange(3)) if i > 0])
        add_model("intermediate", f"int_{i:05d}", list(dict.fromkeys(pool)), [], "table")
    for i in range(n_marts):
        pool = [f"model.{project}.int_{rng.randrange(n_intermediate):05d}" for _ in range(1 + rng.randrange(4))]
        uses_macro = rng.random() < 0.1
        add_model("marts", f"fct_{i:05d}", list(dict.fromkeys(pool)),
                  [f"macro.{project}.cents_to_dollars"] if uses_macro else [], "table")

    parent_map = {uid: list(n["depends_on"]["nodes"]) for uid, n in nodes.items()}
    parent_map.update({uid: [] for uid in sources})
    child_map = {uid: [] for uid in parent_map}
    for uid, parents in parent_map.items():
        for p in parents:
            child_map.setdefault(p, []).append(uid)

    return {
        "metadata": {"dbt_schema_version": "https://schemas.getdbt.com/dbt/manifest/v12.json", "dbt_version": "1.9.1",
                     "generated_at": "2026-11-21T05:13:43.837672Z", "invocation_id": "generated", "env": {},
                     "project_name": project, "project_id": "generated", "user_id": None,
                     "send_anonymous_usage_stats": False, "adapter_type": "postgres"},
        "nodes": nodes, "sources": sources, "macros": macros, "docs": {}, "exposures": {}, "metrics": {},
        "groups": {}, "selectors": {}, "disabled": {}, "parent_map": parent_map, "child_map": child_map,
        "group_map": {}, "saved_queries": {}, "semantic_models": {}, "unit_tests": {},
    }


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models", type=int, required=True)
    parser.add_argument("--out", required=True)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    os.makedirs(args.out, exist_ok=True)
    for name, branch in (("prod", False), ("branch", True)):
        with open(os.path.join(args.out, f"{name}.manifest.json"), "w") as out:
            json.dump(build(args.models, branch, args.seed), out)


if __name__ == "__main__":
    main()
