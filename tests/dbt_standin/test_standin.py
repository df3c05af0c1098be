"""Tests of ece's dbt stand-in against real dbt 1.9's artifacts and a real PostgreSQL.

Run: /usr/bin/python3 -m unittest discover -s tests/dbt_standin -v   (from the repository root)
"""

import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import pg_throwaway  # noqa: E402

REPO = os.path.dirname(os.path.dirname(HERE))
STANDIN = os.path.join(HERE, "dbt")
PROJECT = os.path.join(REPO, "examples", "ece_demo")
SCENARIOS = os.path.join(REPO, "..", "shared", "fixtures", "dbt", "scenarios")
BASE_MANIFEST = os.path.join(SCENARIOS, "base", "manifest.json")
VOLATILE = {"created_at", "generated_at", "invocation_id", "root_path", "project_id", "generated_by"}

PROFILE = """
ece_demo:
  target: prod
  outputs:
    prod:
      type: postgres
      host: "{host}"
      port: {port}
      user: "{user}"
      password: "{{{{ env_var('STANDIN_TEST_PASSWORD', '') }}}}"
      dbname: "{dbname}"
      schema: analytics
      threads: 4
    ci:
      type: postgres
      host: "{host}"
      port: {port}
      user: "{user}"
      password: "{{{{ env_var('STANDIN_TEST_PASSWORD', '') }}}}"
      dbname: "{dbname}"
      schema: "{{{{ env_var('STANDIN_TEST_SCHEMA', 'pr_1') }}}}"
      threads: 4
"""

RAW_DATA = """
create schema {raw};
create table {raw}.patients(patid bigint, sex text, birth_year int);
create table {raw}.diagnoses(patid bigint, npi bigint, dx_code text);
create table {raw}.providers(npi bigint);
create table {raw}.icd10(code text);
insert into {raw}.patients values (1,'f',1950),(2,'m',1960),(3,'F',1970),(4,'u',1980),(5,'m',1890),(6,'m',1999);
insert into {raw}.providers values (10),(11),(12);
insert into {raw}.icd10 values ('A01'),('B02'),('C03');
insert into {raw}.diagnoses values (1,10,'a01'),(2,10,'b02'),(3,11,'a01'),(9,99,'Z99');
"""
# What the example project must make of RAW_DATA (patient 5 is filtered by min_birth_year 1900).
EXPECTED_ROWS = {"stg_patients": 5, "stg_diagnoses": 4, "sex_codes": 3, "distinct_patients": 5,
                 "female_patients": 2, "male_patients": 2, "distinct_providers": 2, "observed_diagnoses": 2,
                 "patients_by_sex": 3}
VIEWS = {"stg_patients", "stg_diagnoses"}


def load_json(path):
    with open(path, encoding="utf-8") as f:
        return json.load(f)


def strip_volatile(value):
    if isinstance(value, dict):
        return {k: strip_volatile(v) for k, v in value.items() if k not in VOLATILE}
    if isinstance(value, list):
        return [strip_volatile(v) for v in value]
    return value


def apply_scenario(project_dir, scenario):
    """Apply a scenario's change.md diff to a copy of the example project (deletions included)."""
    with open(os.path.join(SCENARIOS, scenario, "change.md"), encoding="utf-8") as f:
        diff = re.search(r"```diff\n(.*?)```", f.read(), re.S).group(1)
    if diff.strip():
        subprocess.run(["patch", "-p1", "-s", "--remove-empty-files"], input=diff, text=True, cwd=project_dir,
                       check=True)


