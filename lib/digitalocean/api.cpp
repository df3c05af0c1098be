#include "digitalocean/api.hpp"

#include "core/error.hpp"
#include "core/secrets.hpp"
#include "http/url.hpp"

#include <boost/json.hpp>

#include <openssl/evp.h>

#include <algorithm>
#include <cctype>
#include <cstdlib>
#include <fstream>
#include <set>
#include <sys/stat.h>
#include <thread>

namespace ece::digitalocean {

namespace json = boost::json;
using std::chrono::milliseconds;

namespace {

std::string string_at(const json::object& o, std::string_view key) {
    auto* v = o.if_contains(key);
    return v && v->is_string() ? std::string(v->as_string()) : std::string();
}

int int_at(const json::object& o, std::string_view key) {
    auto* v = o.if_contains(key);
    if (!v) return 0;
    if (v->is_int64()) return static_cast<int>(v->as_int64());
    if (v->is_uint64()) return static_cast<int>(v->as_uint64());
    return 0;
}

std::vector<std::string> strings_at(const json::object& o, std::string_view key) {
    std::vector<std::string> out;
    auto* v = o.if_contains(key);
    if (!v || !v->is_array()) return out;  // DigitalOcean sends null for empty lists
    for (const auto& item : v->as_array()) {
        if (item.is_string()) out.emplace_back(item.as_string());
    }
    return out;
}

ConnectionDetails parse_connection(const json::object& o) {
    ConnectionDetails c;
    c.host = string_at(o, "host");
    c.port = int_at(o, "port");
    c.user = string_at(o, "user");
    c.password = string_at(o, "password");
    c.database = string_at(o, "database");
    c.uri = string_at(o, "uri");
    if (auto* ssl = o.if_contains("ssl"); ssl && ssl->is_bool()) c.ssl = ssl->as_bool();
    register_secret(c.password);
    register_secret(c.uri);
    return c;
}

Cluster parse_cluster(const json::object& o) {
    Cluster c;
    c.id = string_at(o, "id");
    c.name = string_at(o, "name");
    c.engine = string_at(o, "engine");
    c.version = string_at(o, "version");
    c.size = string_at(o, "size");
    c.region = string_at(o, "region");
    c.num_nodes = int_at(o, "num_nodes");
    c.status = string_at(o, "status");
    c.created_at = string_at(o, "created_at");
    c.tags = strings_at(o, "tags");
    c.db_names = strings_at(o, "db_names");
    if (auto* conn = o.if_contains("connection"); conn && conn->is_object()) {
        c.connection = parse_connection(conn->as_object());
    }
    if (auto* users = o.if_contains("users"); users && users->is_array()) {
        for (const auto& u : users->as_array()) {
            if (u.is_object()) register_secret(string_at(u.as_object(), "password"));
        }
    }
    return c;
}

User parse_user(const json::object& o) {
    User u{string_at(o, "name"), string_at(o, "role"), string_at(o, "password")};
    register_secret(u.password);
    return u;
}

// The object under key of a JSON response body, or an input error naming the request.
json::object object_in(const http::Response& response, std::string_view key, const std::string& doing) {
    boost::system::error_code ec;
    auto value = json::parse(response.body, ec);
    if (!ec && value.is_object()) {
        if (auto* inner = value.as_object().if_contains(key); inner && inner->is_object()) return inner->as_object();
    }
    throw Error(ErrorKind::network,
                "unexpected answer from DigitalOcean while " + doing + ": no \"" + std::string(key) + "\" object",
                {.file = http::redact_url(response.url), .field = "$." + std::string(key),
                 .http_status = response.status});
}

json::array array_in(const http::Response& response, std::string_view key, const std::string& doing) {
    boost::system::error_code ec;
    auto value = json::parse(response.body, ec);
    if (!ec && value.is_object()) {
        auto* inner = value.as_object().if_contains(key);
        if (inner && inner->is_array()) return inner->as_array();
        if (inner && inner->is_null()) return {};
    }
    throw Error(ErrorKind::network,
                "unexpected answer from DigitalOcean while " + doing + ": no \"" + std::string(key) + "\" list",
                {.file = http::redact_url(response.url), .field = "$." + std::string(key),
                 .http_status = response.status});
}

std::string api_message(const http::Response& response) {
    boost::system::error_code ec;
    auto value = json::parse(response.body, ec);
    if (!ec && value.is_object()) {
        auto message = string_at(value.as_object(), "message");
        if (!message.empty()) return message;
    }
    std::string snippet = response.body.substr(0, 200);
    std::replace_if(snippet.begin(), snippet.end(), [](unsigned char c) { return c < 0x20; }, ' ');
    return snippet;
}

std::string decode_base64(std::string text, const std::string& doing) {
    std::erase_if(text, [](unsigned char c) { return std::isspace(c); });
    if (text.empty() || text.size() % 4 != 0) {
        throw Error(ErrorKind::network, "the CA certificate DigitalOcean sent is not base64 (while " + doing + ")");
    }
    std::string out(text.size() / 4 * 3, '\0');
    int n = EVP_DecodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                            reinterpret_cast<const unsigned char*>(text.data()), static_cast<int>(text.size()));
    if (n < 0) {
        throw Error(ErrorKind::network, "the CA certificate DigitalOcean sent is not base64 (while " + doing + ")");
    }
    auto padding = static_cast<std::size_t>(std::count(text.end() - 2, text.end(), '='));
    out.resize(static_cast<std::size_t>(n) - padding);
    return out;
}

std::string seconds_text(std::chrono::system_clock::duration d) {
    auto s = std::chrono::duration_cast<std::chrono::seconds>(d).count();
    if (s >= 120) return std::to_string(s / 60) + " min";
    return std::to_string(s) + " s";
}

}  // namespace

