// ece-publish: moves a merged pull request's environment into production in one transaction, or swaps it back.
//   ece-publish (--branch B | --pr N) [--sha S] [--manifest FILE | --project-dir P] [--strict | --rebuild] [--dry-run]
//   ece-publish (--branch B | --pr N) [--sha S] [--strict | --rebuild] [--dry-run] --relations FILE
//   ece-publish --rollback [ID]
//   ece-publish list [--limit N]
// Common: --database-url URL, --config ece.yml, --format text|json.
#include "config/config.hpp"
#include "core/cli.hpp"
#include "core/error.hpp"
#include "core/main.hpp"
#include "core/secrets.hpp"
#include "dbt/executable.hpp"
#include "cost/money.hpp"
#include "digitalocean/provider.hpp"
#include "env/digitalocean_publish.hpp"
#include "pg/connect.hpp"
#include "pg/embedded.hpp"
#include "env/environments.hpp"
#include "publish/merge.hpp"
#include "publish/json.hpp"
#include "publish/publish.hpp"

#include <boost/json.hpp>
#include <boost/program_options.hpp>

#include <cstdlib>
#include <filesystem>
#include <iostream>
#include <optional>

namespace fs = std::filesystem;
namespace po = boost::program_options;
namespace publish = ece::publish;

namespace {

const char* const usage_text =
    "usage: ece-publish (--branch B | --pr N) [--sha S] [--manifest FILE | --project-dir P] [--strict | --rebuild]\n"
    "                   [--dry-run] [--keep-environment] [--full-refresh]\n"
    "       ece-publish (--branch B | --pr N) [--sha S] [--strict | --rebuild] [--dry-run] --relations FILE\n"
    "       ece-publish --rollback [ID]\n"
    "       ece-publish list [--limit N]\n"
    "common options: [--database-url URL] [--config ece.yml] [--format text|json]\n"
    "\n"
    "--relations FILE is the low-level form: a JSON list of the relations the environment built\n"
    "  [{\"environment_schema\", \"name\", \"kind\": table|view|materialized_view, \"production_schema\",\n"
    "    \"unique_id\", \"checksum\"}, ...]\n"
    "or an object {\"environment\", \"pr\", \"sha\", \"production_role\", \"relations\": [...], \"staged_views\": [...],\n"
    "  \"main_checksums\": {id: checksum}, \"production_checksums\": {...}, \"rebindable_views\": [{\"schema\", \"name\"}],\n"
    "  \"tolerated_dependent_schemas\": [...]}.\n"
    "\n"
    "Without --relations, publish reads the catalog (ece.environments, ece.built_nodes, ece.staged_usage,\n"
    "ece.state_manifests) and the merged main's manifest (--manifest FILE, else `dbt parse` of --project-dir,\n"
    "default dbt.project_dir of ece.yml). A stale environment is rebuilt first (--rebuild, default; needs the\n"
    "checked-out merged main in --project-dir) or refused with the list (--strict). After publishing, the merged\n"
    "manifest becomes production's state and the environment is removed. A commit published already is a no-op.\n"
    "Snapshots and incremental models keep production's history: the merged main runs them on a copy of\n"
    "production's table just before the swap; --full-refresh publishes them built from scratch instead\n"
    "(docs/stateful-nodes.md).\n"
    "--sha defaults to $GITHUB_SHA.\n"
    "\n"
    "With environments.provider digitalocean (or --provider digitalocean) there is no swap: the environment's\n"
    "cluster is resized in place to digitalocean.production_size, tagged production, and the previous production\n"
    "cluster is deleted once the new one answers; --dry-run prints the plan with the monthly cost before and after.\n";

struct Common {
    std::string database_url;
    std::string config_file;
    std::string format = "text";
};

ece::config::Config load_config(const Common& common) {
    return ece::config::load_for_command(common.config_file.empty() ? std::nullopt
                                                                    : std::optional<fs::path>(common.config_file));
}

void print_json(const boost::json::value& value) { std::cout << ece::mask_secrets(boost::json::serialize(value)) << "\n"; }

void print_moves(const publish::Result& result) {
    for (const auto& m : result.relations) {
        std::cout << "  " << publish::display(m.production) << " (" << publish::to_string(m.kind) << ")";
        if (!m.incoming) std::cout << " removed";
        if (m.archive_schema) std::cout << ", previous version in " << *m.archive_schema;
        std::cout << "\n";
    }
    for (const auto& v : result.rebound_views) std::cout << "  recreated view " << publish::display(v) << "\n";
}

int print_result(const publish::Result& result, const std::string& format) {
    int code = result.outcome == publish::Outcome::needs_rebuild ? ece::exit_code::conflict : ece::exit_code::ok;
    if (format == "json") {
        print_json(publish::to_json(result));
        return code;
    }
    switch (result.outcome) {
        case publish::Outcome::already_published:
            std::cout << "already published as publish #" << result.id << " (" << result.relations.size()
                      << " relations of environment " << result.environment << "); nothing to do\n";
            break;
        case publish::Outcome::needs_rebuild:
            std::cout << "environment " << result.environment
                      << " is stale against the merged main; build these nodes into it, then publish again:\n"
                      << result.stale.describe();
            break;
        case publish::Outcome::dry_run:
            std::cout << "dry run: would publish " << result.relations.size() << " relations of environment "
                      << result.environment << ":\n";
            print_moves(result);
            break;
        case publish::Outcome::published:
            std::cout << "published " << result.relations.size() << " relations of environment " << result.environment
                      << " in " << result.swap_duration.count() << " ms (publish #" << result.id << ", "
                      << result.attempts << " attempt" << (result.attempts == 1 ? "" : "s") << ")\n";
            print_moves(result);
            std::cout << "undo with: ece-publish --rollback " << result.id << "\n";
            break;
        case publish::Outcome::rolled_back:
            std::cout << "rolled back publish #" << result.rolled_back_id.value_or(0) << " (rollback #" << result.id
                      << ") in " << result.swap_duration.count() << " ms; restored:\n";
            print_moves(result);
            if (!result.production_state.empty()) std::cout << result.production_state << "\n";
            break;
    }
    if (!result.pruned_archives.empty()) {
        std::cout << "dropped old archives:";
        for (const auto& s : result.pruned_archives) std::cout << " " << s;
        std::cout << "\n";
    }
    if (!result.prune_warning.empty()) std::cerr << "warning: " << ece::mask_secrets(result.prune_warning) << "\n";
    return code;
}

int print_merge(const publish::MergeResult& merged, const std::string& format) {
    const auto& result = merged.publish;
    int code = result.outcome == publish::Outcome::needs_rebuild ? ece::exit_code::conflict : ece::exit_code::ok;
    if (format == "json") {
        auto value = publish::to_json(result).as_object();
        value["already_published"] = merged.already_published;
        value["sha"] = merged.sha;
        if (merged.previous) value["previous"] = publish::to_json(*merged.previous);
        if (merged.rebuild_id) {
            value["rebuild"] = boost::json::object{{"build_id", *merged.rebuild_id}, {"status", merged.rebuild_status}};
        }
        if (merged.manifest_id) value["manifest_id"] = *merged.manifest_id;
        value["environment_removed"] = merged.environment_removed;
        if (result.outcome == publish::Outcome::published) value["rollback_command"] = merged.rollback_command();
        boost::json::array warnings;
        for (const auto& w : merged.warnings) warnings.push_back(boost::json::value(w));
        value["warnings"] = warnings;
        print_json(value);
        return code;
    }
    if (merged.already_published) {
        std::cout << "commit " << (merged.sha.empty() ? std::string("(unknown)") : merged.sha.substr(0, 12))
                  << " of environment " << merged.environment << " was published already as publish #" << result.id;
        if (merged.previous && merged.previous->rolled_back_by) {
            std::cout << " (rolled back by #" << *merged.previous->rolled_back_by << ")";
        }
        std::cout << "; nothing to do\n";
        return ece::exit_code::ok;
    }
    if (merged.stateful_build_id) {
        std::cout << "ran the snapshots and incremental models on production's history (build #"
                  << *merged.stateful_build_id << "):\n";
        for (const auto& s : merged.stateful) std::cout << "  " << ece::dbt::describe(s) << "\n";
    }
    if (merged.rebuild_id) {
        std::cout << "rebuilt the stale nodes into environment " << merged.environment << " (build #"
                  << *merged.rebuild_id << ", " << merged.rebuild_status << "):\n"
                  << result.stale.describe();
    }
    code = print_result(result, format);
    if (result.outcome == publish::Outcome::published) {
        if (merged.manifest_id) {
            std::cout << "production state: ece.state_manifests #" << *merged.manifest_id << " (sha "
                      << merged.sha.substr(0, 12) << ")\n";
        }
        if (merged.environment_removed) std::cout << "removed environment " << merged.environment << "\n";
    }
    for (const auto& w : merged.warnings) std::cerr << "warning: " << ece::mask_secrets(w) << "\n";
    return code;
}

int list_command(pqxx::connection& conn, int limit, const std::string& format) {
    auto records = publish::list_publishes(conn, limit);
    if (format == "json") {
        boost::json::array list;
        for (const auto& r : records) list.push_back(publish::to_json(r));
        print_json(list);
        return ece::exit_code::ok;
    }
    if (records.empty()) std::cout << "no publishes yet\n";
    for (const auto& r : records) {
        std::cout << "#" << r.id << "  " << r.kind << "  " << r.status << "  " << r.environment
                  << (r.pr ? "  pr " + std::to_string(*r.pr) : "") << (r.sha.empty() ? "" : "  " + r.sha.substr(0, 12))
                  << "  " << r.relations.size() << " relations  " << r.started_at;
        if (r.duration_ms) std::cout << "  " << *r.duration_ms << " ms";
        if (r.rolls_back) std::cout << "  undoes #" << *r.rolls_back;
        if (r.rolled_back_by) std::cout << "  rolled back by #" << *r.rolled_back_by;
        if (!r.archive_schema.empty()) std::cout << "  archive " << r.archive_schema << (r.archive_dropped ? " (pruned)" : "");
        if (!r.error.empty()) std::cout << "\n    error: " << ece::mask_secrets(r.error);
        std::cout << "\n";
    }
    return ece::exit_code::ok;
}

// Provider digitalocean: no swap; the environment's cluster is resized in place to production's size and becomes
// production (env::publish_by_resize). Prints the plan and the monthly cost before and after.
int publish_digitalocean(ece::env::Environments& environments, const ece::env::Identity& id, bool dry_run,
                         const std::string& format) {
    namespace json = boost::json;
    if (dry_run) {
        auto plan = ece::env::plan_publish_by_resize(environments, id);
        if (format == "json") {
            std::cout << ece::mask_secrets(json::serialize(json::object{
                             {"dry_run", true}, {"name", id.name}, {"provider", "digitalocean"},
                             {"plan", ece::digitalocean::plan_to_json(plan)}}))
                      << "\n";
        } else {
            std::cout << ece::mask_secrets("dry run of publishing " + id.name + " by resize (nothing changes):\n" +
                                           ece::digitalocean::plan_to_text(plan));
        }
        return ece::exit_code::ok;
    }
    auto result = ece::env::publish_by_resize(environments, id);
    if (format == "json") {
        json::array deleted;
        for (const auto& name : result.deleted) deleted.emplace_back(name);
        std::cout << ece::mask_secrets(json::serialize(json::object{
                         {"name", id.name},
                         {"provider", "digitalocean"},
                         {"production", result.production.name},
                         {"size", result.production.size},
                         {"deleted", deleted},
                         {"monthly_before", ece::cost::format_money(result.monthly_before)},
                         {"monthly_after", ece::cost::format_money(result.monthly_after)},
                         {"plan", ece::digitalocean::plan_to_json(result.plan)}}))
                  << "\n";
    } else {
        std::string text = "published " + id.name + ": cluster " + result.production.name + " is production now (" +
                           result.production.size + ")\n";
        for (const auto& name : result.deleted) text += "  deleted the previous production cluster " + name + "\n";
        text += "  monthly cost " + ece::cost::format_money(result.monthly_before) + " -> " +
                ece::cost::format_money(result.monthly_after) + "\n";
        std::cout << ece::mask_secrets(text);
    }
    return ece::exit_code::ok;
}

int run(int argc, char** argv) {
    Common common;
    std::string branch, sha, relations_file, rollback_id, command, manifest_file, project_dir, dbt_executable;
    std::int64_t pr = 0;
    int limit = 50;
    std::string provider;
    po::options_description options("options");
    options.add_options()
        ("help,h", "this help")
        ("version", "print the version")
        ("branch", po::value(&branch), "the merged branch whose environment to publish")
        ("pr", po::value(&pr), "the merged pull request whose environment to publish")
        ("sha", po::value(&sha), "the merged commit (recorded)")
        ("strict", "stop when the environment is stale (lists the nodes)")
        ("rebuild", "when the environment is stale, build what main changed into it first (default)")
        ("manifest", po::value(&manifest_file), "the merged main's manifest.json (default: dbt parse of --project-dir)")
        ("project-dir", po::value(&project_dir), "the checked-out merged main (default: dbt.project_dir of ece.yml)")
        ("dbt", po::value(&dbt_executable), "the dbt executable (default: dbt.executable of ece.yml, else ece's "
                                            "virtual environment, else dbt on PATH)")
        ("keep-environment", "do not remove the environment after publishing")
        ("full-refresh", "publish snapshots and incremental models built from scratch, replacing production's history")
        ("dry-run", "check everything, change nothing")
        ("relations", po::value(&relations_file), "low-level input: JSON file of the built relations (see above)")
        ("rollback", po::value(&rollback_id)->implicit_value(""), "swap publish ID (default: the latest) back")
        ("limit", po::value(&limit), "list: how many publishes")
        ("database-url", po::value(&common.database_url), "admin URL of the production database "
                                                          "(default: $ECE_DATABASE_URL, else the embedded server)")
        ("config", po::value(&common.config_file), "ece.yml (default: ./ece.yml when present)")
        ("provider", po::value(&provider), "postgres | digitalocean (default: environments.provider); "
                                           "digitalocean publishes by resizing the environment's cluster")
        ("format", po::value(&common.format), "text or json");
    ece::cli::Syntax syntax{.program = "ece-publish",
                            .help_before = std::string(usage_text) + "\n",
                            .error_hint = std::string("\n") + usage_text};
    syntax.hidden.add_options()("command", po::value(&command));
    syntax.positional.add("command", 1);
    auto parsed = ece::cli::parse(ece::cli::arguments(argc, argv), options, syntax);
    if (!parsed) return ece::exit_code::ok;  // --help or --version was printed
    const auto& vm = parsed->values;
    ece::cli::require_choice("--format", common.format, {"text", "json"});
    if (!command.empty() && command != "list") {
        throw ece::Error(ece::ErrorKind::usage, "unknown command '" + command + "'\n" + usage_text);
    }
    if (vm.count("strict") && vm.count("rebuild")) {
        throw ece::Error(ece::ErrorKind::usage, "give --strict or --rebuild, not both");
    }
    bool rollback = vm.count("rollback") != 0;
    bool publishing = vm.count("branch") || vm.count("pr");
    if (int modes = (command == "list") + rollback + publishing; modes != 1) {
        throw ece::Error(ece::ErrorKind::usage,
                         std::string(modes == 0 ? "nothing to do" : "give one of --branch/--pr, --rollback, list") +
                             "\n" + usage_text);
    }
    if (vm.count("branch") && vm.count("pr")) throw ece::Error(ece::ErrorKind::usage, "give --branch or --pr, not both");

    auto config = load_config(common);
    if (!provider.empty()) {
        ece::cli::require_choice("--provider", provider, {"postgres", "digitalocean"});
        config.environments.provider = provider;
    }
    auto options_for_run = publish::Options::from(config.publish);
    if (vm.count("strict")) options_for_run.on_stale = publish::OnStale::strict;
    if (vm.count("rebuild")) options_for_run.on_stale = publish::OnStale::rebuild;
    options_for_run.dry_run = vm.count("dry-run") != 0;

    if (!relations_file.empty() && (vm.count("manifest") || vm.count("project-dir"))) {
        throw ece::Error(ece::ErrorKind::usage, "--relations is the low-level form: no --manifest or --project-dir");
    }
    if (sha.empty()) {
        if (const char* github_sha = std::getenv("GITHUB_SHA"); github_sha && *github_sha) sha = github_sha;
    }
    auto settings = ece::env::Settings::resolve(
        common.database_url.empty() ? std::nullopt : std::optional<std::string>(common.database_url), config);
    const auto url = settings.admin_url;
    if (config.environments.provider == "digitalocean") {
        if (!publishing || !relations_file.empty()) {
            throw ece::Error(ece::ErrorKind::usage, "provider digitalocean publishes by resize: give --branch or --pr "
                                                    "(no --relations, --rollback or list)");
        }
        ece::env::Environments environments(settings);
        const auto id = environments.identify(branch, vm.count("pr") ? std::optional<int>(static_cast<int>(pr))
                                                                     : std::nullopt);
        return publish_digitalocean(environments, id, options_for_run.dry_run, common.format);
    }
    if (publishing && relations_file.empty()) {
        publish::PublishTarget target;
        if (vm.count("branch")) target.branch = branch;
        if (vm.count("pr")) target.pr = pr;
        if (!sha.empty()) target.sha = sha;
        publish::MergeOptions merge;
        merge.publish = options_for_run;
        if (!manifest_file.empty()) merge.main_manifest = manifest_file;
        merge.project_dir = project_dir.empty() ? config.dbt.project_dir : fs::path(project_dir);
        merge.vars = config.dbt.vars;
        merge.exclude = config.dbt.exclude;
        try {
            merge.dbt = ece::dbt::find_executable(
                            {{dbt_executable, "--dbt"}, {config.dbt.executable, "ece.yml dbt.executable"}}, config.root)
                            .path;
        } catch (const ece::Error&) {
            // With --manifest dbt runs only for a rebuild, which then names the dbt it could not start.
            if (!merge.main_manifest) throw;
        }
        merge.threads = config.dbt.threads;
        merge.remove_environment = vm.count("keep-environment") == 0;
        merge.full_refresh = vm.count("full-refresh") > 0;
        if (common.format == "text") {
            merge.on_log_line = [](std::string_view line) { std::cout << "  dbt: " << line << "\n"; };
        }
        ece::env::Environments environments(settings);
        return print_merge(publish::publish_merged(url, environments, target, merge), common.format);
    }
    auto conn = ece::pg::connect(url, "publish");
    if (command == "list") return list_command(conn, limit, common.format);
    if (rollback) {
        std::optional<std::int64_t> id;
        if (!rollback_id.empty()) {
            try {
                id = std::stoll(rollback_id);
            } catch (const std::exception&) {
                throw ece::Error(ece::ErrorKind::usage, "--rollback takes a publish id, not '" + rollback_id + "'");
            }
        }
        return print_result(publish::rollback(conn, id, options_for_run), common.format);
    }
    publish::PublishTarget target;
    if (vm.count("branch")) target.branch = branch;
    if (vm.count("pr")) target.pr = pr;
    if (!sha.empty()) target.sha = sha;
    publish::JsonFileSource source(relations_file, config.production.role);
    return print_result(publish::publish(conn, source.load(target), options_for_run), common.format);
}

}  // namespace

int main(int argc, char** argv) {
    return ece::guarded_main("ece-publish", [&] { return run(argc, argv); });
}
