#!/usr/bin/python3
"""Live fidelity of ece-dbt plan against real dbt (docs/dbt-fidelity.md).

For the example project's scenarios and for each public project in ../shared/fixtures/dbt/projects, with a set of
realistic edits each, this asks real dbt `ls --select <selector> --state <production>` for the 16 state selectors
and compares its answer with `ece-dbt plan --manifest <branch manifest> --state <production> --select <selector>`.

dbt runs in this process through its own Python API (dbt.cli.main.dbtRunner), from the same installation as the dbt
executable given: one parse per edit (partial parsing reused between edits), and the 16 `ls` calls reuse the parsed
manifest, which is what makes the matrix affordable. dbt needs no database for parse or ls, only a profile: the
suite writes one pointing at a closed local port.

Exit status 0 when every comparison matches (or differs only by a dbt bug listed in KNOWN_DBT_BUGS), 1 otherwise.
"""
import argparse
import json
import os
import re
import shutil
import site
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path

METHODS = ["state:new", "state:modified", "state:modified.body", "state:modified.configs",
           "state:modified.relation", "state:modified.persisted_descriptions", "state:modified.macros",
           "state:modified.contract"]
SELECTORS = [method + suffix for method in METHODS for suffix in ("", "+")]

# The public projects: the dbt project inside each directory, its profile name, and what its README says it needs.
PROJECTS = {
    "dbt_artifacts": {"subdir": "integration_test_project", "profile": "dbt_artifacts"},
    "dbt_project_evaluator": {"subdir": "integration_tests", "profile": "integration_tests"},
    "dbt_zendesk": {"subdir": "integration_tests", "profile": "integration_tests", "vars_file": "vars.yml"},
    "dbt_audit_helper": {"subdir": "integration_tests", "profile": "integration_tests"},
}

# Differences between dbt and ece that are dbt's bugs: (project, edit, selector) -> the dbt issue. Empty: none seen.
KNOWN_DBT_BUGS = {}


def import_dbt_runner(dbt_executable):
    """dbtRunner from the installation dbt_executable belongs to (a pip-installed one, or ../shared/tools/dbt)."""
    os.environ.setdefault("DBT_SEND_ANONYMOUS_USAGE_STATS", "false")
    os.environ.setdefault("DBT_VERSION_CHECK", "false")
    os.environ["PYTHONDONTWRITEBYTECODE"] = "1"
    sys.dont_write_bytecode = True
    warnings.simplefilter("ignore")  # jinja2's DeprecationWarning, dbt's unclosed log file: noise, not results
    packages = Path(dbt_executable).resolve().parent.parent / "site-packages"
    if packages.is_dir():
        sys.path.insert(0, str(packages))
        site.addsitedir(str(packages))
    from dbt.cli.main import dbtRunner  # noqa: E402 (the path is only known now)
    return dbtRunner


class Dbt:
    def __init__(self, runner_class, profiles_dir):
        self.runner_class = runner_class
        self.profiles_dir = str(profiles_dir)

    def _common(self, project_dir, target, dbt_vars):
        # No log output and no logs/dbt.log: the answers come back as the invocation's result.
        args = ["--project-dir", str(project_dir), "--profiles-dir", self.profiles_dir, "--target", target,
                "--log-level", "none", "--log-level-file", "none"]
        if dbt_vars:
            args += ["--vars", dbt_vars]
        return args

    def run(self, args, manifest=None):
        result = self.runner_class(manifest=manifest).invoke(args)
        if not result.success:
            raise RuntimeError("dbt " + " ".join(args[:1]) + " failed: " + str(result.exception))
        return result.result

    def deps(self, project_dir, target, dbt_vars):
        self.run(["deps"] + self._common(project_dir, target, dbt_vars))

    def parse(self, project_dir, target, dbt_vars):
        """The parsed manifest (target/manifest.json is written too)."""
        return self.run(["parse"] + self._common(project_dir, target, dbt_vars))

    def ls(self, manifest, project_dir, target, dbt_vars, selector, state_dir):
        lines = self.run(["ls", "--select", selector, "--state", str(state_dir), "--output", "json",
                          "--output-keys", "unique_id"] + self._common(project_dir, target, dbt_vars),
                         manifest=manifest)
        return sorted(json.loads(line)["unique_id"] for line in lines)