std::string token_from_environment(const std::string& variable) {
    const char* value = std::getenv(variable.c_str());
    if (!value || !*value) {
        throw Error(ErrorKind::auth, "no DigitalOcean API token: set " + variable +
                                         " to a personal access token with read and write access to databases");
    }
    register_secret(value);
    return value;
}

bool Cluster::has_tag(const std::string& tag) const { return std::find(tags.begin(), tags.end(), tag) != tags.end(); }

std::optional<std::string> Cluster::tag_value(const std::string& prefix) const {
    for (const auto& tag : tags) {
        if (tag.size() > prefix.size() && tag.starts_with(prefix)) return tag.substr(prefix.size());
    }
    return std::nullopt;
}

bool EngineOptions::offers(const std::string& size, int num_nodes) const {
    auto it = sizes_by_nodes.find(num_nodes);
    return it != sizes_by_nodes.end() && std::find(it->second.begin(), it->second.end(), size) != it->second.end();
}

std::vector<std::string> EngineOptions::all_sizes() const {
    std::set<std::string> all;
    for (const auto& [nodes, sizes] : sizes_by_nodes) all.insert(sizes.begin(), sizes.end());
    return {all.begin(), all.end()};
}

std::string tag_safe(const std::string& text) {
    std::string out;
    for (unsigned char c : text) {
        out += (std::isalnum(c) || c == '_' || c == '-' || c == ':') ? static_cast<char>(std::tolower(c)) : '-';
    }
    if (out.size() > 255) out.resize(255);
    return out;
}

// ---------------------------------------------------------------------------------------------------------------

Api::Api(ApiOptions options) : options_(std::move(options)), client_([this] {
      if (!options_.clock.now) options_.clock.now = [] { return std::chrono::system_clock::now(); };
      if (!options_.clock.sleep) options_.clock.sleep = [](milliseconds ms) { std::this_thread::sleep_for(ms); };
      auto http = options_.http;
      if (!http.sleep) http.sleep = options_.clock.sleep;
      if (!http.now) http.now = options_.clock.now;
      return http;
  }()) {
    if (options_.token.empty()) {
        throw Error(ErrorKind::auth, "no DigitalOcean API token: set " + options_.token_variable);
    }
    register_secret(options_.token);
    while (options_.base_url.ends_with('/')) options_.base_url.pop_back();
}

