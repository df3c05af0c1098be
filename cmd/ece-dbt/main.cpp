// ece-dbt: what a branch's dbt project needs to build, compared with production (dbt's "Slim CI"), and the build.
//   ece-dbt plan (--manifest FILE | --project-dir P [--branch B]) [--state DIR] [--select SELECTOR]
//                [--format text|json] [--out FILE] [--ignore-config KEY]...
//   ece-dbt build --branch B [--project-dir P] [--dbt PATH] [--state DIR] [--select SELECTOR] ...
//   ece-dbt store-manifest --manifest FILE --sha SHA [--source TEXT]
//   ece-dbt diff --branch B [--pr N] [--manifest FILE] [--format text|json] [--out FILE]
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>


#include <boost/program_options.hpp>

#include "core/cli.hpp"
#include "core/error.hpp"
#include "core/main.hpp"
#include "core/secrets.hpp"
#include "dbt/artifact_state.hpp"
#include "dbt/build.hpp"
#include "config/config.hpp"
#include "dbt/executable.hpp"
#include "dbt/packages.hpp"
#include "dbt/catalog.hpp"
#include "dbt/env_target.hpp"
#include "env/environments.hpp"
#include "dbt/manifest.hpp"
#include "dbt/plan_output.hpp"
#include "dbt/private_dir.hpp"
#include "dbt/production_state.hpp"
#include "dbt/sandbox.hpp"
#include "dbt/select.hpp"
#include "dbt/state.hpp"
#include "diff/environment.hpp"
#include "diff/json.hpp"
#include "pg/connect.hpp"
#include "pg/embedded.hpp"

namespace fs = std::filesystem;
namespace po = boost::program_options;

