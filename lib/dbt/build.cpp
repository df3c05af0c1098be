#include "dbt/build.hpp"

#include <sys/stat.h>

#include <algorithm>
#include <cstdlib>
#include <fstream>
#include <set>

#include <yaml-cpp/yaml.h>

#include "core/error.hpp"
#include "core/secrets.hpp"
#include "dbt/catalog.hpp"
#include "dbt/packages.hpp"
#include "dbt/plan_output.hpp"
#include "dbt/sandbox.hpp"
#include "dbt/select.hpp"
#include "dbt/env_schemas.hpp"
#include "pg/lock.hpp"
#include "process/process.hpp"

namespace fs = std::filesystem;

namespace ece::dbt {
namespace {

bool holds_relation(const Node& node) {
    return (node.type == ResourceType::model || node.type == ResourceType::seed ||
            node.type == ResourceType::snapshot) &&
           node.materialized != "ephemeral";
}

std::string joined(const std::vector<std::string_view>& parts, char separator) {
    std::string text;
    for (const auto& part : parts) {
        if (!text.empty()) text.push_back(separator);
        text.append(part);
    }
    return text;
}

std::string list_for_message(const std::vector<std::string>& ids) {
    constexpr std::size_t shown = 10;
    std::string text;
    for (std::size_t i = 0; i < ids.size() && i < shown; ++i) text += (i ? ", " : "") + ids[i];
    if (ids.size() > shown) text += " and " + std::to_string(ids.size() - shown) + " more";
    return text;
}

// The environment's profiles.yml in dbt's HOME, with the CA certificate (if any) copied where dbt's user may read it.
void write_profile(const Sandbox& sandbox, const BuildTarget& target, int threads) {
    BuildTarget dbt_target = target;
    if (!target.sslrootcert.empty()) dbt_target.sslrootcert = sandbox.import_file(target.sslrootcert, "root.crt").string();
    sandbox.write_file("profiles.yml", profiles_yml(dbt_target, threads));
}

// Runs dbt in the sandbox with the scrubbed environment, streaming masked lines.
process::Result run_dbt(const Sandbox& sandbox, const BuildOptions& options, const std::vector<std::string>& argv,
                        const std::map<std::string, std::string>& env, std::chrono::seconds timeout) {
    std::function<void(std::string_view)> on_line;
    if (options.on_log_line) on_line = [&](std::string_view line) { options.on_log_line(mask_secrets(line)); };
    return sandbox.run(argv, env, timeout, on_line);
}

std::vector<std::string> common_arguments(const Sandbox& sandbox, const BuildOptions& options) {
    std::vector<std::string> argv = {"--project-dir", sandbox.project().string(), "--profiles-dir",
                                     sandbox.home().string(), "--profile", profile_name, "--target", profile_name,
                                     "--target-path", sandbox.target().string()};
    if (!options.vars.empty()) argv.insert(argv.end(), {"--vars", options.vars});
    return argv;
}

// `dbt deps` first when the project declares packages (dbt/packages.hpp), in the sandbox's copy, as dbt runs.
void install_packages(const Sandbox& sandbox, const BuildOptions& options, const std::map<std::string, std::string>& env) {
    std::function<void(std::string_view)> on_line;
    if (options.on_log_line) on_line = [&](std::string_view line) { options.on_log_line(mask_secrets(line)); };
    const DepsRun run{options.dbt,
                      {"--project-dir", sandbox.project().string(), "--profiles-dir", sandbox.home().string()},
                      env,
                      options.parse_timeout,
                      on_line,
                      &sandbox,
                      fs::absolute(options.project_dir)};
    if (ensure_packages(sandbox.project(), run) == Deps::up_to_date && options.on_log_line)
        options.on_log_line("dbt deps skipped: dbt_packages/ already holds what package-lock.yml locks");
}

fs::path parse_branch(const Sandbox& sandbox, const BuildOptions& options, const std::map<std::string, std::string>& env,
                      const fs::path& target_path) {
    install_packages(sandbox, options, env);
    std::vector<std::string> argv = {options.dbt.string(), "parse"};
    const auto common = common_arguments(sandbox, options);
    argv.insert(argv.end(), common.begin(), common.end());
    const auto result = run_dbt(sandbox, options, argv, env, options.parse_timeout);
    if (result.exit_code != 0) {
        std::string tail = result.out + result.err;
        if (tail.size() > 2000) tail = "..." + tail.substr(tail.size() - 2000);
        throw Error(ErrorKind::external, "dbt parse failed with exit code " + std::to_string(result.exit_code) +
                                             " in " + options.project_dir.string() + ": " + mask_secrets(tail));
    }
    sandbox.copy_target_to(target_path);
    return target_path / "manifest.json";
}

std::vector<BuiltNode> nodes_built(const RunResults& results, const Manifest& branch, const BuildTarget& target) {
    std::vector<BuiltNode> built;
    for (const auto& result : results.results) {
        if (result.status != "success") continue;
        const Node* node = branch.find(result.unique_id);
        if (!node || !holds_relation(*node)) continue;
        built.push_back({target.environment, result.unique_id, std::string(node->resource_type_name),
                         std::string(node->checksum), std::string(node->schema),
                         std::string(node->alias.empty() ? node->name : node->alias),
                         std::string(node->materialized), 0, target.sha});
    }
    return built;
}

// Ephemeral models are compiled into what reads them: dbt runs them never, so they are never missing from its results.
void compare_with_plan(BuildReport& report, const Manifest& branch) {
    std::set<std::string> ran;
    for (const auto& result : report.run_results->results) {
        const auto type = result.unique_id.substr(0, result.unique_id.find('.'));
        if (is_buildable_type(type)) ran.insert(result.unique_id);
    }
    std::set<std::string> planned;
    for (const auto& id : report.planned) {
        const Node* node = branch.find(id);
        if (!node || node->materialized != "ephemeral") planned.insert(id);
    }
    std::set_difference(planned.begin(), planned.end(), ran.begin(), ran.end(), std::back_inserter(report.not_run));
    std::set_difference(ran.begin(), ran.end(), planned.begin(), planned.end(), std::back_inserter(report.unplanned));
}

// The schema production's sources read staged data from: the rendered schema of a source written with
// env_var('ECE_RAW_SCHEMA', ...). nullopt when no source uses it (or the manifest predates unrendered_schema).
std::optional<std::string> production_raw_schema(const Manifest& production) {
    for (const auto& node : production.nodes) {
        if (node.type == ResourceType::source && node.unrendered_schema.find("ECE_RAW_SCHEMA") != std::string_view::npos)
            return std::string(node.schema);
    }
    return std::nullopt;
}

std::string read_text(const fs::path& file) {
    std::ifstream in(file, std::ios::binary);
    return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

}  // namespace

std::filesystem::path parse_as_build(const BuildTarget& target, const BuildOptions& options) {
    const Sandbox sandbox(options.project_dir);
    write_profile(sandbox, target, options.threads);
    const fs::path target_path = options.target_path.value_or(fs::absolute(options.project_dir) / "target");
    return parse_branch(sandbox, options, dbt_environment(target, sandbox.home(), raw_schema_of(target, options)),
                        target_path);
}

std::string raw_schema_of(const BuildTarget& target, const BuildOptions& options) {
    return options.raw_schema.value_or(target.schema + "_raw");
}

void alias_raw_schema(PlanOptions& options, const Manifest& production, const std::string& raw_schema) {
    if (const auto production_raw = production_raw_schema(production))
        options.source_schema_aliases[raw_schema] = *production_raw;
}

bool BuildReport::ok() const { return status == build_status::success || status == build_status::nothing_to_build; }

std::string environment_lock_name(const std::string& environment) { return "env:" + environment; }

std::string profiles_yml(const BuildTarget& target, int threads) {
    YAML::Emitter out;
    out << YAML::BeginMap << YAML::Key << profile_name << YAML::Value << YAML::BeginMap;
    out << YAML::Key << "target" << YAML::Value << profile_name;
    out << YAML::Key << "outputs" << YAML::Value << YAML::BeginMap << YAML::Key << profile_name << YAML::Value
        << YAML::BeginMap;
    out << YAML::Key << "type" << YAML::Value << "postgres";
    out << YAML::Key << "host" << YAML::Value << YAML::DoubleQuoted << (target.host.empty() ? "localhost" : target.host);
    out << YAML::Key << "port" << YAML::Value << std::stoi(target.port.empty() ? "5432" : target.port);
    out << YAML::Key << "user" << YAML::Value << YAML::DoubleQuoted << target.user;
    out << YAML::Key << "password" << YAML::Value << YAML::DoubleQuoted
        << "{{ env_var('" + std::string(password_variable) + "') }}";
    out << YAML::Key << "dbname" << YAML::Value << YAML::DoubleQuoted << target.dbname;
    out << YAML::Key << "schema" << YAML::Value << YAML::DoubleQuoted << target.schema;
    out << YAML::Key << "threads" << YAML::Value << threads;
    if (!target.extra_profile_keys.count("connect_timeout")) out << YAML::Key << "connect_timeout" << YAML::Value << 10;
    for (const auto& [key, value] : target.extra_profile_keys) out << YAML::Key << key << YAML::Value << YAML::Load(value);
    if (!target.sslmode.empty()) out << YAML::Key << "sslmode" << YAML::Value << YAML::DoubleQuoted << target.sslmode;
    if (!target.sslrootcert.empty()) {
        out << YAML::Key << "sslrootcert" << YAML::Value << YAML::DoubleQuoted << target.sslrootcert;
    }
    out << YAML::EndMap << YAML::EndMap << YAML::EndMap << YAML::EndMap;
    if (!out.good()) throw Error(ErrorKind::internal, std::string("writing profiles.yml: ") + out.GetLastError());
    return std::string(out.c_str()) + "\n";
}

std::map<std::string, std::string> dbt_environment(const BuildTarget& target, const fs::path& home,
                                                   const std::string& raw_schema) {
    const char* path = std::getenv("PATH");
    return {
        {"PATH", path && *path ? path : "/usr/local/bin:/usr/bin:/bin"},
        // A private HOME: no ~/.pgpass, ~/.dbt or other credentials of the user running ece reach dbt.
        {"HOME", home.string()},
        {"LANG", "C.UTF-8"},
        {"PYTHONUNBUFFERED", "1"},  // stream log lines as they happen
        {password_variable, target.password},
        {"ECE_RAW_SCHEMA", raw_schema},
        {"DBT_PROFILES_DIR", home.string()},
        {"DBT_SEND_ANONYMOUS_USAGE_STATS", "false"},
        {"DBT_VERSION_CHECK", "false"},
        {"DBT_USE_COLORS", "false"},
    };
}

std::vector<std::string> buildable_ids(const Plan& plan) {
    std::vector<std::string> ids;
    for (const auto& node : plan.selected)
        if (is_buildable_type(node.resource_type)) ids.push_back(node.unique_id);
    std::sort(ids.begin(), ids.end());
    return ids;
}

std::vector<std::string> selection_arguments(const Plan& plan, const Manifest& branch) {
    std::vector<std::string> names;
    for (const auto& planned : plan.selected) {
        if (!is_buildable_type(planned.resource_type)) continue;
        const Node* node = branch.find(planned.unique_id);
        if (!node || node->fqn.empty())
            throw Error(ErrorKind::internal, "planned node " + planned.unique_id + " has no fqn in the branch manifest");
        names.push_back(joined(node->fqn, '.'));
    }
    return names;
}

BuildReport run_build(pqxx::connection_base& catalog, const BuildTarget& target, const BuildOptions& options) {
    register_secret(target.password);
    if (target.environment.empty() || target.schema.empty() || target.user.empty())
        throw Error(ErrorKind::usage, "a build needs the environment's name, schema and role");
    migrate_catalog(catalog);
    pg::AdvisoryLock lock(catalog, environment_lock_name(target.environment), options.lock_timeout);

    // dbt works on a copy of the project, as its own user when ece is root (sandbox.hpp); everything it needs is
    // handed to it there.
    const Sandbox sandbox(options.project_dir);
    const fs::path home = sandbox.home();
    write_profile(sandbox, target, options.threads);
    const std::string raw_schema = raw_schema_of(target, options);
    const auto env = dbt_environment(target, home, raw_schema);
    const fs::path target_path = options.target_path.value_or(fs::absolute(options.project_dir) / "target");

    const Selector selector = parse_selector(options.selector);
    const ProductionState state = find_production_state({options.state_dir, &catalog, options.artifact,
                                                         options.artifact_unavailable_reason, sandbox.scratch() / "state"});
    std::optional<Manifest> production;
    std::optional<fs::path> state_for_dbt;  // --state: the production manifest, where dbt's user may read it
    if (state.dir) {
        production = load_manifest(*state.dir / "manifest.json");
        state_for_dbt = sandbox.import_file(*state.dir / "manifest.json", "state/manifest.json").parent_path();
    }

    // One parse per run: the branch is parsed as `dbt build` will parse it (the environment's raw schema), so that
    // dbt build reuses it; its sources compare with production's as if parsed with production's raw schema.
    PlanOptions plan_options = options.plan_options;
    if (production) alias_raw_schema(plan_options, *production, raw_schema);
    const fs::path branch_file =
        options.branch_manifest ? *options.branch_manifest : parse_branch(sandbox, options, env, target_path);
    const Manifest branch = load_manifest(branch_file);

    BuildReport report;
    if (options.full_build_reason) {
        report.plan = plan_full_build(branch, selector.text, *options.full_build_reason);
    } else if (production) {
        report.plan = plan_changes(branch, *production, selector, state.source, plan_options);
    } else {
        report.plan = plan_full_build(branch, selector.text, state.missing_reason + ": building everything");
    }
    add_also_selected(report.plan, branch, options.also_select);
    remove_excluded(report.plan, branch, options.exclude);
    if (options.on_plan) options.on_plan(report.plan);
    report.planned = buildable_ids(report.plan);

    const BuildStart start{target.environment, target.sha, report.plan.selector, plan_to_json(report.plan)};
    if (report.planned.empty()) {
        report.status = build_status::nothing_to_build;
        report.message = "nothing to build: no model, seed, snapshot or test differs from production";
        report.build_id = record_build(catalog, start, {report.status, std::nullopt, std::nullopt, report.message, {}});
        return report;
    }

    if (target.ece_creates_schemas) {  // before dbt runs: refuses a node writing outside the environment
        ensure_environment_schemas(catalog, environment_schemas(branch, report.planned, target.schema, options.branch_manifest_schema.value_or(target.schema)), target.user);
    }

    report.dbt_command = {options.dbt.string(), "build"};
    const auto common = common_arguments(sandbox, options);
    report.dbt_command.insert(report.dbt_command.end(), common.begin(), common.end());
    if (!report.plan.full_build) {
        // Exactly the planned nodes; everything else resolves to production's relations through --defer.
        report.dbt_command.push_back("--select");
        const auto names = selection_arguments(report.plan, branch);
        report.dbt_command.insert(report.dbt_command.end(), names.begin(), names.end());
        report.dbt_command.insert(report.dbt_command.end(), {"--defer", "--state", state_for_dbt->string()});
    }
    if (!options.exclude.empty()) {
        report.dbt_command.push_back("--exclude");
        report.dbt_command.insert(report.dbt_command.end(), options.exclude.begin(), options.exclude.end());
    }

    report.build_id = begin_build(catalog, start);
    // Deferring builds only: a full build has no production to start from, and production's own build is the
    // production run itself.
    if (production && !report.plan.full_build && target.schema != target.production_schema) {
        try {
            report.stateful = start_stateful_nodes(target, report.plan, branch, *production, options.full_refresh);
        } catch (const std::exception& e) {
            finish_build(catalog, report.build_id, {build_status::failed, std::nullopt, std::nullopt,
                                                    mask_secrets(e.what()), {}});
            throw;
        }
        if (options.on_log_line) {
            for (const auto& s : report.stateful) options.on_log_line(describe(s));
        }
    }
    const fs::path results_file = target_path / "run_results.json";
    BuildOutcome outcome;
    try {
        std::error_code ignored;
        fs::remove(results_file, ignored);  // never mistake an earlier run's results for this one's
        pg::SessionWatchdog watchdog(catalog, target.user, options.session_limits);  // catalog is idle meanwhile
        const auto result = run_dbt(sandbox, options, report.dbt_command, env, options.build_timeout);
        watchdog.stop();
        sandbox.copy_target_to(target_path);  // run_results.json is read from the copy: never through dbt's links
        report.dbt_exit_code = result.exit_code;
        outcome.dbt_exit_code = result.exit_code;
        if (fs::exists(results_file)) {
            outcome.run_results_json = read_text(results_file);
            report.run_results = parse_run_results(*outcome.run_results_json, results_file);
        }
    } catch (const std::exception& e) {
        outcome.status = build_status::failed;
        outcome.message = mask_secrets(e.what());
        finish_build(catalog, report.build_id, outcome);
        throw;
    }

    if (report.run_results) {
        compare_with_plan(report, branch);
        outcome.built = nodes_built(*report.run_results, branch, target);
    }
    if (report.dbt_exit_code != 0) {
        outcome.status = build_status::failed;
        outcome.message = "dbt build exited with " + std::to_string(*report.dbt_exit_code) +
                          (report.run_results ? "" : " and wrote no " + results_file.string());
        if (report.run_results) {
            std::vector<std::string> failures;
            for (const auto& r : report.run_results->results)
                if (r.status == "error" || r.status == "fail" || r.status == "runtime error") failures.push_back(r.unique_id);
            if (!failures.empty()) outcome.message += "; failed: " + list_for_message(failures);
        }
    } else if (!report.run_results) {
        outcome.status = build_status::failed;
        outcome.message = "dbt build wrote no " + results_file.string();
    } else if (!report.not_run.empty() || !report.unplanned.empty()) {
        outcome.status = build_status::mismatch;
        outcome.message = "dbt ran other nodes than planned";
    } else {
        outcome.status = build_status::success;
    }
    if (!report.not_run.empty()) outcome.message += "; planned but not run: " + list_for_message(report.not_run);
    if (!report.unplanned.empty()) outcome.message += "; run but not planned: " + list_for_message(report.unplanned);
    report.status = outcome.status;
    report.message = outcome.message;
    report.built_count = outcome.built.size();
    finish_build(catalog, report.build_id, outcome);
    return report;
}

}  // namespace ece::dbt