class StandinCase(unittest.TestCase):
    """Shared helpers: a scratch dir with profiles.yml and a copy of the example project."""

    cluster = None
    host, port, user, dbname, password = "127.0.0.1", 5432, "nobody", "dbt_demo", ""

    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="ece-dbt-standin-test-")
        self.addCleanup(shutil.rmtree, self.tmp, True)
        with open(os.path.join(self.tmp, "profiles.yml"), "w", encoding="utf-8") as f:
            f.write(PROFILE.format(host=self.host, port=self.port, user=self.user, dbname=self.dbname))
        self.project = self.copy_project("project")

    def copy_project(self, name):
        target = os.path.join(self.tmp, name)
        shutil.copytree(PROJECT, target, ignore=shutil.ignore_patterns("target", "logs"))
        return target

    def dbt(self, *args, project=None, env=None, expect=0):
        environment = dict(os.environ, STANDIN_TEST_PASSWORD=self.password)
        environment.update(env or {})
        result = subprocess.run([STANDIN, *args, "--project-dir", project or self.project,
                                 "--profiles-dir", self.tmp], capture_output=True, text=True, env=environment,
                                timeout=120)
        if expect is not None:
            self.assertEqual(result.returncode, expect, f"dbt {' '.join(args)}:\n{result.stdout}\n{result.stderr}")
        self.assertIn("ece's dbt stand-in", result.stdout.splitlines()[0])
        return result

    def manifest(self, project=None):
        return load_json(os.path.join(project or self.project, "target", "manifest.json"))

    def run_results(self, project=None):
        return load_json(os.path.join(project or self.project, "target", "run_results.json"))


class ParseTest(StandinCase):
    """No database needed: parse never connects."""

    def test_version_and_banner_say_it_is_the_standin(self):
        out = subprocess.run([STANDIN, "--version"], capture_output=True, text=True)
        self.assertEqual(out.returncode, 0)
        self.assertIn("stand-in", out.stdout)
        self.assertIn("NOT dbt", out.stdout)

    def test_parse_writes_the_manifest_real_dbt_wrote(self):
        self.dbt("parse", "--target", "prod", "--no-partial-parse")
        mine, real = self.manifest(), load_json(BASE_MANIFEST)
        self.assertEqual(set(mine["nodes"]), set(real["nodes"]))
        self.assertEqual(set(mine["sources"]), set(real["sources"]))
        project_macros = {k for k in real["macros"] if k.startswith("macro.ece_demo.")}
        self.assertEqual({k for k in mine["macros"] if k.startswith("macro.ece_demo.")}, project_macros)
        for uid, node in real["nodes"].items():
            if node["resource_type"] in ("model", "seed"):
                self.assertEqual(mine["nodes"][uid]["checksum"], node["checksum"], uid)
        # Every field, not only the ones above, equals real dbt's (apart from timestamps and absolute paths).
        for section in ("nodes", "sources", "parent_map", "child_map"):
            self.assertEqual(strip_volatile(mine[section]), strip_volatile(real[section]), section)
        for uid in project_macros | {"macro.dbt.test_not_null", "macro.dbt.test_unique"}:
            self.assertEqual(strip_volatile(mine["macros"][uid]), strip_volatile(real["macros"][uid]), uid)
        self.assertEqual(mine["metadata"]["dbt_schema_version"], real["metadata"]["dbt_schema_version"])
        self.assertIn("stand-in", mine["metadata"]["generated_by"])

    def test_every_scenario_parses_like_real_dbt(self):
        scenarios = sorted(d for d in os.listdir(SCENARIOS) if os.path.exists(os.path.join(SCENARIOS, d,
                                                                                              "change.md")))
        self.assertGreaterEqual(len(scenarios), 12)
        for scenario in scenarios:
            with self.subTest(scenario=scenario):
                project = self.copy_project(scenario)
                apply_scenario(project, scenario)
                self.dbt("parse", "--target", "ci", project=project)
                mine = self.manifest(project)
                real = load_json(os.path.join(SCENARIOS, scenario, "manifest.json"))
                for section in ("nodes", "sources", "parent_map", "child_map"):
                    self.assertEqual(strip_volatile(mine[section]), strip_volatile(real[section]), section)

    def test_ls_lists_a_selection_as_json(self):
        out = self.dbt("ls", "--select", "stg_patients+", "--output", "json", "--output-keys", "unique_id")
        ids = {json.loads(line)["unique_id"] for line in out.stdout.splitlines() if line.startswith("{")}
        self.assertIn("model.ece_demo.patients_by_sex", ids)
        self.assertIn("test.ece_demo.unique_male_patients_patid.0ef031b49a", ids)
        self.assertNotIn("model.ece_demo.stg_diagnoses", ids)
        self.assertNotIn("seed.ece_demo.sex_codes", ids)
        self.assertEqual(len(ids), 11)

    def test_unsupported_features_are_refused_with_exit_2(self):
        incremental = self.copy_project("incremental")
        path = os.path.join(incremental, "models", "marts", "distinct_patients.sql")
        with open(path, "r+", encoding="utf-8") as f:
            body = f.read()
            f.seek(0)
            f.write("{{ config(materialized='incremental') }}\n" + body)
        out = self.dbt("parse", project=incremental, expect=2)
        self.assertIn("does not support the materialization 'incremental'", out.stdout)

        snapshot = self.copy_project("snapshot")
        with open(os.path.join(snapshot, "models", "snap.sql"), "w", encoding="utf-8") as f:
            f.write("{% snapshot patients_snapshot %}select 1{% endsnapshot %}")
        out = self.dbt("build", project=snapshot, expect=2)
        self.assertIn("snapshot", out.stdout)

        hook = self.copy_project("hook")
        with open(os.path.join(hook, "dbt_project.yml"), "a", encoding="utf-8") as f:
            f.write("on-run-start: [\"select 1\"]\n")
        self.assertIn("on-run-start", self.dbt("parse", project=hook, expect=2).stdout)

        accepted_values = self.copy_project("accepted_values")
        path = os.path.join(accepted_values, "models", "marts", "schema.yml")
        with open(path, encoding="utf-8") as f:
            text = f.read().replace("tests: [not_null, unique]", "tests: [not_null, accepted_values]", 1)
        with open(path, "w", encoding="utf-8") as f:
            f.write(text)
        self.assertIn("accepted_values", self.dbt("parse", project=accepted_values, expect=2).stdout)

        self.dbt("build", "--select", "state:modified+", expect=2)
        self.dbt("build", "--fail-fast", expect=2)