http::Response Api::call(const std::string& method, const std::string& path, const std::string& doing,
                         const std::string& body, bool not_found_ok) {
    http::Request request;
    request.method = method;
    request.url = options_.base_url + path;
    request.headers.set("authorization", "Bearer " + options_.token);
    request.headers.set("accept", "application/json");
    if (!body.empty()) request.headers.set("content-type", "application/json");
    request.body = body;

    // lib/http retries 429s and 5xx, waiting for DigitalOcean's ratelimit-reset when it names one.
    http::Response response;
    try {
        response = client_.send_unchecked(request);
    } catch (const Error& e) {
        throw e.with_context("DigitalOcean API, " + doing);
    }

    int status = response.status;
    if (status / 100 == 2 || (status == 404 && not_found_ok)) return response;
    ErrorLocation where{.file = http::redact_url(request.url), .http_status = status};
    auto message = api_message(response);
    if (status == 401) {
        throw Error(ErrorKind::auth,
                    "DigitalOcean rejected the API token while " + doing + " (401: " + message + "): the token in " +
                        options_.token_variable + " is invalid, expired or revoked; create a new personal access "
                        "token with read and write access to databases and tags",
                    where);
    }
    if (status == 403) {
        throw Error(ErrorKind::auth,
                    "DigitalOcean refused " + doing + " (403: " + message + "): the token in " +
                        options_.token_variable + " lacks the scope for it",
                    where);
    }
    if (status == 404) throw Error(ErrorKind::conflict, "DigitalOcean: not found while " + doing + " (404: " + message + ")", where);
    if (status == 422 || status == 400) {
        throw Error(ErrorKind::usage, "DigitalOcean refused " + doing + " (" + std::to_string(status) + ": " + message + ")",
                    where);
    }
    if (status == 429) {
        std::string detail = "429: " + message;
        if (auto limit = response.header("ratelimit-limit")) detail += ", limit " + *limit;
        if (auto reset = response.header("ratelimit-reset")) detail += ", resets at epoch " + *reset;
        throw Error(ErrorKind::network, "DigitalOcean rate limit still exceeded after retries while " + doing + " (" + detail + ")",
                    where);
    }
    throw Error(ErrorKind::network,
                "DigitalOcean failed while " + doing + " (HTTP " + std::to_string(status) + ": " + message +
                    (status >= 500 ? ", after retries)" : ")"),
                where);
}

std::vector<Cluster> Api::list_clusters(const std::optional<std::string>& tag) {
    std::string path = "/v2/databases";
    std::string doing = "listing database clusters";
    if (tag) {
        path += "?tag_name=" + http::percent_encode(*tag);
        doing += " tagged " + *tag;
    }
    std::vector<Cluster> clusters;
    for (const auto& item : array_in(call("GET", path, doing), "databases", doing)) {
        if (item.is_object()) clusters.push_back(parse_cluster(item.as_object()));
    }
    return clusters;
}

std::optional<Cluster> Api::find_cluster(const std::string& id) {
    std::string doing = "reading database cluster " + id;
    auto response = call("GET", "/v2/databases/" + http::percent_encode(id), doing, {}, true);
    if (response.status == 404) return std::nullopt;
    return parse_cluster(object_in(response, "database", doing));
}

Cluster Api::get_cluster(const std::string& id) {
    auto cluster = find_cluster(id);
    if (!cluster) {
        throw Error(ErrorKind::conflict, "database cluster " + id + " does not exist (any more)",
                    {.file = options_.base_url + "/v2/databases/" + id, .http_status = 404});
    }
    return *cluster;
}

Cluster Api::create_cluster(const ClusterSpec& spec) {
    json::object body{{"name", spec.name}, {"engine", spec.engine}, {"size", spec.size},
                      {"region", spec.region}, {"num_nodes", spec.num_nodes}};
    if (!spec.version.empty()) body["version"] = spec.version;
    json::array tags;
    for (const auto& t : spec.tags) tags.emplace_back(t);
    body["tags"] = std::move(tags);
    if (!spec.rules.empty()) {
        json::array rules;
        for (const auto& r : spec.rules) {
            json::object rule{{"type", r.type}, {"value", r.value}};
            if (!r.description.empty()) rule["description"] = r.description;
            rules.push_back(std::move(rule));
        }
        body["rules"] = std::move(rules);
    }
    std::string doing = "creating database cluster " + spec.name + " (" + spec.engine + " " + spec.version +
                        ", size " + spec.size + " x " + std::to_string(spec.num_nodes) + " node" +
                        (spec.num_nodes == 1 ? "" : "s") + " in " + spec.region + ")";
    return parse_cluster(object_in(call("POST", "/v2/databases", doing, json::serialize(body)), "database", doing));
}

void Api::delete_cluster(const std::string& id) {
    call("DELETE", "/v2/databases/" + http::percent_encode(id), "deleting database cluster " + id, {}, true);
}

void Api::resize_cluster(const std::string& id, const std::string& size, int num_nodes) {
    json::object body{{"size", size}, {"num_nodes", num_nodes}};
    call("PUT", "/v2/databases/" + http::percent_encode(id) + "/resize",
         "resizing database cluster " + id + " to size " + size + " x " + std::to_string(num_nodes),
         json::serialize(body));
}

