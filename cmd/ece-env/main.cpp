// ece-env: an isolated database environment per branch. Parses arguments, calls lib/env, prints.
#include "actions/commands.hpp"
#include "actions/context.hpp"
#include "actions/files.hpp"
#include "config/config.hpp"
#include "core/cli.hpp"
#include "core/error.hpp"
#include "core/main.hpp"
#include "core/secrets.hpp"
#include "cost/money.hpp"
#include "digitalocean/provider.hpp"
#include "env/digitalocean_publish.hpp"
#include "env/environments.hpp"
#include "github/client.hpp"
#include "env/hints.hpp"
#include "pg/embedded.hpp"

#include <boost/json.hpp>
#include <boost/program_options.hpp>

#include <cstdlib>
#include <iostream>
#include <sstream>

namespace po = boost::program_options;
namespace json = boost::json;
using namespace ece;

namespace {

constexpr const char* program = "ece-env";

constexpr const char* usage_text = R"(Usage: ece-env [options] <command> [command options]

An isolated PostgreSQL environment per branch or pull request: schemas + a login role on a server (provider
postgres), or a managed DigitalOcean cluster of its own (provider digitalocean).

Commands:
  up --branch B [--pr N] [--sha S] [--ttl 72h] [--show-password] [--dry-run]
                      create or repair the environment, with a new password; prints the connection facts
                      (--dry-run: what would be created and its monthly cost; nothing changes)
  down (--branch B | --pr N) [--dry-run]
                      remove everything the environment owns (its catalog row stays, status destroyed)
  publish --branch B [--pr N] [--dry-run]
                      provider digitalocean: resize the environment's cluster to production's size, tag it
                      production, delete the previous production cluster once the new one is healthy
  list                every environment: branch, pull request, age, size on disk, status
  gc [--dry-run]      remove environments past their expiry, and with GITHUB_TOKEN and GITHUB_REPOSITORY
                      those whose pull request is closed
  hints --branch B [--pr N] [--show-password]
                      copy-paste psql, pg_activity and dbt commands (--show-password issues a new password;
                      never shown when GITHUB_ACTIONS=true)
  profiles --branch B [--pr N] --out DIR
                      write DIR/profiles.yml: the environment's target and production's, passwords from
                      ECE_ENV_PASSWORD / ECE_PROD_PASSWORD
  stop-server         stop the embedded PostgreSQL server (.ece/pg)

Without --database-url (or the variable ece.yml's server.database_url_env names, ECE_DATABASE_URL by default)
everything runs on ece's embedded server, which is started when needed; on provider digitalocean there is then no
catalog at all and the clusters' tags are the only state.

Provider digitalocean reads the API token from DIGITALOCEAN_TOKEN (digitalocean.token_env), the API from
--digitalocean-api-url or DIGITALOCEAN_API_URL.
)";

enum class Format { text, json };

struct Global {
    Format format = Format::text;
    std::optional<std::string> database_url;
    std::optional<std::string> config_file;
    std::optional<std::string> provider;
    std::optional<std::string> digitalocean_api_url;
    std::optional<std::string> digitalocean_ca_file;
};

constexpr const char* see_help = " (see ece-env --help)";

int usage_error(const std::string& message) { throw Error(ErrorKind::usage, message + see_help); }

// A command's own arguments; it has no --help of its own (ece-env --help lists every command's).
po::variables_map parse(const std::vector<std::string>& args, const po::options_description& options) {
    return cli::parse(args, options, {.error_hint = see_help})->values;
}

config::Config load_config(const Global& global) {
    auto config = config::load_for_command(global.config_file);
    if (global.provider) config.environments.provider = *global.provider;
    return config;
}

env::Settings settings_for(const Global& global, const config::Config& config) {
    auto settings = env::Settings::resolve(global.database_url, config);
    if (config.environments.provider == "digitalocean") {
        auto options = env::DigitalOceanOptions::from_environment();
        if (global.digitalocean_api_url) options.api_url = *global.digitalocean_api_url;
        if (global.digitalocean_ca_file) options.api_ca_file = std::filesystem::path(*global.digitalocean_ca_file);
        settings.digitalocean = std::move(options);
    }
    return settings;
}


// Printed text never holds a registered secret, except a password the user asked for (reveal).
void print(const std::string& text, bool reveal = false) { std::cout << (reveal ? text : mask_secrets(text)); }

void print_json(const json::value& value, bool reveal = false) { print(json::serialize(value) + "\n", reveal); }

// Control characters of a hostile branch name would break the table; shown as '?'.
std::string printable(std::string_view text) {
    std::string out;
    for (char c : text) out.push_back(static_cast<unsigned char>(c) < 0x20 || c == 0x7f ? '?' : c);
    return out;
}

std::string human_bytes(std::int64_t bytes) {
    const char* units[] = {"B", "kB", "MB", "GB", "TB"};
    double value = static_cast<double>(bytes);
    int unit = 0;
    while (value >= 1024 && unit < 4) {
        value /= 1024;
        ++unit;
    }
    std::ostringstream out;
    out.precision(unit == 0 ? 0 : 1);
    out << std::fixed << value << " " << units[unit];
    return out.str();
}

std::string human_age(env::Clock::duration age) {
    auto minutes = std::chrono::duration_cast<std::chrono::minutes>(age).count();
    if (minutes < 60) return std::to_string(std::max<long long>(0, minutes)) + "m";
    if (minutes < 48 * 60) return std::to_string(minutes / 60) + "h" + std::to_string(minutes % 60) + "m";
    return std::to_string(minutes / (24 * 60)) + "d" + std::to_string(minutes / 60 % 24) + "h";
}

json::value optional_time(const std::optional<env::Clock::time_point>& t) {
    return t ? json::value(env::format_time(*t)) : json::value(nullptr);
}

// Provider-specific facts (a DigitalOcean cluster's name, size, monthly price); null when there are none.
json::value details_json(const std::string& text) {
    boost::system::error_code ec;
    auto value = json::parse(text, ec);
    return ec ? json::value(nullptr) : value;
}

json::object record_json(const env::Record& r) {
    json::array schemas;
    for (const auto& s : r.schemas) schemas.emplace_back(s);
    return json::object{
        {"name", r.name},
        {"branch", r.branch},
        {"pr", r.pr ? json::value(*r.pr) : json::value(nullptr)},
        {"head_sha", r.head_sha},
        {"provider", r.provider},
        {"status", env::to_string(r.status)},
        {"schema", r.base_schema},
        {"role", r.role_name},
        {"schemas", schemas},
        {"created_at", env::format_time(r.created_at)},
        {"updated_at", env::format_time(r.updated_at)},
        {"expires_at", optional_time(r.expires_at)},
        {"destroyed_at", optional_time(r.destroyed_at)},
        {"bytes", r.bytes ? json::value(*r.bytes) : json::value(nullptr)},
        {"details", details_json(r.details)},
    };
}

// In GitHub Actions: the password and URL are masked in the log before anything prints, and the connection facts
// become step outputs (the credentials through set_secret, so later steps can use them).
void publish_to_github_actions(const env::UpResult& result) {
    if (!actions::read_context().in_actions) return;
    const auto& c = result.credentials;
    actions::Commands commands;
    commands.add_mask(c.password);
    commands.add_mask(c.url());
    auto outputs = actions::Outputs::from_env();
    outputs.set("env-name", result.record.name);
    outputs.set("schema", c.schema);
    outputs.set("host", c.host);
    outputs.set("port", c.port);
    outputs.set("user", c.user);
    outputs.set_secret("password", c.password, commands);
    outputs.set_secret("database-url", c.url(), commands);
}

// A dry run's plan: one line per change and the monthly cost, or JSON for the comment's environment plan lines.
int print_plan(const Global& global, const std::string& command, const env::Identity& id, const env::ChangePlan& plan) {
    if (global.format == Format::json) {
        print_json(json::object{{"dry_run", true}, {"command", command}, {"name", id.name},
                                {"plan", digitalocean::plan_to_json(plan)}});
    } else {
        print("dry run of " + command + " " + printable(id.name) + " (nothing changes):\n" +
              digitalocean::plan_to_text(plan));
    }
    return exit_code::ok;
}

struct Selector {
    std::string branch;
    std::optional<int> pr;
};

void add_selector(po::options_description& options) {
    options.add_options()("branch", po::value<std::string>(), "the branch")(
        "pr", po::value<int>(), "the pull request number (the environment is then pr-<N>)");
}

Selector selector_of(const po::variables_map& vm, bool branch_required) {
    Selector s{cli::value<std::string>(vm, "branch").value_or(""), cli::value<int>(vm, "pr")};
    if (branch_required && s.branch.empty()) usage_error("--branch is required");
    if (s.branch.empty() && !s.pr) usage_error("--branch or --pr is required");
    return s;
}

struct Selected {
    po::variables_map vm;
    Selector selector;
};

// A command's arguments with --branch and --pr added to its options, and the environment they name.
Selected parse_selected(const std::vector<std::string>& args, po::options_description& options, bool branch_required) {
    add_selector(options);
    auto vm = parse(args, options);
    return {vm, selector_of(vm, branch_required)};
}

// The environments as ece.yml (and --config, --provider, --database-url) configure them.
env::Environments environments_for(const Global& global) {
    return env::Environments(settings_for(global, load_config(global)));
}

int command_up(const Global& global, const std::vector<std::string>& args) {
    po::options_description options("up options");
    options.add_options()("sha", po::value<std::string>(), "the head commit")(
        "ttl", po::value<std::string>(), "time to live, e.g. 72h (default: environments.ttl)")(
        "show-password", po::bool_switch(), "print the password in text output")(
        "dry-run", po::bool_switch(), "only say what would be created and what it costs a month");
    auto [vm, selector] = parse_selected(args, options, true);
    env::UpRequest request{selector.branch, selector.pr, cli::value<std::string>(vm, "sha").value_or(""), {}};
    if (auto ttl = cli::value<std::string>(vm, "ttl")) request.ttl = config::parse_duration(*ttl);
    auto environments = environments_for(global);
    if (vm["dry-run"].as<bool>()) {
        auto id = environments.identify(selector.branch, selector.pr);
        return print_plan(global, "up", id, environments.plan_up(id));
    }
    auto result = environments.up(request);
    const auto& c = result.credentials;
    publish_to_github_actions(result);
    if (global.format == Format::json) {
        auto out = record_json(result.record);
        out["created"] = result.created;
        out["host"] = c.host;
        out["port"] = c.port;
        out["database"] = c.dbname;
        out["user"] = c.user;
        out["password"] = c.password;
        out["database_url"] = c.url();
        print_json(out, true);
        return exit_code::ok;
    }
    const bool reveal = env::password_may_be_shown(vm["show-password"].as<bool>());
    std::ostringstream out;
    out << "environment " << printable(result.record.name) << " is up ("
        << (result.created ? "created" : "existed; repaired where needed, new password") << ")\n"
        << "  branch    " << printable(result.record.branch) << "\n"
        << "  schema    " << c.schema << "\n"
        << "  host      " << c.host << "\n"
        << "  port      " << c.port << "\n"
        << "  database  " << c.dbname << "\n"
        << "  user      " << c.user << "\n";
    if (auto ca = c.options.find("sslrootcert"); ca != c.options.end()) {
        out << "  tls       " << c.options.at("sslmode") << " against " << ca->second << "\n";
    }
    out << "  password  " << (reveal ? c.password : std::string("*** (--show-password prints it)")) << "\n"
        << "  url       " << (reveal ? c.url() : c.masked_url()) << "\n"
        << "  expires   " << (result.record.expires_at ? env::format_time(*result.record.expires_at) : "never") << "\n";
    print(out.str(), reveal);
    return exit_code::ok;
}

int command_down(const Global& global, const std::vector<std::string>& args) {
    po::options_description options("down options");
    options.add_options()("dry-run", po::bool_switch(), "only say what would be deleted");
    auto [vm, selector] = parse_selected(args, options, false);
    auto environments = environments_for(global);
    if (vm["dry-run"].as<bool>()) {
        auto id = environments.identify(selector.branch, selector.pr);
        return print_plan(global, "down", id, environments.plan_down(id));
    }
    auto result = environments.down(environments.identify(selector.branch, selector.pr));
    if (global.format == Format::json) {
        print_json(json::object{{"name", result.identity.name}, {"removed", result.existed}});
    } else {
        print("environment " + printable(result.identity.name) +
              (result.existed ? " removed\n" : ": nothing to remove\n"));
    }
    return exit_code::ok;
}

int command_publish(const Global& global, const std::vector<std::string>& args) {
    po::options_description options("publish options");
    options.add_options()("dry-run", po::bool_switch(), "only say what would be resized and deleted");
    auto [vm, selector] = parse_selected(args, options, false);
    auto environments = environments_for(global);
    auto id = environments.identify(selector.branch, selector.pr);
    if (vm["dry-run"].as<bool>()) return print_plan(global, "publish", id, env::plan_publish_by_resize(environments, id));
    auto result = env::publish_by_resize(environments, id);
    if (global.format == Format::json) {
        json::array deleted;
        for (const auto& name : result.deleted) deleted.emplace_back(name);
        print_json(json::object{{"name", id.name},
                                {"production", result.production.name},
                                {"size", result.production.size},
                                {"deleted", deleted},
                                {"monthly_before", cost::format_money(result.monthly_before)},
                                {"monthly_after", cost::format_money(result.monthly_after)},
                                {"plan", digitalocean::plan_to_json(result.plan)}});
        return exit_code::ok;
    }
    std::ostringstream out;
    out << "published " << printable(id.name) << ": cluster " << result.production.name << " is production now ("
        << result.production.size << ")\n";
    for (const auto& name : result.deleted) out << "  deleted the previous production cluster " << name << "\n";
    out << "  monthly cost " << cost::format_money(result.monthly_before) << " -> "
        << cost::format_money(result.monthly_after) << " ("
        << cost::format_money_change(result.monthly_after - result.monthly_before) << ")\n";
    print(out.str());
    return exit_code::ok;
}

int command_list(const Global& global, const std::vector<std::string>& args) {
    po::options_description options("list options");
    parse(args, options);
    auto environments = environments_for(global);
    auto listed = environments.list();
    const auto now = env::Clock::now();
    if (global.format == Format::json) {
        json::array out;
        for (const auto& item : listed) {
            auto o = record_json(item.record);
            o["current_bytes"] = item.usage ? json::value(item.usage->bytes) : json::value(nullptr);
            o["relations"] = item.usage ? json::value(item.usage->relations) : json::value(nullptr);
            out.push_back(std::move(o));
        }
        print_json(out);
        return exit_code::ok;
    }
    std::ostringstream out;
    out << "NAME\tBRANCH\tPR\tSTATUS\tAGE\tSIZE\tEXPIRES\n";
    for (const auto& item : listed) {
        const auto& r = item.record;
        out << printable(r.name) << "\t" << printable(r.branch) << "\t" << (r.pr ? std::to_string(*r.pr) : "-") << "\t"
            << env::to_string(r.status) << "\t" << human_age(now - r.created_at) << "\t"
            << (item.usage ? human_bytes(item.usage->bytes) : "-") << "\t"
            << (r.expires_at && r.status != env::Status::destroyed ? env::format_time(*r.expires_at) : "-") << "\n";
    }
    if (listed.empty()) out << "(no environments)\n";
    print(out.str());
    return exit_code::ok;
}

int command_gc(const Global& global, const std::vector<std::string>& args) {
    po::options_description options("gc options");
    options.add_options()("dry-run", po::bool_switch(), "only say what would be removed");
    auto vm = parse(args, options);
    auto environments = environments_for(global);
    // With GITHUB_TOKEN and GITHUB_REPOSITORY, environments of closed pull requests go too, not only expired ones.
    env::GcOptions gc{vm["dry-run"].as<bool>(), github::open_pull_request_numbers_from_environment()};
    auto items = environments.gc(gc);
    if (global.format == Format::json) {
        json::array out;
        for (const auto& item : items) {
            out.push_back(json::object{{"name", item.record.name}, {"reason", item.reason}, {"removed", item.removed}});
        }
        print_json(json::object{{"dry_run", gc.dry_run}, {"environments", out}});
        return exit_code::ok;
    }
    std::ostringstream out;
    for (const auto& item : items) {
        out << (gc.dry_run ? "would remove " : item.removed ? "removed " : "kept (renewed meanwhile) ")
            << printable(item.record.name) << ": " << item.reason << "\n";
    }
    if (items.empty()) out << "nothing to collect\n";
    print(out.str());
    return exit_code::ok;
}

int command_hints(const Global& global, const std::vector<std::string>& args) {
    po::options_description options("hints options");
    options.add_options()("show-password", po::bool_switch(), "issue a new password and show it");
    auto [vm, selector] = parse_selected(args, options, false);
    auto environments = environments_for(global);
    auto id = environments.identify(selector.branch, selector.pr);
    auto record = environments.find(id);
    if (!record || record->status != env::Status::ready) {
        throw Error(ErrorKind::conflict, "environment " + id.name + " is not up; run ece-env up first");
    }
    if (id.branch.empty()) id.branch = record->branch;
    const bool reveal = env::password_may_be_shown(vm["show-password"].as<bool>());
    auto credentials = reveal ? environments.issue_credentials(id) : environments.connection_facts(id);
    auto text = env::hints(id, credentials, environments.config());
    if (global.format == Format::json) {
        print_json(json::object{{"name", id.name}, {"hints", text}}, reveal);
    } else {
        print(text, reveal);
    }
    return exit_code::ok;
}

int command_profiles(const Global& global, const std::vector<std::string>& args) {
    po::options_description options("profiles options");
    options.add_options()("out", po::value<std::string>()->required(), "directory for profiles.yml");
    auto [vm, selector] = parse_selected(args, options, false);
    auto environments = environments_for(global);
    auto id = environments.identify(selector.branch, selector.pr);
    const auto& config = environments.config();
    auto yaml = env::profiles_yaml(environments.connection_facts(id), environments.production_facts(), config);
    auto path = env::write_profiles(vm["out"].as<std::string>(), yaml);
    if (global.format == Format::json) {
        print_json(json::object{{"name", id.name}, {"profiles", path.string()}, {"target", config.dbt.target}});
    } else {
        print("wrote " + path.string() + " (targets " + config.dbt.target + " and " + env::production_target +
              "; set " + env::env_password_variable + " and " + env::prod_password_variable + ")\n");
    }
    return exit_code::ok;
}

int command_stop_server(const Global& global, const std::vector<std::string>& args) {
    po::options_description options("stop-server options");
    parse(args, options);
    pg::stop_embedded(pg::default_embedded_dir());
    if (global.format == Format::json) {
        print_json(json::object{{"stopped", pg::default_embedded_dir().string()}});
    } else {
        print("stopped the embedded server in " + pg::default_embedded_dir().string() + "\n");
    }
    return exit_code::ok;
}

int run(int argc, char** argv) {
    po::options_description visible("Options");
    visible.add_options()("help,h", "show this help")("version", "show the version")(
        "format", po::value<std::string>()->default_value("text"), "text | json")(
        "database-url", po::value<std::string>(), "admin URL of the production database (a secret)")(
        "config", po::value<std::string>(), "ece.yml to read (default: ./ece.yml when present)")(
        "provider", po::value<std::string>(), "postgres | digitalocean (default: environments.provider)")(
        "digitalocean-api-url", po::value<std::string>(), "the DigitalOcean API (default: DIGITALOCEAN_API_URL, else "
                                                           "https://api.digitalocean.com)")(
        "digitalocean-ca-file", po::value<std::string>(), "an extra CA certificate to trust for the API's TLS");
    auto parsed = cli::parse(cli::arguments(argc, argv), visible,
                             {.program = program,
                              .help_before = std::string(usage_text) + "\n",
                              .error_hint = see_help,
                              .command_first = true});
    if (!parsed) return exit_code::ok;  // --help or --version was printed
    const auto& vm = parsed->values;
    Global global;
    const auto format = vm["format"].as<std::string>();
    cli::require_choice("--format", format, {"text", "json"}, see_help);
    if (format == "json") global.format = Format::json;
    global.database_url = cli::value<std::string>(vm, "database-url");
    global.config_file = cli::value<std::string>(vm, "config");
    global.provider = cli::value<std::string>(vm, "provider");
    if (global.provider) cli::require_choice("--provider", *global.provider, {"postgres", "digitalocean"}, see_help);
    global.digitalocean_api_url = cli::value<std::string>(vm, "digitalocean-api-url");
    global.digitalocean_ca_file = cli::value<std::string>(vm, "digitalocean-ca-file");

    // Everything after the command, in order, including options only the command knows.
    auto with_global = [&global](int (*command)(const Global&, const std::vector<std::string>&)) {
        return [&global, command](const std::vector<std::string>& args) { return command(global, args); };
    };
    return cli::dispatch(parsed->command, parsed->rest,
                         {{"up", with_global(command_up)},
                          {"down", with_global(command_down)},
                          {"publish", with_global(command_publish)},
                          {"list", with_global(command_list)},
                          {"gc", with_global(command_gc)},
                          {"hints", with_global(command_hints)},
                          {"profiles", with_global(command_profiles)},
                          {"stop-server", with_global(command_stop_server)}},
                         see_help);
}

}  // namespace

int main(int argc, char** argv) {
    return guarded_main(program, [&] { return run(argc, argv); });
}