@unittest.skipUnless(os.path.exists(pg_throwaway.PG_BIN) or os.environ.get("ECE_TEST_DATABASE_URL"),
                     "needs PostgreSQL 15 binaries or ECE_TEST_DATABASE_URL")
class BuildTest(StandinCase):
    """Against a real PostgreSQL: one database for the class, one target schema per test."""

    @classmethod
    def setUpClass(cls):
        cls.cluster = pg_throwaway.Cluster()
        c = cls.cluster
        cls.host, cls.port, cls.user, cls.password = c.host, c.port, c.user, c.password
        cls.dbname = f"standin_{os.getpid()}"
        admin = c.connect()
        admin.autocommit = True
        with admin.cursor() as cur:
            cur.execute(f'drop database if exists "{cls.dbname}"')
            cur.execute(f'create database "{cls.dbname}"')
        admin.close()
        with cls.connect() as conn, conn.cursor() as cur:
            cur.execute(RAW_DATA.format(raw="raw"))
            # The same data with one patient twice: female_patients gets a duplicate patid.
            cur.execute(RAW_DATA.format(raw="raw_dup") + "insert into raw_dup.patients values (1,'f',1950);")
            # And one patient without an id: a not_null test on distinct_patients finds it.
            cur.execute(RAW_DATA.format(raw="raw_null") + "insert into raw_null.patients values (null,'m',1980);")

    @classmethod
    def tearDownClass(cls):
        try:
            admin = cls.cluster.connect()
            admin.autocommit = True
            with admin.cursor() as cur:
                cur.execute(f'drop database if exists "{cls.dbname}" with (force)')
            admin.close()
        finally:
            cls.cluster.stop()

    @classmethod
    def connect(cls):
        return cls.cluster.connect(cls.dbname)

    def query(self, sql, params=None):
        conn = self.connect()
        try:
            with conn.cursor() as cur:
                cur.execute(sql, params)
                return cur.fetchall()
        finally:
            conn.close()

    def relations(self, schema):
        rows = self.query("select c.relname, c.relkind from pg_class c join pg_namespace n on n.oid = c.relnamespace "
                          "where n.nspname = %s and c.relkind in ('r', 'v')", (schema,))
        return dict(rows)

    def count(self, schema, name):
        return self.query(f'select count(*) from "{schema}"."{name}"')[0][0]

    def build_ci(self, schema, *args, expect=0, project=None, env=None):
        return self.dbt("build", "--target", "ci", *args, project=project, expect=expect,
                        env={"STANDIN_TEST_SCHEMA": schema, **(env or {})})

    def test_build_creates_every_relation_and_passes_every_test(self):
        out = self.build_ci("pr_build", "--threads", "4", "--full-refresh", "--vars", "{min_birth_year: 1900}")
        relations = self.relations("pr_build")
        self.assertEqual(set(relations), set(EXPECTED_ROWS))
        for name, rows in EXPECTED_ROWS.items():
            self.assertEqual(relations[name], "v" if name in VIEWS else "r", name)
            self.assertEqual(self.count("pr_build", name), rows, name)
        results = self.run_results()
        self.assertEqual(len(results["results"]), 19)
        self.assertEqual({r["unique_id"] for r in results["results"]},
                         set(load_json(BASE_MANIFEST)["nodes"]))
        tests = [r for r in results["results"] if r["unique_id"].startswith("test.")]
        self.assertEqual(len(tests), 10)
        self.assertTrue(all(r["status"] == "pass" and r["failures"] == 0 for r in tests))
        self.assertTrue(all(r["status"] == "success" for r in results["results"] if r not in tests))
        self.assertEqual(results["metadata"]["dbt_schema_version"],
                         "https://schemas.getdbt.com/dbt/run-results/v6.json")
        self.assertRegex(out.stdout, r"START sql view model pr_build\.stg_patients \.+ \[RUN\]")
        self.assertIn("Done. PASS=19 WARN=0 ERROR=0 SKIP=0 TOTAL=19", out.stdout)
        # persist_docs on the marts: the relation and column descriptions land as comments.
        self.assertEqual(self.query("select obj_description('pr_build.distinct_patients'::regclass)")[0][0],
                         "Every patient seen at least once.")
        self.assertEqual(self.query("select col_description('pr_build.distinct_patients'::regclass, 1)")[0][0],
                         "Patient id.")
        # Building again swaps every relation in place (dbt's rename swap), nothing left behind.
        self.build_ci("pr_build")
        self.assertEqual(set(self.relations("pr_build")), set(EXPECTED_ROWS))

    def test_separate_seed_run_and_test_commands(self):
        env = {"STANDIN_TEST_SCHEMA": "pr_steps"}
        self.dbt("seed", "--target", "ci", env=env)
        self.assertEqual(set(self.relations("pr_steps")), {"sex_codes"})
        self.dbt("run", "--target", "ci", env=env)
        self.assertEqual(set(self.relations("pr_steps")), set(EXPECTED_ROWS))
        self.dbt("test", "--target", "ci", "--select", "distinct_patients", env=env)
        results = self.run_results()["results"]
        self.assertEqual(sorted(r["unique_id"].split(".")[2] for r in results),
                         ["not_null_distinct_patients_patid", "unique_distinct_patients_patid"])

    def test_failing_unique_test_reports_fail_and_exits_1(self):
        out = self.build_ci("pr_dup", expect=1, env={"ECE_RAW_SCHEMA": "raw_dup"})
        results = {r["unique_id"]: r for r in self.run_results()["results"]}
        failed = results["test.ece_demo.unique_female_patients_patid.a6807b0e62"]
        self.assertEqual(failed["status"], "fail")
        self.assertGreater(failed["failures"], 0)
        self.assertEqual(results["test.ece_demo.unique_male_patients_patid.0ef031b49a"]["status"], "pass")
        self.assertIn("FAIL 1 unique_female_patients_patid", out.stdout)
        self.assertIn("ERROR=1", out.stdout)

    def test_severity_warn_reports_warn_and_exits_0(self):
        project = self.copy_project("warn")
        apply_scenario(project, "test_config_change")  # not_null on distinct_patients.patid: severity warn
        out = self.build_ci("pr_warn", "--select", "+distinct_patients", project=project,
                            env={"ECE_RAW_SCHEMA": "raw_null"})
        results = {r["unique_id"]: r for r in self.run_results(project)["results"]}
        warned = results["test.ece_demo.not_null_distinct_patients_patid.50c8a41750"]
        self.assertEqual((warned["status"], warned["failures"]), ("warn", 1))
        self.assertEqual(results["test.ece_demo.unique_distinct_patients_patid.c39071927c"]["status"], "pass")
        self.assertIn("Done. PASS=3 WARN=1 ERROR=0 SKIP=0 TOTAL=4", out.stdout)

    def test_defer_builds_only_the_selection_and_reads_the_rest_from_state(self):
        self.dbt("build", "--target", "prod")
        state = os.path.join(self.tmp, "state")
        shutil.copytree(os.path.join(self.project, "target"), state)
        out = self.build_ci("pr_defer", "--select", "stg_patients+", "--defer", "--state", state)
        self.assertEqual(set(self.relations("pr_defer")),
                         {"stg_patients", "distinct_patients", "female_patients", "male_patients",
                          "patients_by_sex"})
        results = {r["unique_id"]: r for r in self.run_results()["results"]}
        self.assertEqual(len(results), 11)
        self.assertNotIn("seed.ece_demo.sex_codes", results)
        compiled = results["model.ece_demo.patients_by_sex"]["compiled_code"]
        self.assertIn(f'"{self.dbname}"."analytics"."sex_codes"', compiled)
        self.assertIn(f'"{self.dbname}"."pr_defer"."stg_patients"', compiled)
        self.assertEqual(self.count("pr_defer", "patients_by_sex"), EXPECTED_ROWS["patients_by_sex"])
        self.assertIn("Done. PASS=11", out.stdout)
        deferred = self.manifest()["nodes"]["seed.ece_demo.sex_codes"]["defer_relation"]
        self.assertEqual(deferred["schema"], "analytics")

    def test_contract_mismatch_fails_the_model(self):
        project = self.copy_project("contract")
        apply_scenario(project, "contract_change")  # patients: bigint -> int, but count(*) is bigint
        out = self.build_ci("pr_contract", "--select", "+patients_by_sex", project=project, expect=1)
        self.assertIn("This model has an enforced contract that failed", out.stdout)
        self.assertIn("data type mismatch", out.stdout)
        results = {r["unique_id"]: r for r in self.run_results(project)["results"]}
        self.assertEqual(results["model.ece_demo.patients_by_sex"]["status"], "error")
        self.assertNotIn("patients_by_sex", self.relations("pr_contract"))
        # The unchanged project's contract matches: the table gets exactly the declared column types.
        self.build_ci("pr_contract", "--select", "+patients_by_sex")
        self.assertEqual(self.query("select data_type from information_schema.columns where table_schema = "
                                    "'pr_contract' and table_name = 'patients_by_sex' order by ordinal_position"),
                         [("text",), ("bigint",)])

    def test_a_failing_model_skips_its_descendants(self):
        project = self.copy_project("broken")
        with open(os.path.join(project, "models", "staging", "stg_diagnoses.sql"), "w", encoding="utf-8") as f:
            f.write("select no_such_column from {{ source('raw', 'diagnoses') }}")
        out = self.build_ci("pr_broken", project=project, expect=1)
        results = {r["unique_id"]: r["status"] for r in self.run_results(project)["results"]}
        self.assertEqual(results["model.ece_demo.stg_diagnoses"], "error")
        for child in ("model.ece_demo.distinct_providers", "model.ece_demo.observed_diagnoses",
                      "test.ece_demo.unique_distinct_providers_npi.1f3accb16a"):
            self.assertEqual(results[child], "skipped", child)
        self.assertEqual(results["model.ece_demo.stg_patients"], "success")
        self.assertIn("no_such_column", out.stdout)
        self.assertIn("SKIP=6", out.stdout)

    def test_materialization_change_replaces_the_relation(self):
        self.build_ci("pr_change", "--select", "+distinct_providers")
        self.assertEqual(self.relations("pr_change")["distinct_providers"], "r")
        project = self.copy_project("config_change")
        apply_scenario(project, "config_change")  # distinct_providers becomes a view
        self.build_ci("pr_change", "--select", "distinct_providers", project=project)
        self.assertEqual(self.relations("pr_change")["distinct_providers"], "v")
        self.assertEqual(self.count("pr_change", "distinct_providers"), EXPECTED_ROWS["distinct_providers"])


if __name__ == "__main__":
    unittest.main()