Cluster Api::wait_until_online(const std::string& id, const WaitOptions& wait,
                               const std::function<void(const Cluster&)>& on_poll) {
    return wait_until(id, [](const Cluster& c) { return c.status == "online"; }, "online", wait, on_poll);
}

Cluster Api::wait_until_resized(const std::string& id, const std::string& size, int num_nodes,
                                const WaitOptions& wait, const std::function<void(const Cluster&)>& on_poll) {
    return wait_until(
        id, [&](const Cluster& c) { return c.status == "online" && c.size == size && c.num_nodes == num_nodes; },
        "online at size " + size + " x " + std::to_string(num_nodes), wait, on_poll);
}

Cluster Api::wait_until(const std::string& id, const std::function<bool(const Cluster&)>& ready,
                        const std::string& goal, const WaitOptions& wait,
                        const std::function<void(const Cluster&)>& on_poll) {
    auto start = options_.clock.now();
    auto deadline = start + wait.timeout;
    milliseconds interval = wait.first_interval;
    std::optional<Cluster> last;
    std::string last_failure;
    for (;;) {
        try {
            auto cluster = get_cluster(id);
            if (on_poll) on_poll(cluster);
            if (ready(cluster)) return cluster;
            last = std::move(cluster);
            last_failure.clear();
        } catch (const Error& e) {
            // An API hiccup that outlasted the client's retries is no reason to give up on (and delete) a cluster
            // that is probably fine: poll again until the deadline. A rejected token or a vanished cluster is.
            if (e.kind() != ErrorKind::network) throw;
            last_failure = e.message();
        }
        auto now = options_.clock.now();
        if (now >= deadline) {
            std::string state = last ? "status: " + last->status + ", size " + last->size + " x " +
                                           std::to_string(last->num_nodes)
                                     : "never read";
            if (!last_failure.empty()) state += "; last poll failed: " + last_failure;
            throw Error(ErrorKind::network,
                        "database cluster " + (last ? last->name + " " : std::string()) + "(" + id + ") is not " +
                            goal + " after " + seconds_text(now - start) + " (" + state + ")",
                        {.file = options_.base_url + "/v2/databases/" + id});
        }
        auto left = std::chrono::duration_cast<milliseconds>(deadline - now);
        options_.clock.sleep(std::min(interval, left));
        interval = std::min(wait.max_interval,
                            milliseconds(static_cast<long long>(static_cast<double>(interval.count()) * wait.growth)));
    }
}

std::vector<FirewallRule> Api::firewall_rules(const std::string& id) {
    std::string doing = "reading the trusted sources of database cluster " + id;
    std::vector<FirewallRule> rules;
    for (const auto& item : array_in(call("GET", "/v2/databases/" + http::percent_encode(id) + "/firewall", doing),
                                     "rules", doing)) {
        if (!item.is_object()) continue;
        const auto& o = item.as_object();
        rules.push_back({string_at(o, "type"), string_at(o, "value"), string_at(o, "description")});
    }
    return rules;
}

void Api::set_firewall_rules(const std::string& id, const std::vector<FirewallRule>& rules) {
    json::array list;
    for (const auto& r : rules) {
        json::object rule{{"type", r.type}, {"value", r.value}};
        if (!r.description.empty()) rule["description"] = r.description;
        list.push_back(std::move(rule));
    }
    call("PUT", "/v2/databases/" + http::percent_encode(id) + "/firewall",
         "setting the trusted sources of database cluster " + id, json::serialize(json::object{{"rules", list}}));
}

std::vector<std::string> Api::list_databases(const std::string& id) {
    std::string doing = "listing the databases of cluster " + id;
    std::vector<std::string> names;
    for (const auto& item :
         array_in(call("GET", "/v2/databases/" + http::percent_encode(id) + "/dbs", doing), "dbs", doing)) {
        if (item.is_object()) names.push_back(string_at(item.as_object(), "name"));
    }
    return names;
}

void Api::create_database(const std::string& id, const std::string& name) {
    call("POST", "/v2/databases/" + http::percent_encode(id) + "/dbs",
         "creating database " + name + " in cluster " + id, json::serialize(json::object{{"name", name}}));
}

