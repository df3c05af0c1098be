#include "env/digitalocean_provider.hpp"

#include "core/error.hpp"
#include "core/secrets.hpp"
#include "digitalocean/health.hpp"
#include "pg/ident.hpp"

#include <boost/json.hpp>

#include <cstdlib>
#include <regex>

namespace ece::env {
namespace {

namespace do_ = ece::digitalocean;

bool is_pr_key(const std::string& key, int* number = nullptr) {
    static const std::regex pattern("pr-([0-9]{1,9})");
    std::smatch match;
    if (!std::regex_match(key, match, pattern)) return false;
    if (number) *number = std::stoi(match[1].str());
    return true;
}

void default_database_setup(const do_::Cluster& cluster, const do_::EnvironmentConnection& as_user,
                            const Identity& id) {
    const std::string doing = "setting up environment " + id.name + " in cluster " + cluster.name;
    if (!cluster.connection || cluster.connection->password.empty()) {
        throw Error(ErrorKind::auth, doing + ": DigitalOcean sent no admin credentials for the cluster; the token "
                                             "needs the database:view_credentials scope");
    }
    try {
        // Databases made through the API belong to doadmin: the user may create schemas only once granted.
        do_::EnvironmentConnection admin = as_user;
        admin.user = cluster.connection->user;
        admin.password = cluster.connection->password;
        auto conn = pg::connect(admin.uri(), "environment setup (admin)");
        pqxx::nontransaction tx(conn);
        tx.exec("GRANT CREATE ON DATABASE " + pg::quote_ident(as_user.database) + " TO " +
                pg::quote_ident(as_user.user));
    } catch (const std::exception& e) {
        throw pg::translate(e, doing);
    }
    try {
        // Created by the user itself, so it owns the schema and everything dbt makes in it.
        auto conn = pg::connect(as_user.uri(), "environment setup");
        pqxx::nontransaction tx(conn);
        tx.exec("CREATE SCHEMA IF NOT EXISTS " + pg::quote_ident(id.base_schema));
    } catch (const std::exception& e) {
        throw pg::translate(e, doing);
    }
}

Status status_of(const do_::Cluster& cluster) {
    return cluster.status == "creating" ? Status::creating : Status::ready;
}

do_::ProviderConfig provider_config(const config::Config& config, const DigitalOceanOptions& options) {
    const auto& d = config.digitalocean;
    do_::ProviderConfig c;
    c.project = config.project;
    c.region = d.region;
    c.version = d.version;
    c.size = d.size;
    c.num_nodes = d.node_count;
    c.production_size = d.production_size;
    c.production_num_nodes = d.node_count;  // publish resizes the machines, not the number of them
    c.trusted_sources = trusted_source_rules(d.trusted_sources);
    c.user_prefix = config.environments.prefix;
    c.ca_dir = config.root / ".ece" / "digitalocean";
    do_::WaitOptions wait;
    wait.timeout = d.online_deadline;
    wait.first_interval = options.first_poll_interval;
    wait.max_interval = options.max_poll_interval;
    c.create_wait = wait;
    c.resize_wait = wait;
    return c;
}

cost::PriceCatalogue prices_for(const config::Config& config, const DigitalOceanOptions& options) {
    if (options.prices) return *options.prices;
    auto file = config.comment.prices;
    if (file.empty()) return cost::load_catalogue(cost::default_catalogue_path());
    return cost::load_catalogue(file.is_absolute() ? file : config.root / file);
}

do_::ApiOptions api_options(const config::Config& config, const DigitalOceanOptions& options) {
    do_::ApiOptions api;
    api.base_url = options.api_url;
    api.token_variable = config.digitalocean.token_env;
    api.token = options.token ? *options.token : do_::token_from_environment(config.digitalocean.token_env);
    api.http.ca_file = options.api_ca_file;
    api.http.allow_plain_http = false;
    if (options.jitter) api.http.jitter = options.jitter;
    api.clock = options.clock;
    return api;
}

}  // namespace

DigitalOceanOptions DigitalOceanOptions::from_environment() {
    DigitalOceanOptions options;
    if (const char* url = std::getenv("DIGITALOCEAN_API_URL"); url && *url) options.api_url = url;
    return options;
}

std::vector<do_::FirewallRule> trusted_source_rules(const std::vector<std::string>& sources) {
    static const std::regex address("[0-9a-fA-F.:]+(/[0-9]{1,3})?");
    static const std::regex typed("(droplet|k8s|tag|app|ip_addr):(.+)");
    std::vector<do_::FirewallRule> rules;
    for (const auto& source : sources) {
        std::smatch match;
        if (std::regex_match(source, match, typed)) {
            rules.push_back({match[1].str(), match[2].str(), "ece"});
        } else if (std::regex_match(source, address) && source.find_first_of(".:") != std::string::npos) {
            rules.push_back({"ip_addr", source, "ece"});
        } else {
            throw Error(ErrorKind::usage,
                        "trusted source \"" + source + "\" is neither an IP address or CIDR nor <type>:<value> with "
                        "type droplet, k8s, tag, app or ip_addr",
                        {.field = "digitalocean.trusted_sources"});
        }
    }
    return rules;
}

std::string digitalocean_key(const Identity& id, std::string_view prefix) {
    if (id.pr) return id.name;  // "pr-12"
    if (!id.base_schema.starts_with(prefix) || id.base_schema.size() == prefix.size()) {
        throw Error(ErrorKind::internal, "environment " + id.name + ": base schema " + id.base_schema +
                                             " does not start with the prefix " + std::string(prefix));
    }
    std::string key = id.base_schema.substr(prefix.size());
    if (key == do_::production_env) {
        throw Error(ErrorKind::usage, "the branch " + id.branch + " would be tagged like production's cluster (" +
                                          do_::env_tag_prefix + key + "); use a pull request (--pr) or another branch");
    }
    return key;
}

DigitalOceanProvider::DigitalOceanProvider(const config::Config& config, DigitalOceanOptions options)
    : config_(config), options_(std::move(options)) {
    api_ = std::make_unique<do_::Api>(api_options(config_, options_));
    cloud_ = std::make_unique<do_::Provider>(*api_, provider_config(config_, options_), prices_for(config_, options_));
}

DigitalOceanProvider::~DigitalOceanProvider() = default;

std::string DigitalOceanProvider::key(const Identity& id) const {
    return digitalocean_key(id, config_.environments.prefix);
}

Credentials DigitalOceanProvider::credentials_of(const do_::EnvironmentConnection& c, const Identity& id) const {
    Credentials credentials;
    credentials.host = c.host;
    credentials.port = std::to_string(c.port);
    credentials.dbname = c.database;
    credentials.user = c.user;
    credentials.password = c.password;
    if (!c.password.empty()) register_secret(c.password);
    credentials.schema = id.base_schema;
    credentials.options["sslmode"] = c.sslmode;
    if (!c.sslrootcert.empty()) {
        credentials.options["sslrootcert"] = std::filesystem::absolute(c.sslrootcert).string();
    }
    return credentials;
}

Credentials DigitalOceanProvider::up(pqxx::connection_base*, const Identity& id) {
    auto environment = cloud_->up(key(id));
    const auto& setup = options_.database_setup ? *options_.database_setup : ClusterDatabaseSetup(default_database_setup);
    setup(environment.cluster, environment.connection, id);
    return credentials_of(environment.connection, id);
}

void DigitalOceanProvider::down(pqxx::connection_base*, const Identity& id) { cloud_->down(key(id)); }

Credentials DigitalOceanProvider::issue_credentials(pqxx::connection_base*, const Identity& id) {
    return credentials_of(cloud_->connect(key(id)).connection, id);
}

Credentials DigitalOceanProvider::connection_facts(const Identity& id) const {
    const std::string env = id.name.empty() ? std::string(do_::production_env) : key(id);
    auto facts = cloud_->connection_facts(env);
    if (!facts) {
        // Not up (or no production cluster yet): what is known without a cluster.
        Credentials c;
        c.port = "25060";
        c.dbname = cloud_->config().database;
        c.user = id.role;
        c.schema = id.base_schema;
        c.options["sslmode"] = "verify-full";
        return c;
    }
    return credentials_of(*facts, id);
}

std::vector<std::string> DigitalOceanProvider::list(pqxx::connection_base*) {
    std::vector<std::string> roles;
    for (const auto& record : discover()) roles.push_back(record.role_name);
    return roles;
}

std::map<std::string, Usage> DigitalOceanProvider::usage(pqxx::connection_base*, const std::vector<std::string>&) {
    return {};
}

ChangePlan DigitalOceanProvider::plan_up(pqxx::connection_base*, const Identity& id) { return cloud_->plan_up(key(id)); }

ChangePlan DigitalOceanProvider::plan_down(pqxx::connection_base*, const Identity& id) {
    return cloud_->plan_down(key(id));
}

std::vector<Record> DigitalOceanProvider::discover() {
    const std::string& prefix = config_.environments.prefix;
    std::vector<Record> records;
    for (const auto& summary : cloud_->list(false)) {
        const auto& cluster = summary.cluster;
        if (summary.env.empty() || summary.env == do_::production_env ||
            cluster.has_tag(std::string(do_::env_tag_prefix) + do_::production_env)) {
            continue;
        }
        Record r;
        int number = 0;
        r.name = summary.env;
        if (is_pr_key(summary.env, &number)) {
            r.pr = number;
            r.base_schema = prefix + "pr_" + std::to_string(number);
        } else {
            r.base_schema = prefix + summary.env;  // the branch itself is not in the tags, only its key
        }
        r.role_name = r.base_schema;
        r.provider = kind();
        r.status = status_of(cluster);
        r.schemas = {r.base_schema};
        r.created_at = do_::parse_timestamp(cluster.created_at).value_or(Clock::now());
        r.updated_at = r.created_at;
        r.expires_at = do_::expiry_of(cluster);
        boost::json::object details{{"cluster", cluster.name},     {"cluster_id", cluster.id},
                                    {"size", cluster.size},        {"num_nodes", cluster.num_nodes},
                                    {"region", cluster.region},    {"cluster_status", cluster.status},
                                    {"found_by", "tags"}};
        if (summary.cost) {
            details["monthly"] = cost::format_money(summary.cost->monthly_rate);
            details["cost_so_far"] = cost::format_money(summary.cost->so_far);
        }
        r.details = boost::json::serialize(details);
        records.push_back(std::move(r));
    }
    return records;
}

void DigitalOceanProvider::renew(const Identity& id, Clock::time_point expires_at) {
    if (auto cluster = cloud_->find(key(id))) cloud_->set_expiry(*cluster, expires_at);
}

ChangePlan DigitalOceanProvider::plan_publish(const Identity& id) { return cloud_->plan_publish(key(id)); }

do_::PublishResult DigitalOceanProvider::publish(const Identity& id) {
    const auto& check = options_.health_check ? *options_.health_check : do_::select_one_health_check();
    return cloud_->publish(key(id), check);
}

std::unique_ptr<Provider> make_digitalocean_provider(const config::Config& config, DigitalOceanOptions options) {
    return std::make_unique<DigitalOceanProvider>(config, std::move(options));
}

}  // namespace ece::env