def write_profiles(directory, profile_names):
    """Profiles with targets prod (schema analytics) and pr (schema pr_1) on a closed port: parse never connects."""
    lines = []
    for name in sorted(set(profile_names)):
        lines += [f"{name}:", "  target: prod", "  outputs:"]
        for target, schema in (("prod", "analytics"), ("pr", "pr_1"), ("ci", "pr_1")):
            lines.append(f"    {target}: {{type: postgres, host: 127.0.0.1, port: 1, user: fidelity, password: "
                         f"fidelity, dbname: fidelity, schema: {schema}, threads: 1}}")
    (Path(directory) / "profiles.yml").write_text("\n".join(lines) + "\n")


def ece_plan(ece_dbt, manifest_file, state_dir, selector):
    out = subprocess.run([ece_dbt, "plan", "--manifest", str(manifest_file), "--state", str(state_dir), "--select",
                          selector, "--format", "json"], capture_output=True, text=True)
    if out.returncode != 0:
        raise RuntimeError(f"ece-dbt plan --select {selector} failed: {out.stderr.strip()}")
    return sorted(node["unique_id"] for node in json.loads(out.stdout)["selected"])


# ---- edits: each returns a description and applies itself through a FileChanges, which can undo it ----

class FileChanges:
    """Files written, deleted or renamed by one edit, restorable afterwards."""

    def __init__(self):
        self.saved = {}  # path -> original bytes, or None when the file did not exist

    def _save(self, path):
        path = Path(path)
        if path not in self.saved:
            self.saved[path] = path.read_bytes() if path.exists() else None

    def write(self, path, text):
        self._save(path)
        Path(path).write_text(text)

    def delete(self, path):
        self._save(path)
        Path(path).unlink()

    def rename(self, path, new_path):
        self._save(path)
        self._save(new_path)
        Path(path).rename(new_path)

    def undo(self):
        for path, content in self.saved.items():
            if content is None:
                path.unlink(missing_ok=True)
            else:
                path.write_bytes(content)
        self.saved = {}


def yaml_module():
    import yaml  # dbt depends on PyYAML, so it is there whenever dbt is
    return yaml


def edit_yaml(changes, path, mutate):
    yaml = yaml_module()
    data = yaml.safe_load(Path(path).read_text())
    if not mutate(data):
        return False
    changes.write(path, yaml.safe_dump(data, sort_keys=False))
    return True


class Project:
    """A copy of a project, its production manifest, and the node paths edits choose from."""

    def __init__(self, name, top_dir, project_dir, manifest):
        self.name = name
        self.top_dir = Path(top_dir)
        self.project_dir = Path(project_dir)
        self.manifest = manifest  # production's, as JSON
        self.root = manifest["metadata"].get("project_name")

    def file_of(self, node):
        """The file of a node: in the project, or in a local package under dbt_packages (a symlink into the copy)."""
        if node["package_name"] == self.root:
            return self.project_dir / node["original_file_path"]
        return self.project_dir / "dbt_packages" / node["package_name"] / node["original_file_path"]

    def editable(self, node):
        """The node's file is in this copy (dbt's own macros are not; local packages are, through dbt deps' links)."""
        path = self.file_of(node)
        return path.exists() and path.resolve().is_relative_to(self.top_dir.resolve())

    def models(self, own=None):
        children = self.manifest.get("child_map", {})
        found = []
        for uid, node in sorted(self.manifest["nodes"].items()):
            if node["resource_type"] != "model" or not node["original_file_path"].endswith(".sql"):
                continue
            if own is not None and (node["package_name"] == self.root) != own:
                continue
            if not self.editable(node):
                continue
            model_children = [c for c in children.get(uid, []) if not c.startswith(("test.", "unit_test."))]
            found.append((uid, node, model_children))
        return found