std::optional<User> Api::find_user(const std::string& id, const std::string& name) {
    std::string doing = "reading user " + name + " of cluster " + id;
    auto response = call("GET", "/v2/databases/" + http::percent_encode(id) + "/users/" + http::percent_encode(name),
                         doing, {}, true);
    if (response.status == 404) return std::nullopt;
    return parse_user(object_in(response, "user", doing));
}

User Api::create_user(const std::string& id, const std::string& name) {
    std::string doing = "creating user " + name + " in cluster " + id;
    auto response = call("POST", "/v2/databases/" + http::percent_encode(id) + "/users", doing,
                         json::serialize(json::object{{"name", name}}));
    return parse_user(object_in(response, "user", doing));
}

User Api::reset_user_password(const std::string& id, const std::string& name) {
    std::string doing = "resetting the password of user " + name + " in cluster " + id;
    // The body is required; its only field (mysql_settings) does not apply to PostgreSQL.
    auto response = call("POST",
                         "/v2/databases/" + http::percent_encode(id) + "/users/" + http::percent_encode(name) +
                             "/reset_auth",
                         doing, "{}");
    return parse_user(object_in(response, "user", doing));
}

std::string Api::ca_certificate(const std::string& id) {
    std::string doing = "fetching the CA certificate of cluster " + id;
    auto ca = object_in(call("GET", "/v2/databases/" + http::percent_encode(id) + "/ca", doing), "ca", doing);
    auto pem = decode_base64(string_at(ca, "certificate"), doing);
    if (pem.find("-----BEGIN CERTIFICATE-----") == std::string::npos) {
        throw Error(ErrorKind::network, "the CA certificate DigitalOcean sent is not a PEM certificate (while " +
                                            doing + ")");
    }
    return pem;
}

std::filesystem::path Api::write_ca_certificate(const std::string& id, const std::filesystem::path& file) {
    auto pem = ca_certificate(id);
    if (file.has_parent_path()) std::filesystem::create_directories(file.parent_path());
    std::filesystem::remove(file);
    {
        // Created 0600 from the start: libpq wants no group/other access to key material next to it, and it is
        // nobody else's business which CA this runner trusts.
        auto old_mask = ::umask(077);
        std::ofstream out(file, std::ios::binary | std::ios::trunc);
        ::umask(old_mask);
        out << pem;
        out.close();
        if (!out) throw Error(ErrorKind::external, "cannot write the cluster's CA certificate", {.file = file.string()});
    }
    std::filesystem::permissions(file, std::filesystem::perms::owner_read | std::filesystem::perms::owner_write,
                                 std::filesystem::perm_options::replace);
    return file;
}

EngineOptions Api::engine_options(const std::string& engine) {
    std::string doing = "reading the database options (sizes, regions, versions)";
    auto options = object_in(call("GET", "/v2/databases/options", doing), "options", doing);
    EngineOptions out;
    auto* e = options.if_contains(engine);
    if (!e || !e->is_object()) {
        throw Error(ErrorKind::usage, "DigitalOcean offers no database engine " + engine,
                    {.file = options_.base_url + "/v2/databases/options", .field = "$.options." + engine});
    }
    const auto& o = e->as_object();
    out.regions = strings_at(o, "regions");
    out.versions = strings_at(o, "versions");
    out.default_version = string_at(o, "default_version");
    if (auto* layouts = o.if_contains("layouts"); layouts && layouts->is_array()) {
        for (const auto& layout : layouts->as_array()) {
            if (!layout.is_object()) continue;
            out.sizes_by_nodes[int_at(layout.as_object(), "num_nodes")] = strings_at(layout.as_object(), "sizes");
        }
    }
    return out;
}

void Api::add_tag(const std::string& cluster_id, const std::string& tag) {
    call("POST", "/v2/tags", "creating tag " + tag, json::serialize(json::object{{"name", tag}}));
    json::object resource{{"resource_id", cluster_id}, {"resource_type", "database"}};
    call("POST", "/v2/tags/" + http::percent_encode(tag) + "/resources",
         "tagging database cluster " + cluster_id + " with " + tag,
         json::serialize(json::object{{"resources", json::array{resource}}}));
}

void Api::remove_tag(const std::string& cluster_id, const std::string& tag) {
    json::object resource{{"resource_id", cluster_id}, {"resource_type", "database"}};
    call("DELETE", "/v2/tags/" + http::percent_encode(tag) + "/resources",
         "removing tag " + tag + " from database cluster " + cluster_id,
         json::serialize(json::object{{"resources", json::array{resource}}}), true);
}

}  // namespace ece::digitalocean
