#include "digitalocean/provider.hpp"

#include "core/error.hpp"
#include "core/secrets.hpp"
#include "http/url.hpp"

#include <boost/json.hpp>

#include <openssl/evp.h>

#include <algorithm>
#include <cctype>
#include <ctime>

namespace ece::digitalocean {

namespace {

std::string short_hash(const std::string& text) {
    unsigned char digest[EVP_MAX_MD_SIZE];
    unsigned int length = 0;
    EVP_Digest(text.data(), text.size(), digest, &length, EVP_sha256(), nullptr);
    static const char* hex = "0123456789abcdef";
    std::string out;
    for (unsigned i = 0; i < 3 && i < length; ++i) {
        out += hex[digest[i] >> 4];
        out += hex[digest[i] & 15];
    }
    return out;
}

std::string plural_nodes(int n) { return std::to_string(n) + (n == 1 ? " node" : " nodes"); }

std::string shape(const std::string& size, int nodes) { return size + " x " + plural_nodes(nodes); }

bool older(const Cluster& a, const Cluster& b) {
    return a.created_at != b.created_at ? a.created_at < b.created_at : a.id < b.id;
}

}  // namespace

std::optional<std::chrono::system_clock::time_point> parse_timestamp(const std::string& text) {
    std::tm tm{};
    const char* end = strptime(text.c_str(), "%Y-%m-%dT%H:%M:%S", &tm);
    if (!end) return std::nullopt;
    return std::chrono::system_clock::from_time_t(timegm(&tm));
}

std::string EnvironmentConnection::uri() const {
    // The host is encoded too, so a socket directory (tests, local servers) works as libpq expects.
    auto text = "postgresql://" + http::percent_encode(user) + ":" + http::percent_encode(password) + "@" +
                http::percent_encode(host) + ":" + std::to_string(port) + "/" + http::percent_encode(database) +
                "?sslmode=" + sslmode;
    if (!sslrootcert.empty()) text += "&sslrootcert=" + http::percent_encode(sslrootcert.string());
    register_secret(text);
    return text;
}

Provider::Provider(Api& api, ProviderConfig config, cost::PriceCatalogue prices)
    : api_(api), config_(std::move(config)), prices_(std::move(prices)) {
    if (config_.project.empty()) throw Error(ErrorKind::usage, "the DigitalOcean provider needs a project name");
}

std::string Provider::cluster_name(const std::string& env) const {
    // Cluster names: lower-case letters, digits and '-', at most 63 characters, unique in the account.
    std::string raw = "ece-" + config_.project + "-" + env;
    std::string name;
    for (unsigned char c : raw) {
        char out = std::isalnum(c) ? static_cast<char>(std::tolower(c)) : '-';
        if (out == '-' && !name.empty() && name.back() == '-') continue;
        name += out;
    }
    while (name.ends_with('-')) name.pop_back();
    if (name.size() > 63) name = name.substr(0, 56) + "-" + short_hash(raw);
    return name;
}

std::string Provider::user_name(const std::string& env) const {
    std::string name = config_.user_prefix;
    for (unsigned char c : env) name += std::isalnum(c) ? static_cast<char>(std::tolower(c)) : '_';
    return name;
}

std::optional<cost::Money> Provider::monthly(const std::string& size, int nodes) const {
    try {
        return prices_.do_database_cluster_monthly(size, nodes);
    } catch (const Error&) {
        return std::nullopt;  // a size the catalogue does not know: shown unpriced, not an error
    }
}

void Provider::validate_new_cluster() {
    auto options = validate_size(config_.size, config_.num_nodes, "branch clusters");
    auto offered = [](const std::vector<std::string>& list) {
        std::string text;
        for (const auto& item : list) text += (text.empty() ? "" : ", ") + item;
        return text;
    };
    auto listed = [](const std::vector<std::string>& list, const std::string& item) {
        return list.empty() || std::find(list.begin(), list.end(), item) != list.end();
    };
    if (!listed(options.regions, config_.region)) {
        throw Error(ErrorKind::usage, "region " + config_.region + " offers no DigitalOcean PostgreSQL clusters; regions: " +
                                          offered(options.regions),
                    {.field = "region"});
    }
    if (!config_.version.empty() && !listed(options.versions, config_.version)) {
        throw Error(ErrorKind::usage, "PostgreSQL " + config_.version + " is not offered by DigitalOcean; versions: " +
                                          offered(options.versions),
                    {.field = "version"});
    }
}

EngineOptions Provider::validate_size(const std::string& size, int nodes, const std::string& what) {
    auto options = api_.engine_options("pg");
    if (options.offers(size, nodes)) return options;
    std::string offered;
    auto it = options.sizes_by_nodes.find(nodes);
    for (const auto& s : it == options.sizes_by_nodes.end() ? options.all_sizes() : it->second) {
        offered += (offered.empty() ? "" : ", ") + s;
    }
    throw Error(ErrorKind::usage,
                "size " + size + " with " + plural_nodes(nodes) + " is not offered by DigitalOcean for PostgreSQL (" +
                    what + "; DigitalOcean would answer 422); offered" +
                    (it == options.sizes_by_nodes.end() ? "" : " for " + plural_nodes(nodes)) + ": " + offered,
                {.field = "size"});
}

std::vector<Cluster> Provider::clusters_of(const std::string& env) {
    auto clusters = api_.list_clusters(env_tag(env));
    std::erase_if(clusters, [&](const Cluster& c) { return !c.has_tag(base_tag) || !c.has_tag(project_tag()); });
    std::sort(clusters.begin(), clusters.end(), older);
    return clusters;
}

std::optional<Cluster> Provider::find(const std::string& env) {
    auto clusters = clusters_of(env);
    if (clusters.empty()) return std::nullopt;
    // Two production clusters exist only while a publish runs (or was cut short): the newer one was published.
    return env == production_env ? clusters.back() : clusters.front();
}

Plan Provider::plan_up(const std::string& env) {
    Plan plan;
    if (auto existing = find(env)) {
        auto m = monthly(existing->size, existing->num_nodes);
        plan.changes.push_back({"reuse", existing->name,
                                shape(existing->size, existing->num_nodes) + " in " + existing->region + " (" +
                                    existing->status + ")",
                                m, m});
    } else {
        validate_new_cluster();
        plan.changes.push_back({"create", cluster_name(env),
                                "PostgreSQL " + config_.version + ", " + shape(config_.size, config_.num_nodes) +
                                    " in " + config_.region,
                                std::nullopt, monthly(config_.size, config_.num_nodes)});
    }
    for (const auto& c : plan.changes) {
        plan.monthly_before += c.monthly_before.value_or(cost::Money{});
        plan.monthly_after += c.monthly_after.value_or(cost::Money{});
    }
    return plan;
}

std::optional<Cluster> Provider::publish_source(const std::string& env) {
    if (auto branch = find(env)) return branch;
    auto production = find(production_env);
    if (production && production->name == cluster_name(env)) return production;
    return std::nullopt;
}

Plan Provider::plan_publish(const std::string& env) {
    if (env == production_env) throw Error(ErrorKind::usage, "production cannot be published onto itself");
    auto branch = publish_source(env);
    if (!branch) {
        throw Error(ErrorKind::conflict, "environment " + env + " has no DigitalOcean cluster (no cluster tagged " +
                                             env_tag(env) + " and " + project_tag() + ")");
    }
    validate_size(config_.production_size, config_.production_num_nodes, "production");
    Plan plan;
    auto before = monthly(branch->size, branch->num_nodes);
    auto after = monthly(config_.production_size, config_.production_num_nodes);
    if (branch->size != config_.production_size || branch->num_nodes != config_.production_num_nodes) {
        plan.changes.push_back({"resize", branch->name,
                                shape(branch->size, branch->num_nodes) + " -> " +
                                    shape(config_.production_size, config_.production_num_nodes),
                                before, after});
    } else {
        plan.changes.push_back({"keep", branch->name, shape(branch->size, branch->num_nodes), before, after});
    }
    plan.changes.push_back({"retag", branch->name, env_tag(env) + " -> " + env_tag(production_env), {}, {}});
    for (const auto& old : clusters_of(production_env)) {
        if (old.id == branch->id) continue;
        plan.changes.push_back({"delete", old.name, "previous production, " + shape(old.size, old.num_nodes),
                                monthly(old.size, old.num_nodes), std::nullopt});
    }
    for (const auto& c : plan.changes) {
        plan.monthly_before += c.monthly_before.value_or(cost::Money{});
        plan.monthly_after += c.monthly_after.value_or(cost::Money{});
    }
    return plan;
}

Plan Provider::plan_down(const std::string& env) {
    Plan plan;
    for (const auto& cluster : clusters_of(env)) {
        if (cluster.has_tag(env_tag(production_env))) continue;
        auto m = monthly(cluster.size, cluster.num_nodes);
        plan.changes.push_back({"delete", cluster.name, shape(cluster.size, cluster.num_nodes), m, std::nullopt});
        plan.monthly_before += m.value_or(cost::Money{});
    }
    return plan;
}

EnvironmentConnection Provider::prepare(const Cluster& cluster, const std::string& env, bool rotate) {
    if (!config_.trusted_sources.empty()) {
        auto current = api_.firewall_rules(cluster.id);
        auto same = [](const FirewallRule& a, const FirewallRule& b) { return a.type == b.type && a.value == b.value; };
        bool equal = current.size() == config_.trusted_sources.size() &&
                     std::is_permutation(current.begin(), current.end(), config_.trusted_sources.begin(), same);
        if (!equal) api_.set_firewall_rules(cluster.id, config_.trusted_sources);
    }
    if (std::find(cluster.db_names.begin(), cluster.db_names.end(), config_.database) == cluster.db_names.end()) {
        auto names = api_.list_databases(cluster.id);  // db_names may lag behind; ask before creating
        if (std::find(names.begin(), names.end(), config_.database) == names.end()) {
            api_.create_database(cluster.id, config_.database);
        }
    }
    auto user_name_ = user_name(env);
    auto user = api_.find_user(cluster.id, user_name_);
    if (!user) {
        user = api_.create_user(cluster.id, user_name_);
    } else if (rotate) {
        // Whoever ran up before may have printed or lost the old password: every up hands out a new one.
        user = api_.reset_user_password(cluster.id, user_name_);
    }

    EnvironmentConnection c = facts_of(cluster, env);
    c.password = user->password;
    register_secret(c.password);
    return c;
}

EnvironmentConnection Provider::facts_of(const Cluster& cluster, const std::string& env) {
    EnvironmentConnection c;
    if (cluster.connection) {
        c.host = cluster.connection->host;
        c.port = cluster.connection->port;
    }
    c.user = user_name(env);
    c.database = config_.database;
    c.sslrootcert = api_.write_ca_certificate(cluster.id, config_.ca_dir / (cluster.name + "-ca.pem"));
    return c;
}

std::optional<EnvironmentConnection> Provider::connection_facts(const std::string& env) {
    auto cluster = find(env);
    if (!cluster) return std::nullopt;
    return facts_of(*cluster, env);
}

void Provider::set_expiry(const Cluster& cluster, std::chrono::system_clock::time_point expires_at) {
    auto epoch = std::chrono::duration_cast<std::chrono::seconds>(expires_at.time_since_epoch()).count();
    std::string wanted = std::string(expires_tag_prefix) + std::to_string(epoch);
    if (!cluster.has_tag(wanted)) api_.add_tag(cluster.id, wanted);
    for (const auto& tag : cluster.tags) {
        if (tag.starts_with(expires_tag_prefix) && tag != wanted) api_.remove_tag(cluster.id, tag);
    }
}

std::optional<std::chrono::system_clock::time_point> expiry_of(const Cluster& cluster) {
    auto value = cluster.tag_value(expires_tag_prefix);
    if (!value || value->empty() || !std::all_of(value->begin(), value->end(), [](unsigned char c) {
            return std::isdigit(c);
        })) {
        return std::nullopt;
    }
    try {
        return std::chrono::system_clock::time_point(std::chrono::seconds(std::stoll(*value)));
    } catch (const std::exception&) {
        return std::nullopt;
    }
}

namespace {

boost::json::value money_json(const std::optional<cost::Money>& m) {
    return m ? boost::json::value(cost::format_money(*m)) : boost::json::value(nullptr);
}

}  // namespace

boost::json::object plan_to_json(const Plan& plan) {
    boost::json::array changes;
    for (const auto& c : plan.changes) {
        changes.push_back(boost::json::object{{"action", c.action},
                                              {"what", c.cluster},
                                              {"detail", c.detail},
                                              {"monthly_before", money_json(c.monthly_before)},
                                              {"monthly_after", money_json(c.monthly_after)}});
    }
    return boost::json::object{{"changes", std::move(changes)},
                               {"monthly_before", cost::format_money(plan.monthly_before)},
                               {"monthly_after", cost::format_money(plan.monthly_after)}};
}

std::string plan_to_text(const Plan& plan) {
    std::string out;
    for (const auto& c : plan.changes) {
        out += c.action + " " + c.cluster + ": " + c.detail;
        if (c.monthly_before || c.monthly_after) {
            auto show = [](const std::optional<cost::Money>& m) { return m ? cost::format_money(*m) : "-"; };
            if (c.monthly_before == c.monthly_after) out += " (" + show(c.monthly_after) + "/month)";
            else out += " (" + show(c.monthly_before) + " -> " + show(c.monthly_after) + "/month)";
        }
        out += "\n";
    }
    if (plan.changes.empty()) out += "nothing to do\n";
    out += "monthly cost: " + cost::format_money(plan.monthly_before) + " -> " + cost::format_money(plan.monthly_after) +
           " (" + cost::format_money_change(plan.monthly_after - plan.monthly_before) + ")\n";
    return out;
}

Environment Provider::up(const std::string& env, const std::vector<std::string>& extra_tags) {
    if (env == production_env) throw Error(ErrorKind::usage, "up cannot make an environment named production");
    Environment result;
    result.env = env;
    if (auto existing = find(env)) {
        result.cluster = existing->status == "online" ? *existing
                                                      : api_.wait_until_online(existing->id, config_.create_wait);
    } else {
        validate_new_cluster();
        ClusterSpec spec{.name = cluster_name(env),
                         .engine = "pg",
                         .version = config_.version,
                         .size = config_.size,
                         .region = config_.region,
                         .num_nodes = config_.num_nodes,
                         .tags = {base_tag, env_tag(env), project_tag()}};
        spec.tags.insert(spec.tags.end(), extra_tags.begin(), extra_tags.end());
        Cluster created;
        try {
            created = api_.create_cluster(spec);
        } catch (const Error&) {
            // A create retried after a lost answer may have succeeded the first time: the cloud is the state.
            auto again = find(env);
            if (!again) throw;
            created = *again;
        }
        result.created = true;
        try {
            result.cluster = api_.wait_until_online(created.id, config_.create_wait);
        } catch (const Error& e) {
            std::string cleanup = "; the cluster was deleted again, so it costs nothing: try again later or choose "
                                  "another region";
            try {
                api_.delete_cluster(created.id);
            } catch (const Error& failure) {
                cleanup = "; deleting it failed too (" + failure.message() + "): delete cluster " + created.name +
                          " by hand or run ece-env down " + env;
            }
            throw Error(e.kind(), "environment " + env + ": " + e.message() + cleanup, e.where());
        }
    }
    // A new cluster's user was just created with a fresh password: no reset needed.
    result.connection = prepare(result.cluster, env, !result.created);
    return result;
}

Environment Provider::connect(const std::string& env) {
    auto cluster = find(env);
    if (!cluster) {
        throw Error(ErrorKind::conflict, "environment " + env + " has no DigitalOcean cluster; run ece-env up first");
    }
    Environment result{env, *cluster, {}, false};
    result.connection = prepare(*cluster, env);
    return result;
}

std::vector<std::string> Provider::down(const std::string& env) {
    if (env == production_env) throw Error(ErrorKind::usage, "refusing to delete the production cluster with down");
    std::vector<std::string> deleted;
    for (const auto& cluster : clusters_of(env)) {
        // A branch cluster that a cut-short publish already tagged production is production now.
        if (cluster.has_tag(env_tag(production_env))) continue;
        api_.delete_cluster(cluster.id);
        std::error_code ignored;
        std::filesystem::remove(config_.ca_dir / (cluster.name + "-ca.pem"), ignored);
        deleted.push_back(cluster.name);
    }
    return deleted;
}

std::vector<EnvironmentSummary> Provider::list(bool all_projects) {
    auto clusters = api_.list_clusters(std::string(base_tag));
    if (!all_projects) std::erase_if(clusters, [&](const Cluster& c) { return !c.has_tag(project_tag()); });
    std::sort(clusters.begin(), clusters.end(), older);
    auto now = api_.clock().now();
    std::vector<EnvironmentSummary> out;
    for (auto& cluster : clusters) {
        EnvironmentSummary summary;
        summary.env = cluster.tag_value(env_tag_prefix).value_or("");
        summary.project = cluster.tag_value(project_tag_prefix).value_or("");
        if (auto m = monthly(cluster.size, cluster.num_nodes)) {
            auto created = parse_timestamp(cluster.created_at).value_or(now);
            auto age = std::chrono::duration_cast<std::chrono::seconds>(now - created);
            summary.cost = cost::cluster_environment_cost(*m, shape(cluster.size, cluster.num_nodes),
                                                          std::max(age, std::chrono::seconds(0)), std::nullopt);
        }
        summary.cluster = std::move(cluster);
        out.push_back(std::move(summary));
    }
    return out;
}

PublishResult Provider::publish(const std::string& env, const HealthCheck& health_check) {
    PublishResult result;
    result.plan = plan_publish(env);  // throws when there is nothing to publish
    auto branch = *publish_source(env);
    std::vector<Cluster> previous;
    for (auto& c : clusters_of(production_env)) {
        if (c.id != branch.id) previous.push_back(std::move(c));
    }

    const auto& size = config_.production_size;
    int nodes = config_.production_num_nodes;
    // A resize already under way is an earlier publish of this env cut short: wait for it rather than ask again
    // (DigitalOcean refuses a resize while one runs).
    bool resizing = branch.status == "resizing";
    if (!resizing && (branch.size != size || branch.num_nodes != nodes)) api_.resize_cluster(branch.id, size, nodes);
    try {
        branch = api_.wait_until_resized(branch.id, size, nodes, config_.resize_wait);
    } catch (const Error& e) {
        throw Error(e.kind(), "publishing " + env + ": " + e.message() + "; production was left as it was",
                    e.where());
    }
    // The health check reads the user's current password; production's users are not rotated here.
    auto connection = prepare(branch, env, false);
    if (health_check) {
        try {
            health_check(connection);
        } catch (const Error& e) {
            throw Error(e.kind(), "publishing " + env + ": the resized cluster " + branch.name +
                                      " failed its health check (" + e.message() + "); production was left as it was",
                        e.where());
        }
    }
    // Production tag first, the branch's tag last: a publish cut short anywhere in between is finished by running
    // it again (the cluster is still found by its branch tag, already at the production size).
    api_.add_tag(branch.id, env_tag(production_env));
    for (const auto& old : previous) {
        api_.delete_cluster(old.id);
        result.deleted.push_back(old.name);
    }
    // Production never expires: gc must not find it.
    for (const auto& tag : branch.tags) {
        if (tag.starts_with(expires_tag_prefix)) api_.remove_tag(branch.id, tag);
    }
    if (branch.has_tag(env_tag(env))) api_.remove_tag(branch.id, env_tag(env));
    result.production = api_.get_cluster(branch.id);
    result.monthly_before = result.plan.monthly_before;
    result.monthly_after = result.plan.monthly_after;
    return result;
}

}  // namespace ece::digitalocean