def pick(items, index=0):
    return items[index % len(items)] if items else None


def edit_body(project, changes):
    candidates = [m for m in project.models() if m[2]] or project.models()
    uid, node, _ = pick(candidates)
    path = project.file_of(node)
    changes.write(path, path.read_text() + "\n-- edited by the fidelity suite\n")
    return f"body of {uid}"


def edit_config(project, changes):
    candidates = [m for m in project.models() if m[2]] or project.models()
    uid, node, _ = pick(candidates, 1)
    path = project.file_of(node)
    materialized = "view" if node["config"].get("materialized") == "table" else "table"
    changes.write(path, "{{ config(materialized='" + materialized + "') }}\n" + path.read_text())
    return f"materialized {materialized} for {uid}"


def edit_custom_schema(project, changes):
    uid, node, _ = pick(project.models(), 2)
    path = project.file_of(node)
    changes.write(path, "{{ config(schema='fidelity_custom') }}\n" + path.read_text())
    return f"custom schema for {uid}"


def used_macros(project, packages):
    used = set()
    for node in project.manifest["nodes"].values():
        used.update(node.get("depends_on", {}).get("macros", []))
    macros = project.manifest["macros"]
    return [macros[m] for m in sorted(used) if m in macros and macros[m]["package_name"] in packages]


def change_macro(project, changes, macro):
    path = project.file_of(macro)
    text = path.read_text()
    sql = macro["macro_sql"]
    header_end = sql.find("%}") + 2
    if sql not in text or header_end < 2:
        return False
    changes.write(path, text.replace(sql, sql[:header_end] + "{# edited by the fidelity suite #}" + sql[header_end:], 1))
    return True


def edit_macro(project, changes):
    """A macro of the project or of the package it tests (not a vendored utility package) that nodes call."""
    packages = {m["package_name"] for m in project.manifest["macros"].values()}
    packages -= {"dbt", "dbt_postgres", "dbt_utils", "fivetran_utils", "spark_utils"}
    for macro in used_macros(project, packages):
        if project.editable(macro) and change_macro(project, changes, macro):
            return f"macro {macro['unique_id']}"
    return None


def edit_package_version(project, changes):
    """A vendored package upgraded: its version and one of its macros change."""
    vendor = project.top_dir / "vendor" / "dbt_utils"
    if not vendor.is_dir():
        return None
    yml = vendor / "dbt_project.yml"
    text = yml.read_text()
    new_text = re.sub(r"(?m)^version:\s*['\"]?([0-9.]+)['\"]?", "version: '1.4.2'", text, count=1)
    changes.write(yml, new_text)
    for macro in used_macros(project, {"dbt_utils"}):
        if change_macro(project, changes, macro):
            return f"dbt_utils 1.4.2 with a changed {macro['unique_id']}"
    return "dbt_utils version only"


def edit_seed(project, changes):
    seeds = [n for n in project.manifest["nodes"].values() if n["resource_type"] == "seed" and project.editable(n)]
    seeds.sort(key=lambda n: n["unique_id"])
    for seed in seeds:
        path = project.file_of(seed)
        lines = path.read_text().splitlines()
        if len(lines) >= 2:
            changes.write(path, "\n".join(lines + [lines[-1]]) + "\n")
            return f"a row added to {seed['unique_id']}"
    return None


def edit_snapshot(project, changes):
    snapshots = [n for n in project.manifest["nodes"].values() if n["resource_type"] == "snapshot"
                 and project.editable(n) and n["original_file_path"].endswith(".sql")]
    if not snapshots:
        return None
    snapshot = snapshots[0]
    path = project.file_of(snapshot)
    text = path.read_text()
    at = text.rfind("{% endsnapshot")
    if at < 0:
        return None
    changes.write(path, text[:at] + "-- edited by the fidelity suite\n" + text[at:])
    return f"body of {snapshot['unique_id']}"