namespace {

const char* const usage_text =
    "usage: ece-dbt plan (--manifest FILE | --project-dir P [--branch B] [--pr N]) [--state DIR] [--select SELECTOR]\n"
    "                    [--also-select DBT_SELECTOR]... [--format text|json] [--out FILE] [--ignore-config KEY]...\n"
    "                    [--database-url URL]\n"
    "       ece-dbt build --branch B [--project-dir P] [--dbt PATH] [--state DIR] [--select SELECTOR]\n"
    "                     [--also-select DBT_SELECTOR]... [--full-refresh] ...\n"
    "       ece-dbt store-manifest --manifest FILE --sha SHA [--source TEXT] [--database-url URL]\n"
    "       ece-dbt diff --branch B [--pr N] [--manifest FILE] [--format text|json] [--out FILE] [--database-url URL]\n";

// The GitHub Actions artifact source of production state (lib/github): not in this build yet, so say so
// whenever a token and an artifact name would have asked for it.
// With --artifact NAME, GITHUB_TOKEN and GITHUB_REPOSITORY: production's manifest from the newest such artifact
// of a successful run on the main branch (ECE_MAIN_BRANCH, default main).
ece::dbt::ArtifactFetcher artifact_source(const std::string& artifact_name, std::string& unavailable_reason,
                                          const fs::path& work_dir) {
    if (artifact_name.empty()) return {};
    const char* token = std::getenv("GITHUB_TOKEN");
    const char* repository = std::getenv("GITHUB_REPOSITORY");
    if (!token || !*token || !repository || !*repository) {
        unavailable_reason = "artifact " + artifact_name + " not looked up: GITHUB_TOKEN and GITHUB_REPOSITORY are needed";
        return {};
    }
    ece::register_secret(token);
    const char* main_branch = std::getenv("ECE_MAIN_BRANCH");
    ece::github::ClientConfig config;
    config.token = token;
    config.repository = ece::github::Repository::parse(repository);
    return ece::dbt::github_artifact_fetcher(config, main_branch && *main_branch ? main_branch : "main", artifact_name,
                                            work_dir);
}

// The database production's nodes live in (sources render it into their relation, which dbt compares).
std::string production_database(const ece::dbt::Manifest& production) {
    for (const auto& node : production.nodes)
        if (node.type == ece::dbt::ResourceType::source && !node.database.empty()) return std::string(node.database);
    return "ece";
}

// The target `ece-dbt plan --project-dir` parses with: the environment's, as `ece-dbt build` parses (its connection
// facts without a password: dbt parse does not connect). Without a branch, or when the environment cannot be
// looked up (no configuration or catalog here), a placeholder on localhost (environment "plan") that takes
// production's database: the plan compares unrendered values, except the sources' rendered database and schema.
ece::dbt::BuildTarget plan_parse_target(const std::string& branch, int pr, const std::string& config_file,
                                        const std::string& database_url) {
    ece::dbt::BuildTarget target{"localhost", "5432", "ece", "ece", "", "ece_plan", "analytics", "plan", "", {}, {}};
    if (branch.empty()) return target;
    try {
        auto config = ece::config::load_for_command(config_file.empty() ? std::nullopt
                                                                        : std::optional<fs::path>(config_file));
        auto settings = ece::env::Settings::resolve(
            database_url.empty() ? std::nullopt : std::optional(database_url), std::move(config));
        ece::env::Environments environments(std::move(settings));
        const auto id = environments.identify(branch, pr > 0 ? std::optional(pr) : std::nullopt);
        const ece::env::Credentials facts = environments.connection_facts(id);
        target = ece::dbt::BuildTarget{facts.host, facts.port, facts.dbname, facts.user, "", facts.schema,
                                       environments.production_facts().schema, id.name, "", {}, {}};
    } catch (const ece::Error& e) {
        std::cerr << "ece-dbt plan: parsing with a placeholder target (" << ece::mask_secrets(e.what()) << ")\n";
    }
    return target;
}

// Parses a subcommand's arguments into the variables options binds. False when --help was asked (and printed);
// a bad argument is an ece::Error (usage) with the usage text.
bool parse_arguments(const std::vector<std::string>& args, const po::options_description& options) {
    return ece::cli::parse(args, options, {.help_before = usage_text, .error_hint = std::string("\n") + usage_text})
        .has_value();
}

int plan_command(const std::vector<std::string>& args) {
    std::string branch, manifest_file, project_dir, state_dir, select = "state:modified+", format = "text", out_file;
    std::string dbt_program, database_url, artifact_name, config_file;
    int pr = 0;
    std::vector<std::string> ignore_config, also_select;
    po::options_description options("plan options");
    options.add_options()
        ("help,h", "this help")
        ("branch", po::value(&branch), "the branch being planned (with --project-dir: its environment's profile "
                                       "parses the project, as ece-dbt build does)")
        ("pr", po::value(&pr), "the pull request number (the environment is pr-<N>)")
        ("config", po::value(&config_file), "ece.yml (default: ./ece.yml when present)")
        ("manifest", po::value(&manifest_file), "the branch's manifest.json")
        ("project-dir", po::value(&project_dir), "the dbt project (runs dbt parse as ece-dbt build does, unless "
                                                 "--manifest is given)")
        ("state", po::value(&state_dir), "directory with production's manifest.json (dbt's --state); without it the "
                                         "catalog's newest production manifest is used")
        ("database-url", po::value(&database_url), "the catalog's database (else ECE_DATABASE_URL, else the embedded "
                                                   "server)")
        ("artifact", po::value(&artifact_name), "with GITHUB_TOKEN: production's manifest from this artifact of the "
                                                "newest successful run on the main branch, when the catalog has none")
        ("dbt", po::value(&dbt_program), "the dbt executable (default: ece's virtual environment, else dbt on PATH)")
        ("select", po::value(&select), "state:new or state:modified[.body|.configs|.relation|"
                                       ".persisted_descriptions|.macros|.contract], optionally with +")
        ("also-select", po::value(&also_select), "a dbt selector (tag:x, path:models/y, +name, ...) whose nodes "
                                                 "are built too, in addition to --select (repeatable)")
        ("format", po::value(&format), "text or json")
        ("out", po::value(&out_file), "write the plan here instead of stdout")
        ("ignore-config", po::value(&ignore_config),
         "stricter than dbt: ignore differences in this unrendered config key (repeatable), e.g. one that "
         "differs only because production renders target.name differently");
    if (!parse_arguments(args, options)) return ece::exit_code::ok;  // --help was printed
    if (format != "text" && format != "json")
        throw ece::Error(ece::ErrorKind::usage, "--format must be text or json, not '" + format + "'");
    if (manifest_file.empty() && project_dir.empty())
        throw ece::Error(ece::ErrorKind::usage, std::string("give --manifest FILE or --project-dir P\n") + usage_text);

    const ece::dbt::Selector selector = ece::dbt::parse_selector(select);
    ece::dbt::PlanOptions plan_options;
    plan_options.ignore_config_keys.insert(ignore_config.begin(), ignore_config.end());

    // Production state: --state DIR, else the catalog, else an artifact; none means a full build.
    std::unique_ptr<pqxx::connection> catalog;
    if (state_dir.empty())
        catalog = ece::pg::connect_owned(
            ece::pg::resolve_admin_url(database_url.empty() ? std::nullopt : std::optional(database_url)),
            "ece-dbt plan: production manifest");
    std::string artifact_unavailable;
    const ece::dbt::PrivateDir scratch;
    const ece::dbt::ArtifactFetcher artifact = artifact_source(artifact_name, artifact_unavailable, scratch.path());
    const ece::dbt::ProductionState state = ece::dbt::find_production_state(
        {state_dir.empty() ? std::nullopt : std::optional<fs::path>(state_dir), catalog.get(), artifact,
         artifact_unavailable, scratch.path()});

    fs::path branch_manifest = manifest_file;
    if (manifest_file.empty()) {
        ece::dbt::BuildOptions parse_options;
        parse_options.project_dir = project_dir;
        parse_options.dbt = ece::dbt::find_executable({{dbt_program, "--dbt"}}, fs::current_path()).path;
        parse_options.on_log_line = [](std::string_view line) { std::cerr << line << "\n"; };
        ece::dbt::BuildTarget parse_target = plan_parse_target(branch, pr, config_file, database_url);
        if (state.dir) {
            const ece::dbt::Manifest production = ece::dbt::load_manifest(*state.dir / "manifest.json");
            if (parse_target.environment == "plan") parse_target.dbname = production_database(production);
            ece::dbt::alias_raw_schema(plan_options, production, ece::dbt::raw_schema_of(parse_target, parse_options));
        }
        branch_manifest = ece::dbt::parse_as_build(parse_target, parse_options);
    }

    ece::dbt::Plan plan;
    if (!state.dir) {
        const ece::dbt::Manifest current = ece::dbt::load_manifest(branch_manifest);
        plan = ece::dbt::plan_full_build(current, selector.text, state.missing_reason + ": building everything");
        ece::dbt::add_also_selected(plan, current, also_select);
    } else {
        const ece::dbt::ManifestPair pair =
            ece::dbt::load_manifest_pair(branch_manifest, *state.dir / "manifest.json");
        plan = ece::dbt::plan_changes(pair.branch, pair.production, selector, state.source, plan_options);
        ece::dbt::add_also_selected(plan, pair.branch, also_select);
    }

    const std::string text = ece::mask_secrets(format == "json" ? ece::dbt::plan_to_json(plan) + "\n"
                                                                : ece::dbt::plan_to_text(plan, branch));
    if (out_file.empty()) {
        std::cout << text;
    } else {
        std::ofstream out(out_file, std::ios::binary);
        out << text;
        if (!out.flush()) throw ece::Error(ece::ErrorKind::usage, "cannot write the plan", {out_file, {}, {}, {}, {}});
    }
    return ece::exit_code::ok;
}

// dbt's log: a collapsible group in GitHub Actions, plain prefixed lines elsewhere.
class LogPrinter {
public:
    LogPrinter() {
        const char* actions = std::getenv("GITHUB_ACTIONS");
        grouped_ = actions && std::string(actions) == "true";
    }
    void open(const std::string& title) {
        std::cout << (grouped_ ? "::group::" : "== ") << title << std::endl;
        open_ = true;
    }
    bool is_open() const { return open_; }
    void line(std::string_view text) { std::cout << (grouped_ ? "" : "dbt | ") << text << std::endl; }
    void close() {
        if (open_ && grouped_) std::cout << "::endgroup::" << std::endl;
        open_ = false;
    }
    ~LogPrinter() { close(); }

private:
    bool grouped_ = false;
    bool open_ = false;
};

std::string default_sha() {
    const char* sha = std::getenv("GITHUB_SHA");
    return sha ? sha : "";
}

// The low-level form, for a role ece-env does not manage: ECE_DBT_TARGET_URL (a postgresql:// URL of the role,
// kept out of the process list) and --schema. The normal form issues the environment's credentials (lib/env).
ece::dbt::BuildTarget target_from_url(const std::string& environment, const std::string& schema,
                                      const std::string& production_schema, const std::string& sha) {
    const char* url = std::getenv("ECE_DBT_TARGET_URL");
    if (!url || !*url)
        throw ece::Error(ece::ErrorKind::usage,
                         "set ECE_DBT_TARGET_URL to the environment role's postgresql:// URL (ece-env's credentials)");
    ece::register_secret(url);
    const ece::pg::ConnectionFacts facts = ece::pg::parse_url(url);
    if (schema.empty()) throw ece::Error(ece::ErrorKind::usage, "give --schema, the environment's base schema");
    ece::dbt::BuildTarget target{facts.host,   facts.port,  facts.dbname,       facts.user, facts.password, schema,
                                 production_schema, environment, sha, {}, {}};
    if (auto ssl = facts.options.find("sslmode"); ssl != facts.options.end()) target.sslmode = ssl->second;
    return target;
}

void print_summary(const ece::dbt::BuildReport& report, const std::string& environment) {
    std::cout << "Build #" << report.build_id << " of " << environment << ": " << report.status;
    if (report.status != ece::dbt::build_status::nothing_to_build)
        std::cout << " (" << report.planned.size() << " planned, "
                  << (report.run_results ? report.run_results->results.size() : 0) << " run by dbt, "
                  << report.built_count << " relations recorded)";
    std::cout << "\n";
    if (!report.message.empty()) std::cout << ece::mask_secrets(report.message) << "\n";
}

int build_command(const std::vector<std::string>& args) {
    std::string branch, environment, project_dir = ".", dbt_program, state_dir, select = "state:modified+";
    std::string manifest_file, database_url, schema, production_schema = "analytics", sha = default_sha();
    std::string artifact_name, target_path, raw_schema, config_file;
    int pr = 0;
    std::vector<std::string> ignore_config, also_select;
    int threads = 4, timeout_minutes = 120;
    bool force_defer = false, full_refresh = false;
    po::options_description options("build options");
    options.add_options()
        ("help,h", "this help")
        ("branch", po::value(&branch)->required(), "the branch being built")
        ("pr", po::value(&pr), "the pull request number (the environment is pr-<N>)")
        ("config", po::value(&config_file), "ece.yml (default: ./ece.yml when present)")
        ("environment", po::value(&environment), "with ECE_DBT_TARGET_URL: the catalog name of the build")
        ("project-dir", po::value(&project_dir), "the dbt project (default: .)")
        ("dbt", po::value(&dbt_program), "the dbt executable (default: ece.yml's dbt.executable, else ece's virtual "
                                         "environment, else dbt on PATH)")
        ("state", po::value(&state_dir), "directory with production's manifest.json (default: the catalog's)")
        ("select", po::value(&select), "state:modified+ (default) or another state selector, as for plan")
        ("also-select", po::value(&also_select), "a dbt selector (tag:x, path:models/y, +name, ...) whose nodes "
                                                 "are built too, in addition to --select (repeatable)")
        ("full-refresh", po::bool_switch(&full_refresh), "build snapshots and incremental models from scratch instead of from a copy of "
                         "production's table (docs/stateful-nodes.md)")
        ("manifest", po::value(&manifest_file), "the branch's manifest.json (default: dbt parse with the "
                                                "environment's profile)")
        ("database-url", po::value(&database_url), "the catalog's database (else ECE_DATABASE_URL, else the "
                                                   "embedded server)")
        ("force-defer", po::bool_switch(&force_defer), "build only what changed, deferring to production, also "
                                                       "where the environment cannot read production (provider "
                                                       "digitalocean builds the whole project otherwise)")
        ("schema", po::value(&schema), "with ECE_DBT_TARGET_URL: the role's base schema (low-level form)")
        ("production-schema", po::value(&production_schema), "production's base schema (default analytics)")
        ("raw-schema", po::value(&raw_schema), "the staged data schema dbt reads through ECE_RAW_SCHEMA "
                                               "(default <schema>_raw)")
        ("sha", po::value(&sha), "the commit being built (default GITHUB_SHA)")
        ("target-path", po::value(&target_path), "dbt's --target-path (default <project>/target)")
        ("artifact", po::value(&artifact_name), "with GITHUB_TOKEN: production's manifest from this artifact when "
                                                "the catalog has none")
        ("threads", po::value(&threads), "dbt threads (default 4)")
        ("timeout-minutes", po::value(&timeout_minutes), "dbt build is stopped after this (default 120)")
        ("ignore-config", po::value(&ignore_config), "as for plan: ignore differences in this config key");
    if (!parse_arguments(args, options)) return ece::exit_code::ok;  // --help was printed
    const auto database_url_flag = database_url.empty() ? std::nullopt : std::optional(database_url);
    ece::dbt::BuildTarget target;
    std::string catalog_url;
    std::optional<std::string> full_build_reason;
    ece::pg::SessionLimits session_limits;
    std::vector<ece::dbt::Choice> dbt_choices = {{dbt_program, "--dbt"}};
    fs::path config_root = fs::current_path();
    std::string dbt_vars;                  // ece.yml's dbt.vars
    std::vector<std::string> dbt_exclude;  // ece.yml's dbt.exclude
    if (!schema.empty()) {
        if (environment.empty()) environment = branch;
        target = target_from_url(environment, schema, production_schema, sha);
        catalog_url = ece::pg::resolve_admin_url(database_url_flag);
    } else {
        auto config = ece::config::load_for_command(config_file.empty() ? std::nullopt
                                                                        : std::optional<fs::path>(config_file));
        dbt_choices.push_back({config.dbt.executable, "ece.yml dbt.executable"});
        config_root = config.root;
        auto settings = ece::env::Settings::resolve(database_url_flag, std::move(config));
        // Provider digitalocean without a catalog database: builds are recorded on the embedded server.
        catalog_url = settings.admin_url.empty() ? ece::pg::resolve_admin_url(std::nullopt) : settings.admin_url;
        ece::env::Environments environments(std::move(settings));
        const auto id = environments.identify(branch, pr > 0 ? std::optional(pr) : std::nullopt);
        target = ece::dbt::build_target_for(environments, id, sha);
        environment = id.name;
        session_limits = ece::env::session_limits(environments.config());
        dbt_vars = environments.config().dbt.vars;
        dbt_exclude = environments.config().dbt.exclude;
        if (!environments.provider().supports_defer() && !force_defer) {
            full_build_reason = "environment " + id.name + " is a " + environments.provider().kind() +
                                " cluster of its own, which cannot read production's relations (no --defer; "
                                "--force-defer builds only what changed)";
        }
    }
    ece::dbt::BuildOptions build;
    build.project_dir = project_dir;
    build.vars = dbt_vars;
    build.exclude = dbt_exclude;
    build.dbt = ece::dbt::find_executable(dbt_choices, config_root).path;
    if (!manifest_file.empty()) build.branch_manifest = fs::path(manifest_file);
    if (!state_dir.empty()) build.state_dir = fs::path(state_dir);
    if (!raw_schema.empty()) build.raw_schema = raw_schema;
    if (!target_path.empty()) build.target_path = fs::absolute(target_path);
    build.selector = select;
    build.also_select = also_select;
    build.full_refresh = full_refresh;
    build.full_build_reason = full_build_reason;
    build.plan_options.ignore_config_keys.insert(ignore_config.begin(), ignore_config.end());
    build.threads = threads;
    build.build_timeout = std::chrono::minutes(timeout_minutes);
    build.session_limits = session_limits;
    const ece::dbt::PrivateDir artifact_dir;  // the downloaded zip lives here while the build runs
    build.artifact = artifact_source(artifact_name, build.artifact_unavailable_reason, artifact_dir.path());

    LogPrinter log;
    bool parsing = true;  // lines before the plan come from dbt parse
    build.on_plan = [&](const ece::dbt::Plan& plan) {
        log.close();
        parsing = false;
        std::cout << ece::mask_secrets(ece::dbt::plan_to_text(plan, branch)) << std::flush;
        log.open("dbt build for " + environment);
    };
    build.on_log_line = [&](std::string_view line) {
        if (parsing && !log.is_open()) log.open("dbt parse for " + environment);
        log.line(line);
    };

    auto catalog = ece::pg::connect_owned(catalog_url, "ece-dbt build: catalog");
    const ece::dbt::BuildReport report = ece::dbt::run_build(*catalog, target, build);
    log.close();
    print_summary(report, environment);
    return report.ok() ? ece::exit_code::ok : ece::exit_code::failure;
}

int store_manifest_command(const std::vector<std::string>& args) {
    std::string manifest_file, sha, source = "ece-dbt store-manifest", database_url;
    po::options_description options("store-manifest options");
    options.add_options()
        ("help,h", "this help")
        ("manifest", po::value(&manifest_file)->required(), "production's manifest.json")
        ("sha", po::value(&sha)->required(), "the commit it was made from")
        ("source", po::value(&source), "who stores it (recorded)")
        ("database-url", po::value(&database_url), "the catalog's database (else ECE_DATABASE_URL, else the "
                                                   "embedded server)");
    if (!parse_arguments(args, options)) return ece::exit_code::ok;  // --help was printed
    auto catalog = ece::pg::connect_owned(
        ece::pg::resolve_admin_url(database_url.empty() ? std::nullopt : std::optional(database_url)),
        "ece-dbt store-manifest");
    const auto id = ece::dbt::store_production_manifest(*catalog, manifest_file, sha, source);
    std::cout << "stored " << manifest_file << " as ece.state_manifests #" << id << "\n";
    return ece::exit_code::ok;
}

// One line per model: what differs, how it was compared.
std::string diff_as_text(const ece::diff::DiffRun& run) {
    std::string out;
    for (const auto& d : run.models) {
        out += d.model + ": " + std::to_string(d.rows_production) + " -> " + std::to_string(d.rows_environment) +
               " rows; only in production " + std::to_string(d.only_production) + ", only in the environment " +
               std::to_string(d.only_environment) + ", changed " + std::to_string(d.changed) + ", unchanged " +
               std::to_string(d.unchanged) + " (" + std::string(ece::diff::method_name(d.method)) +
               (d.key.empty() ? "" : ", key " + d.key.front() + (d.key.size() > 1 ? ", ..." : "")) + ")\n";
        for (const auto& c : d.columns) {
            if (c.added()) out += "  added column " + c.name + " " + c.after_type + "\n";
            else if (c.removed()) out += "  removed column " + c.name + "\n";
            else if (c.retyped()) out += "  column " + c.name + " " + c.before_type + " -> " + c.after_type + "\n";
            if (c.changed) out += "  column " + c.name + ": " + std::to_string(c.changed) + " rows changed\n";
        }
        if (!d.note.empty()) out += "  note: " + d.note + "\n";
    }
    if (run.budget_reached) out += "the pull request's diff budget was reached: some models were not compared\n";
    return out;
}

// `ece-dbt diff`: the environment's built models (ece.built_nodes) and staged tables against production, as the
// environment's role (lib/diff). Keys and sensitive columns from --manifest (the branch's manifest.json) and ece.yml.
int diff_command(const std::vector<std::string>& args) {
    std::string branch, manifest_file, format = "text", out_file, database_url, config_file;
    int pr = 0;
    po::options_description options("diff options");
    options.add_options()
        ("help,h", "this help")
        ("branch", po::value(&branch)->required(), "the branch whose environment is compared")
        ("pr", po::value(&pr), "the pull request number (the environment is pr-<N>)")
        ("config", po::value(&config_file), "ece.yml (default: ./ece.yml when present)")
        ("manifest", po::value(&manifest_file), "the branch's manifest.json: keys (constraints, tests, meta) and "
                                                "sensitive columns (default: none, ece.yml's only)")
        ("format", po::value(&format), "text (default) or json")
        ("out", po::value(&out_file), "write there instead of standard output")
        ("database-url", po::value(&database_url), "the server of production and the catalog (else "
                                                   "ECE_DATABASE_URL, else the embedded server)");
    if (!parse_arguments(args, options)) return ece::exit_code::ok;  // --help was printed
    if (format != "text" && format != "json") {
        throw ece::Error(ece::ErrorKind::usage, "--format must be text or json, not " + format);
    }
    auto config = ece::config::load_for_command(config_file.empty() ? std::nullopt : std::optional<fs::path>(config_file));
    auto settings = ece::env::Settings::resolve(database_url.empty() ? std::nullopt : std::optional(database_url),
                                                std::move(config));
    const auto admin_url = settings.admin_url.empty() ? ece::pg::resolve_admin_url(std::nullopt) : settings.admin_url;
    ece::env::Environments environments(std::move(settings));
    const auto id = environments.identify(branch, pr > 0 ? std::optional(pr) : std::nullopt);
    const auto record = environments.find(id);
    if (!record || record->status == ece::env::Status::destroyed) {
        throw ece::Error(ece::ErrorKind::conflict, "environment " + id.name + " is not up: nothing to compare");
    }
    std::optional<ece::dbt::Manifest> manifest;
    if (!manifest_file.empty()) manifest = ece::dbt::load_manifest(manifest_file);
    auto admin = ece::pg::connect_owned(admin_url, "ece-dbt diff");
    const auto run = ece::diff::diff_environment(*admin, *record, ece::dbt::built_nodes(*admin, record->name),
                                                 manifest ? &*manifest : nullptr, environments.config());
    const auto text = format == "json" ? ece::diff::to_json_text(run) : diff_as_text(run);
    if (out_file.empty()) {
        std::cout << text;
    } else {
        std::ofstream out(out_file, std::ios::binary | std::ios::trunc);
        out << text;
        if (!out.flush()) throw ece::Error(ece::ErrorKind::usage, "cannot write " + out_file);
    }
    return ece::exit_code::ok;
}

}  // namespace

int main(int argc, char** argv) {
    return ece::guarded_main("ece-dbt", [&] {
        const auto args = ece::cli::arguments(argc, argv);
        if (args.empty() || args[0] == "--help" || args[0] == "-h") {
            std::cout << usage_text;
            return args.empty() ? ece::exit_code::usage : ece::exit_code::ok;
        }
        if (args[0] == "--version") {
            std::cout << ece::version_line("ece-dbt") << "\n";
            return ece::exit_code::ok;
        }
        return ece::cli::dispatch(args[0], {args.begin() + 1, args.end()},
                                  {{"plan", plan_command}, {"build", build_command},
                                   {"store-manifest", store_manifest_command}, {"diff", diff_command}},
                                  std::string("\n") + usage_text);
    });
}