def find_named(entries, name):
    for entry in entries or []:
        if isinstance(entry, dict) and entry.get("name") == name:
            return entry
    return None


def edit_unit_test(project, changes):
    tests = sorted(project.manifest.get("unit_tests", {}).values(), key=lambda t: t["unique_id"])
    for test in tests:
        path = project.file_of(test)
        if not project.editable(test):
            continue

        def mutate(data):
            entry = find_named(data.get("unit_tests"), test["name"])
            if entry is None:
                return False
            entry.setdefault("overrides", {}).setdefault("vars", {})["fidelity_suite_edit"] = 1
            return True

        if edit_yaml(changes, path, mutate):
            return f"overrides of {test['unique_id']}"
    return None


def edit_semantic_model(project, changes):
    for model in sorted(project.manifest.get("semantic_models", {}).values(), key=lambda m: m["unique_id"]):
        path = project.file_of(model)

        def mutate(data):
            entry = find_named(data.get("semantic_models"), model["name"])
            if entry is None:
                return False
            entry["description"] = (entry.get("description") or "") + " Edited by the fidelity suite."
            return True

        if project.editable(model) and edit_yaml(changes, path, mutate):
            return f"description of {model['unique_id']}"
    return None


def edit_source_freshness(project, changes):
    sources = sorted(project.manifest["sources"].values(), key=lambda s: s["unique_id"])
    for source in sources:
        if not project.editable(source):
            continue
        path = project.file_of(source)

        def mutate(data):
            entry = find_named(data.get("sources"), source["source_name"])
            table = find_named(entry.get("tables"), source["name"]) if entry else None
            if table is None:
                return False
            table["freshness"] = {"warn_after": {"count": 7, "period": "day"}}
            table["loaded_at_field"] = "fidelity_loaded_at"
            return True

        if edit_yaml(changes, path, mutate):
            return f"freshness of {source['unique_id']}"
    return None


def leaf_models(project):
    return [m for m in project.models(own=True) if not m[2] and not any(
        e.get("depends_on", {}).get("nodes", []) and m[0] in e["depends_on"]["nodes"]
        for e in list(project.manifest["exposures"].values()) + list(project.manifest.get("semantic_models", {}).values()))]


def edit_delete(project, changes):
    leaf = pick(leaf_models(project))
    if not leaf:
        return None
    changes.delete(project.file_of(leaf[1]))
    return f"{leaf[0]} deleted"


def edit_rename(project, changes):
    leaf = pick(leaf_models(project), 1)
    if not leaf:
        return None
    path = project.file_of(leaf[1])
    changes.rename(path, path.with_name(path.stem + "_renamed.sql"))
    return f"{leaf[0]} renamed"


def edit_var(project, changes):
    """A project var changes value (dbt_project.yml)."""
    path = project.project_dir / "dbt_project.yml"
    described = []

    def mutate(data):
        variables = data.get("vars") or {}
        scopes = [variables] + [v for v in variables.values() if isinstance(v, dict)]
        for scope in scopes:
            for key, value in scope.items():
                if isinstance(value, bool):
                    continue
                if isinstance(value, int):
                    scope[key] = value + 1
                elif isinstance(value, str) and "{" not in value:
                    scope[key] = value + "_edited"
                else:
                    continue
                described.append(f"var {key}: {value!r} -> {scope[key]!r}")
                return True
        return False

    return described[0] if edit_yaml(changes, path, mutate) else None


def no_edit(project, changes):
    return "no change"


EDITS = {
    "none": no_edit, "body": edit_body, "config": edit_config, "macro": edit_macro, "seed": edit_seed,
    "snapshot": edit_snapshot, "unit_test": edit_unit_test, "semantic_model": edit_semantic_model,
    "custom_schema": edit_custom_schema, "package_version": edit_package_version, "var": edit_var,
    "source_freshness": edit_source_freshness, "delete": edit_delete, "rename": edit_rename,
}


# ---- running ----

class Suite:
    def __init__(self, args, dbt):
        self.args = args
        self.dbt = dbt
        self.failures = []
        self.compared = 0
        self.known = 0
        self.skipped = []

    def compare(self, label, dbt_ids, ece_ids, key):
        self.compared += 1
        if dbt_ids == ece_ids:
            return
        if key in KNOWN_DBT_BUGS:
            self.known += 1
            print(f"  known dbt bug ({KNOWN_DBT_BUGS[key]}): {label}")
            return
        only_dbt = sorted(set(dbt_ids) - set(ece_ids))
        only_ece = sorted(set(ece_ids) - set(dbt_ids))
        self.failures.append(label)
        print(f"  MISMATCH {label}\n    only dbt: {only_dbt}\n    only ece: {only_ece}")

    def compare_selectors(self, name, edit, manifest, project_dir, dbt_vars, state_dir):
        manifest_file = project_dir / "target" / "manifest.json"
        for selector in self.args.selectors:
            dbt_ids = self.dbt.ls(manifest, project_dir, "pr", dbt_vars, selector, state_dir)
            ece_ids = ece_plan(self.args.ece_dbt, manifest_file, state_dir, selector)
            self.compare(f"{name} / {edit} / {selector}", dbt_ids, ece_ids, (name, edit, selector))

    def run_project(self, name, work):
        spec = PROJECTS[name]
        top = work / name
        shutil.copytree(self.args.fixtures / "dbt" / "projects" / name, top, symlinks=True)
        for path in top.rglob("*"):  # the fixtures are read-only
            path.chmod(path.stat().st_mode | 0o200)
        project_dir = top / spec["subdir"]
        dbt_vars = (project_dir / spec["vars_file"]).read_text() if "vars_file" in spec else None
        started = time.monotonic()
        self.dbt.deps(project_dir, "prod", dbt_vars)
        self.dbt.parse(project_dir, "prod", dbt_vars)
        state_dir = work / (name + "-state")
        state_dir.mkdir()
        shutil.copy(project_dir / "target" / "manifest.json", state_dir / "manifest.json")
        production = json.loads((state_dir / "manifest.json").read_text())
        # Branch parses go to another target path: dbt re-parses fully when the target changes.
        project = Project(name, top, project_dir, production)
        print(f"{name}: production parsed in {time.monotonic() - started:.1f} s")
        for edit in self.args.project_edits[name]:
            self.run_edit(project, edit, dbt_vars, state_dir)

    def run_edit(self, project, edit, dbt_vars, state_dir):
        changes = FileChanges()
        started = time.monotonic()
        try:
            what = EDITS[edit](project, changes)
            if what is None:
                print(f"{project.name} / {edit}: not applicable")
                return
            try:
                manifest = self.dbt.parse(project.project_dir, "pr", dbt_vars)
            except RuntimeError as error:
                self.skipped.append(f"{project.name} / {edit}: {error}")
                print(f"{project.name} / {edit} ({what}): dbt parse failed, skipped: {error}")
                return
            self.compare_selectors(project.name, edit, manifest, project.project_dir, dbt_vars, state_dir)
            print(f"{project.name} / {edit} ({what}): {time.monotonic() - started:.1f} s")
        finally:
            changes.undo()

    def run_scenarios(self, work):
        """The example project (../shared/fixtures/dbt/ece_demo) with each scenario's change.md applied."""
        scenarios = self.args.fixtures / "dbt" / "scenarios"
        prod = work / "ece_demo-prod"
        branch = work / "ece_demo"
        for copy in (prod, branch):
            shutil.copytree(self.args.fixtures / "dbt" / "ece_demo", copy)
            for path in copy.rglob("*"):
                path.chmod(path.stat().st_mode | 0o200)
        self.dbt.parse(prod, "prod", None)
        state_dir = work / "ece_demo-state"
        state_dir.mkdir()
        shutil.copy(prod / "target" / "manifest.json", state_dir / "manifest.json")
        names = sorted(p.name for p in scenarios.iterdir() if (p / "change.md").exists())
        if self.args.scenarios is not None:
            names = [n for n in names if n in self.args.scenarios]
        for name in names:
            started = time.monotonic()
            text = (scenarios / name / "change.md").read_text()
            diffs = re.findall(r"```diff\n(.*?)```", text, re.S)
            pristine = {p: p.read_bytes() for p in branch.rglob("*") if p.is_file() and "target" not in p.parts}
            try:
                for diff in diffs:
                    subprocess.run(["patch", "-s", "-p1", "-d", str(branch)], input=diff, text=True, check=True)
                manifest = self.dbt.parse(branch, "ci", None)
                self.compare_selectors("ece_demo", name, manifest, branch, None, state_dir)
            finally:
                for path in [p for p in branch.rglob("*") if p.is_file() and "target" not in p.parts]:
                    if path not in pristine:
                        path.unlink()
                for path, content in pristine.items():
                    path.write_bytes(content)
            print(f"ece_demo / {name}: {time.monotonic() - started:.1f} s")


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dbt", required=True, help="the dbt executable; its installation runs in this process")
    parser.add_argument("--ece-dbt", required=True)
    parser.add_argument("--fixtures", required=True, type=Path, help="../shared/fixtures")
    parser.add_argument("--projects", default=",".join(PROJECTS),
                        help="comma-separated, or 'none'; NAME:EDIT+EDIT runs only those edits on that project")
    parser.add_argument("--edits", default=",".join(EDITS), help="comma-separated edit names")
    parser.add_argument("--scenarios", default=None, help="comma-separated scenario names (default all), or 'none'")
    parser.add_argument("--selectors", default=",".join(SELECTORS))
    parser.add_argument("--work", type=Path, help="keep the copies here (default: a temporary directory)")
    args = parser.parse_args()
    args.edits = args.edits.split(",")
    args.project_edits = {}
    for item in ([] if args.projects == "none" else args.projects.split(",")):
        name, _, edits = item.partition(":")
        args.project_edits[name] = edits.split("+") if edits else args.edits
    args.projects = list(args.project_edits)
    args.selectors = args.selectors.split(",")
    if args.scenarios is not None:
        args.scenarios = [] if args.scenarios == "none" else args.scenarios.split(",")
    unknown = [e for edits in args.project_edits.values() for e in edits if e not in EDITS]
    unknown += [e for e in args.edits if e not in EDITS] + [p for p in args.projects if p not in PROJECTS]
    if unknown:
        parser.error("unknown edit or project: " + ", ".join(unknown))

    dbt_runner = import_dbt_runner(args.dbt)
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="ece-fidelity-") as temporary:
        work = args.work or Path(temporary)
        work.mkdir(parents=True, exist_ok=True)
        profiles = work / "profiles"
        profiles.mkdir(exist_ok=True)
        write_profiles(profiles, [PROJECTS[p]["profile"] for p in PROJECTS] + ["ece_demo"])
        os.environ["DBT_PROFILES_DIR"] = str(profiles)
        suite = Suite(args, Dbt(dbt_runner, profiles))
        if args.scenarios != []:
            suite.run_scenarios(work)
        for name in args.projects:
            suite.run_project(name, work)
    print(f"{suite.compared} comparisons, {len(suite.failures)} mismatches, {suite.known} known dbt bugs, "
          f"{len(suite.skipped)} edits skipped, {time.monotonic() - started:.0f} s")
    return 1 if suite.failures or suite.compared == 0 else 0


if __name__ == "__main__":
    sys.exit(main())
