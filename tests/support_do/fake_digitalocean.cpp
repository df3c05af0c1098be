#include "fake_digitalocean.hpp"

#include "openapi.hpp"
#include "pg/connect.hpp"
#include "pg/embedded.hpp"
#include "pg/ident.hpp"
#include "support.hpp"

#include <boost/json.hpp>
#include <openssl/evp.h>
#include <yaml-cpp/yaml.h>

#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <ctime>
#include <fstream>
#include <thread>
#include <random>
#include <regex>

namespace ece::test {

namespace json = boost::json;

namespace {

ServerResponse do_error(int status, const std::string& id, const std::string& message) {
    return ServerResponse::json(status, json::serialize(json::object{
                                            {"id", id},
                                            {"message", message},
                                            {"request_id", "4851a473-1621-42ea-b2f9-5071c0ea8414"}}));
}

ServerResponse not_found() {
    return do_error(404, "not_found", "The resource you were accessing could not be found.");
}

ServerResponse empty(int status) {
    ServerResponse r;
    r.status = status;
    return r;
}

std::string iso8601(std::chrono::system_clock::time_point t) {
    auto seconds = std::chrono::system_clock::to_time_t(t);
    std::tm tm{};
    gmtime_r(&seconds, &tm);
    char text[32];
    std::strftime(text, sizeof text, "%Y-%m-%dT%H:%M:%SZ", &tm);
    return text;
}

std::string base64(const std::string& data) {
    std::string out(4 * ((data.size() + 2) / 3) + 1, '\0');
    int n = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                            reinterpret_cast<const unsigned char*>(data.data()), static_cast<int>(data.size()));
    out.resize(static_cast<std::size_t>(n));
    return out;
}

std::optional<json::object> body_object(const ServerRequest& request) {
    boost::system::error_code ec;
    auto value = json::parse(request.body, ec);
    if (ec || !value.is_object()) return std::nullopt;
    return value.as_object();
}

std::string text(const json::object& o, const char* key) {
    auto* v = o.if_contains(key);
    return v && v->is_string() ? std::string(v->as_string()) : std::string();
}

std::random_device& entropy() {
    static std::random_device device;
    return device;
}

std::string random_password() {
    static const char* alphabet = "abcdefghijklmnopqrstuvwxyz0123456789";
    std::mt19937 random(entropy()());
    std::string out;
    for (int i = 0; i < 16; ++i) out += alphabet[random() % 36];
    return out;
}

// Writes a file the server reads (its key must be private to the server's user, as PostgreSQL insists).
void write_for_server(const std::filesystem::path& file, const std::string& text, const struct stat& owner) {
    std::ofstream(file, std::ios::trunc) << text;
    std::filesystem::permissions(file, std::filesystem::perms::owner_read | std::filesystem::perms::owner_write);
    if (::chown(file.c_str(), owner.st_uid, owner.st_gid) != 0) {
        throw std::runtime_error("cannot hand " + file.string() + " to the server's user");
    }
}

// Turns TLS on in a running embedded server (ssl is reloadable) and waits until it answers over TLS.
void enable_tls(const pg::EmbeddedServer& server, const CertificateAndKey& certificate) {
    const auto data = server.server_root / "data";
    struct stat owner {};
    if (::stat(data.c_str(), &owner) != 0) throw std::runtime_error("no data directory in " + server.server_root.string());
    write_for_server(data / "server.crt", certificate.certificate_pem, owner);
    write_for_server(data / "server.key", certificate.private_key_pem, owner);
    {
        auto conn = pg::connect(server.admin_url, "fake DigitalOcean cluster: TLS on");
        pqxx::nontransaction tx(conn);
        tx.exec("ALTER SYSTEM SET ssl = on");
        tx.exec("SELECT pg_reload_conf()");
    }
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
    for (;;) {
        try {
            pqxx::connection tls(server.admin_url + "?sslmode=require");
            return;
        } catch (const std::exception&) {
            if (std::chrono::steady_clock::now() > deadline) throw;
            std::this_thread::sleep_for(std::chrono::milliseconds(50));
        }
    }
}

}  // namespace

FakeDigitalOcean::FakeDigitalOcean(FakeDigitalOceanOptions options)
    : options_(std::move(options)), server_(options_.server) {
    // The sizes DigitalOcean offers, from the recorded options response.
    auto doc = YAML::LoadFile(fixture("real/digitalocean/openapi/databases.responses.options.yml").string());
    auto example = doc["content"]["application/json"]["example"];
    options_json_ = yaml_to_json(example);
    for (const auto& layout : example["options"]["pg"]["layouts"]) {
        auto& sizes = pg_sizes_[layout["num_nodes"].as<int>()];
        for (const auto& size : layout["sizes"]) sizes.insert(size.as<std::string>());
    }
    ca_pem_ = pki_.ca_certificate_pem();  // a real CA certificate, as GET /ca hands out
    if (options_.real_postgres) servers_ = std::make_unique<TempDir>();
    install_routes();
}

FakeDigitalOcean::~FakeDigitalOcean() {
    std::lock_guard lock(mutex_);
    for (const auto& [id, cluster] : clusters_) {
        if (cluster.port == 0) continue;
        try {
            pg::destroy_embedded(cluster.server_dir);
        } catch (const std::exception&) {
            // the TempDir goes anyway; a server left running dies with its data directory's removal
        }
    }
}

void FakeDigitalOcean::start_server(Cluster& cluster) {
    if (!options_.real_postgres || cluster.port != 0) return;
    cluster.server_dir = servers_->path() / cluster.id;
    const auto server = pg::ensure_embedded(cluster.server_dir, pg::EmbeddedOptions{.durable = false});
    enable_tls(server, pki_.issue({"localhost"}, {"127.0.0.1"}));
    cluster.port = server.port;
    superuser_urls_[cluster.id] = server.admin_url;
    auto conn = pg::connect(server.admin_url, "fake DigitalOcean cluster: doadmin");
    pqxx::nontransaction tx(conn);
    // doadmin as DigitalOcean makes it: no superuser, but it may create databases and roles.
    tx.exec("CREATE ROLE doadmin LOGIN CREATEDB CREATEROLE PASSWORD " + tx.quote(cluster.users.at("doadmin")));
    tx.exec("CREATE DATABASE defaultdb OWNER doadmin");
}

void FakeDigitalOcean::as_superuser(const Cluster& cluster, const std::string& sql) const {
    if (cluster.port == 0) return;
    auto conn = pg::connect(superuser_urls_.at(cluster.id), "fake DigitalOcean cluster " + cluster.name);
    pqxx::nontransaction tx(conn);
    tx.exec(sql);
}

std::string FakeDigitalOcean::superuser_url(const std::string& cluster_name, const std::string& database) const {
    std::lock_guard lock(mutex_);
    for (const auto& [id, cluster] : clusters_) {
        if (cluster.name == cluster_name && superuser_urls_.count(id)) {
            return pg::with_database(superuser_urls_.at(id), database);
        }
    }
    throw std::runtime_error("no PostgreSQL server behind a cluster named " + cluster_name);
}

std::chrono::system_clock::time_point FakeDigitalOcean::now() const {
    return options_.now ? options_.now() : std::chrono::system_clock::now();
}

std::string FakeDigitalOcean::new_uuid() {
    static const char* hex = "0123456789abcdef";
    std::mt19937_64 random(entropy()() ^ next_id_++);
    std::string out;
    for (int i = 0; i < 32; ++i) {
        if (i == 8 || i == 12 || i == 16 || i == 20) out += '-';
        out += i == 12 ? '4' : hex[random() % 16];
    }
    return out;
}

std::string FakeDigitalOcean::add_cluster(Cluster cluster) {
    std::lock_guard lock(mutex_);
    if (cluster.id.empty()) cluster.id = new_uuid();
    if (cluster.created_at.empty()) cluster.created_at = iso8601(now());
    if (cluster.users.empty()) cluster.users["doadmin"] = random_password();
    start_server(cluster);
    for (const auto& tag : cluster.tags) tags_.insert(tag);
    auto id = cluster.id;
    clusters_[id] = std::move(cluster);
    order_.push_back(id);
    return id;
}

std::string FakeDigitalOcean::add_production_cluster(const std::string& project, const std::string& size) {
    Cluster c;
    c.name = "ece-" + project + "-production";
    std::replace(c.name.begin(), c.name.end(), '_', '-');
    c.size = size;
    c.tags = {"ece", "ece-env:production", "ece-project:" + project};
    return add_cluster(std::move(c));
}

void FakeDigitalOcean::never_online(const std::string& name) {
    std::lock_guard lock(mutex_);
    never_online_.insert(name);
}

void FakeDigitalOcean::expire_token() {
    std::lock_guard lock(mutex_);
    token_expired_ = true;
}

void FakeDigitalOcean::rate_limit_next(int n, long long reset_epoch) {
    std::lock_guard lock(mutex_);
    rate_limited_ = n;
    rate_limit_reset_ = reset_epoch;
}

void FakeDigitalOcean::fail_next(int n, int status) {
    std::lock_guard lock(mutex_);
    failures_ = n;
    failure_status_ = status;
}

void FakeDigitalOcean::lose_answers(const std::string& method, int n, int status) {
    std::lock_guard lock(mutex_);
    lost_method_ = method;
    lost_ = n;
    lost_status_ = status;
}

void FakeDigitalOcean::after_each_request(std::function<void(const ServerRequest&)> observer) {
    std::lock_guard lock(mutex_);
    observer_ = std::move(observer);
}

void FakeDigitalOcean::set_polls_until_resized(int polls) {
    std::lock_guard lock(mutex_);
    options_.polls_until_resized = polls;
}

std::vector<FakeDigitalOcean::Cluster> FakeDigitalOcean::clusters() const {
    std::lock_guard lock(mutex_);
    std::vector<Cluster> out;
    for (const auto& id : order_) {
        if (auto it = clusters_.find(id); it != clusters_.end()) out.push_back(it->second);
    }
    return out;
}

std::optional<FakeDigitalOcean::Cluster> FakeDigitalOcean::cluster_named(const std::string& name) const {
    for (auto& c : clusters()) {
        if (c.name == name) return c;
    }
    return std::nullopt;
}

std::vector<std::string> FakeDigitalOcean::events() const {
    std::lock_guard lock(mutex_);
    return events_;
}

std::size_t FakeDigitalOcean::mutations() const {
    std::lock_guard lock(mutex_);
    return mutations_;
}

std::string FakeDigitalOcean::cluster_json(const Cluster& c) const {
    auto password = c.users.count("doadmin") ? c.users.at("doadmin") : std::string();
    // With a real server behind the cluster, both connections lead to it (there is no private network here).
    auto host = c.name + "-do-user-19081923-0.db.ondigitalocean.com";
    const int port = c.port != 0 ? c.port : 25060;
    auto connection = [&](const std::string& prefix) {
        const std::string h = c.port != 0 ? "127.0.0.1" : prefix + host;
        return json::object{{"uri", "postgres://doadmin:" + password + "@" + h + ":" + std::to_string(port) +
                                        "/defaultdb?sslmode=require"},
                            {"database", "defaultdb"},
                            {"host", h},
                            {"port", port},
                            {"user", "doadmin"},
                            {"password", password},
                            {"ssl", true}};
    };
    json::array tags(c.tags.begin(), c.tags.end());
    json::array dbs(c.dbs.begin(), c.dbs.end());
    json::array users;
    for (const auto& [name, pw] : c.users) {
        users.push_back(json::object{{"name", name}, {"role", name == "doadmin" ? "primary" : "normal"}, {"password", pw}});
    }
    json::object o{{"id", c.id},
                   {"name", c.name},
                   {"engine", c.engine},
                   {"version", c.version},
                   {"semantic_version", c.version + ".4"},
                   {"num_nodes", c.num_nodes},
                   {"size", c.size},
                   {"region", c.region},
                   {"status", c.status},
                   {"created_at", c.created_at},
                   {"private_network_uuid", "d455e75d-4858-4eec-8c95-da2f0a5f93a7"},
                   {"tags", tags},
                   {"db_names", dbs},
                   {"connection", connection("")},
                   {"private_connection", connection("private-")},
                   {"users", users},
                   {"maintenance_window", json::object{{"day", "saturday"}, {"hour", "08:45:12"}, {"pending", false}}},
                   {"storage_size_mib", 10240}};
    return json::serialize(o);
}

void FakeDigitalOcean::route(const std::string& method, const std::string& pattern,
                             std::function<ServerResponse(const ServerRequest&)> handler) {
    server_.route(method, pattern, [this, handler = std::move(handler)](const ServerRequest& request) {
        return guarded(request, handler);
    });
}

ServerResponse FakeDigitalOcean::guarded(const ServerRequest& request,
                                         const std::function<ServerResponse(const ServerRequest&)>& handler) {
    std::lock_guard lock(mutex_);
    auto reset = std::chrono::duration_cast<std::chrono::seconds>(now().time_since_epoch()).count() + 60;
    auto with_limits = [&](ServerResponse r, int remaining, long long reset_at) {
        r.headers.set("ratelimit-limit", "5000");
        r.headers.set("ratelimit-remaining", std::to_string(remaining));
        r.headers.set("ratelimit-reset", std::to_string(reset_at));
        return r;
    };
    auto auth = request.header("authorization");
    if (!auth || *auth != "Bearer " + options_.token || token_expired_) {
        return with_limits(do_error(401, "unauthorized", "Unable to authenticate you."), remaining_, reset);
    }
    if (rate_limited_ > 0) {
        --rate_limited_;
        return with_limits(do_error(429, "too_many_requests", "API rate limit exceeded."), 0, rate_limit_reset_);
    }
    if (failures_ > 0) {
        --failures_;
        return with_limits(do_error(failure_status_, "server_error", "Unexpected server-side error"), remaining_, reset);
    }
    auto response = handler(request);
    if (remaining_ > 0) --remaining_;
    if (request.method != "GET" && response.status / 100 == 2) ++mutations_;
    if (observer_) observer_(request);
    if (lost_ > 0 && request.method == lost_method_) {
        --lost_;
        response = do_error(lost_status_, "server_error", "Unexpected server-side error");
    }
    return with_limits(std::move(response), remaining_, reset);
}

void FakeDigitalOcean::install_routes() {
    const std::string cluster_path = "/v2/databases/{database_cluster_uuid}";
    auto find = [this](const ServerRequest& r) -> Cluster* {
        auto it = clusters_.find(r.params.at("database_cluster_uuid"));
        return it == clusters_.end() ? nullptr : &it->second;
    };
    auto size_problem = [this](const std::string& size, int nodes) -> std::optional<ServerResponse> {
        auto it = pg_sizes_.find(nodes);
        if (it == pg_sizes_.end()) {
            return do_error(422, "unprocessable_entity", "invalid num_nodes: " + std::to_string(nodes));
        }
        if (!it->second.count(size)) {
            return do_error(422, "unprocessable_entity", "invalid size slug for this engine and node count");
        }
        return std::nullopt;
    };

    route("GET", "/v2/databases", [this](const ServerRequest& r) {
        auto tag = r.query_param("tag_name");
        json::array list;
        for (const auto& id : order_) {
            const auto& c = clusters_.at(id);
            if (tag && std::find(c.tags.begin(), c.tags.end(), *tag) == c.tags.end()) continue;
            list.push_back(json::parse(cluster_json(c)));
        }
        return ServerResponse::json(200, json::serialize(json::object{{"databases", list}}));
    });

    route("POST", "/v2/databases", [this, size_problem](const ServerRequest& r) {
        auto body = body_object(r);
        if (!body) return do_error(400, "bad_request", "request body is not a JSON object");
        for (const char* key : {"name", "engine", "size", "region", "num_nodes"}) {
            if (!body->contains(key)) return do_error(422, "unprocessable_entity", std::string(key) + " is required");
        }
        Cluster c;
        c.name = text(*body, "name");
        c.engine = text(*body, "engine");
        c.size = text(*body, "size");
        c.region = text(*body, "region");
        c.num_nodes = static_cast<int>(body->at("num_nodes").to_number<std::int64_t>());
        if (auto v = text(*body, "version"); !v.empty()) c.version = v;
        if (c.engine != "pg") return do_error(422, "unprocessable_entity", "this fake only serves engine pg");
        if (auto problem = size_problem(c.size, c.num_nodes)) return *problem;
        for (const auto& [id, other] : clusters_) {
            if (other.name == c.name) return do_error(422, "unprocessable_entity", "cluster name is already in use");
        }
        if (auto* tags = body->if_contains("tags"); tags && tags->is_array()) {
            for (const auto& t : tags->as_array()) c.tags.emplace_back(t.as_string());
        }
        c.id = new_uuid();
        c.status = "creating";
        c.created_at = iso8601(now());
        c.polls_left = options_.polls_until_online;
        c.never_online = never_online_.count(c.name) > 0;
        c.users["doadmin"] = random_password();
        start_server(c);
        for (const auto& t : c.tags) tags_.insert(t);
        events_.push_back("create " + c.name);
        auto id = c.id;
        clusters_[id] = c;
        order_.push_back(id);
        return ServerResponse::json(201, json::serialize(json::object{{"database", json::parse(cluster_json(c))}}));
    });

    route("GET", cluster_path, [this, find](const ServerRequest& r) {
        auto* c = find(r);
        if (!c) return not_found();
        // Status changes happen as the cluster is watched: a few polls in each transitional state.
        if ((c->status == "creating" && !c->never_online) || c->status == "resizing") {
            if (c->polls_left > 0) {
                --c->polls_left;
            } else if (c->status == "creating") {
                c->status = "online";
                events_.push_back("online " + c->name);
            } else {
                c->status = "online";
                c->size = c->target_size;
                c->num_nodes = c->target_nodes;
                events_.push_back("resized " + c->name);
            }
        }
        return ServerResponse::json(200, json::serialize(json::object{{"database", json::parse(cluster_json(*c))}}));
    });

    route("DELETE", cluster_path, [this, find](const ServerRequest& r) {
        auto* c = find(r);
        if (!c) return not_found();
        events_.push_back("delete " + c->name);
        if (c->port != 0) pg::destroy_embedded(c->server_dir);
        auto id = c->id;
        clusters_.erase(id);
        std::erase(order_, id);
        return empty(204);
    });

    route("PUT", cluster_path + "/resize", [this, find, size_problem](const ServerRequest& r) {
        auto* c = find(r);
        if (!c) return not_found();
        auto body = body_object(r);
        if (!body || !body->contains("size") || !body->contains("num_nodes")) {
            return do_error(422, "unprocessable_entity", "size and num_nodes are required");
        }
        auto size = text(*body, "size");
        int nodes = static_cast<int>(body->at("num_nodes").to_number<std::int64_t>());
        if (auto problem = size_problem(size, nodes)) return *problem;
        if (c->status != "online") return do_error(422, "unprocessable_entity", "cluster is not online");
        c->status = "resizing";
        c->target_size = size;
        c->target_nodes = nodes;
        c->polls_left = options_.polls_until_resized;
        events_.push_back("resize " + c->name + " " + size + "x" + std::to_string(nodes));
        return empty(202);
    });

    route("GET", cluster_path + "/firewall", [find](const ServerRequest& r) {
        auto* c = find(r);
        if (!c) return not_found();
        json::array rules;
        for (const auto& rule : c->rules) {
            json::object o{{"uuid", rule.uuid}, {"cluster_uuid", c->id}, {"type", rule.type},
                           {"value", rule.value}, {"created_at", c->created_at}};
            if (!rule.description.empty()) o["description"] = rule.description;
            rules.push_back(std::move(o));
        }
        return ServerResponse::json(200, json::serialize(json::object{{"rules", rules}}));
    });

    route("PUT", cluster_path + "/firewall", [this, find](const ServerRequest& r) {
        auto* c = find(r);
        if (!c) return not_found();
        auto body = body_object(r);
        auto* rules = body ? body->if_contains("rules") : nullptr;
        if (!rules || !rules->is_array()) return do_error(422, "unprocessable_entity", "rules are required");
        std::vector<FirewallRule> out;
        for (const auto& item : rules->as_array()) {
            if (!item.is_object()) return do_error(422, "unprocessable_entity", "a rule must be an object");
            const auto& o = item.as_object();
            auto type = text(o, "type");
            static const std::set<std::string> types{"droplet", "k8s", "ip_addr", "tag", "app"};
            if (!types.count(type)) return do_error(422, "unprocessable_entity", "invalid rule type " + type);
            out.push_back({new_uuid(), type, text(o, "value"), text(o, "description")});
        }
        c->rules = std::move(out);
        events_.push_back("firewall " + c->name);
        return empty(204);
    });

    route("GET", cluster_path + "/dbs", [find](const ServerRequest& r) {
        auto* c = find(r);
        if (!c) return not_found();
        json::array dbs;
        for (const auto& name : c->dbs) dbs.push_back(json::object{{"name", name}});
        return ServerResponse::json(200, json::serialize(json::object{{"dbs", dbs}}));
    });

    route("POST", cluster_path + "/dbs", [this, find](const ServerRequest& r) {
        auto* c = find(r);
        if (!c) return not_found();
        auto body = body_object(r);
        auto name = body ? text(*body, "name") : std::string();
        if (name.empty()) return do_error(422, "unprocessable_entity", "name is required");
        if (std::find(c->dbs.begin(), c->dbs.end(), name) != c->dbs.end()) {
            return do_error(422, "unprocessable_entity", "database already exists");
        }
        as_superuser(*c, "CREATE DATABASE " + pg::quote_ident(name) + " OWNER doadmin");
        c->dbs.push_back(name);
        events_.push_back("db " + c->name + " " + name);
        return ServerResponse::json(201, json::serialize(json::object{{"db", json::object{{"name", name}}}}));
    });

    auto user_json = [](const std::string& name, const std::string& password) {
        return json::serialize(json::object{
            {"user", json::object{{"name", name}, {"role", name == "doadmin" ? "primary" : "normal"}, {"password", password}}}});
    };

    route("GET", cluster_path + "/users/{username}", [find, user_json](const ServerRequest& r) {
        auto* c = find(r);
        if (!c) return not_found();
        auto it = c->users.find(r.params.at("username"));
        if (it == c->users.end()) return not_found();
        return ServerResponse::json(200, user_json(it->first, it->second));
    });

    route("POST", cluster_path + "/users", [this, find, user_json](const ServerRequest& r) {
        auto* c = find(r);
        if (!c) return not_found();
        auto body = body_object(r);
        auto name = body ? text(*body, "name") : std::string();
        if (name.empty()) return do_error(422, "unprocessable_entity", "name is required");
        if (c->users.count(name)) return do_error(422, "unprocessable_entity", "user already exists");
        c->users[name] = random_password();
        as_superuser(*c, "CREATE ROLE " + pg::quote_ident(name) + " LOGIN PASSWORD '" + c->users[name] + "'");
        events_.push_back("user " + c->name + " " + name);
        return ServerResponse::json(201, user_json(name, c->users[name]));
    });

    route("POST", cluster_path + "/users/{username}/reset_auth", [this, find, user_json](const ServerRequest& r) {
        auto* c = find(r);
        if (!c) return not_found();
        auto it = c->users.find(r.params.at("username"));
        if (it == c->users.end()) return not_found();
        if (!body_object(r)) return do_error(400, "bad_request", "request body is not a JSON object");
        it->second = random_password();
        as_superuser(*c, "ALTER ROLE " + pg::quote_ident(it->first) + " PASSWORD '" + it->second + "'");
        events_.push_back("reset " + c->name + " " + it->first);
        return ServerResponse::json(200, user_json(it->first, it->second));
    });

    route("GET", cluster_path + "/ca", [this, find](const ServerRequest& r) {
        if (!find(r)) return not_found();
        return ServerResponse::json(
            200, json::serialize(json::object{{"ca", json::object{{"certificate", base64(ca_pem_)}}}}));
    });

    // Registered after {database_cluster_uuid}: later routes win, so "options" is not taken for a cluster id.
    route("GET", "/v2/databases/options", [this](const ServerRequest&) { return ServerResponse::json(200, options_json_); });

    route("POST", "/v2/tags", [this](const ServerRequest& r) {
        auto body = body_object(r);
        auto name = body ? text(*body, "name") : std::string();
        static const std::regex pattern("^[a-zA-Z0-9_\\-\\:]+$");
        if (name.empty() || name.size() > 255 || !std::regex_match(name, pattern)) {
            return do_error(400, "bad_request", "invalid tag name");
        }
        tags_.insert(name);
        return ServerResponse::json(201, json::serialize(json::object{
                                             {"tag", json::object{{"name", name},
                                                                  {"resources", json::object{{"count", 0}}}}}}));
    });

    auto tag_resources = [this](const ServerRequest& r, bool add) {
        auto tag = r.params.at("tag_id");
        if (!tags_.count(tag)) return not_found();
        auto body = body_object(r);
        auto* resources = body ? body->if_contains("resources") : nullptr;
        if (!resources || !resources->is_array()) return do_error(422, "unprocessable_entity", "resources are required");
        for (const auto& item : resources->as_array()) {
            if (!item.is_object()) continue;
            const auto& o = item.as_object();
            if (text(o, "resource_type") != "database") {
                return do_error(422, "unprocessable_entity", "this fake only tags databases");
            }
            auto it = clusters_.find(text(o, "resource_id"));
            if (it == clusters_.end()) return not_found();
            auto& tags = it->second.tags;
            bool has = std::find(tags.begin(), tags.end(), tag) != tags.end();
            if (add && !has) tags.push_back(tag);
            if (!add) std::erase(tags, tag);
            events_.push_back((add ? "tag " : "untag ") + it->second.name + " " + tag);
        }
        return empty(204);
    };
    route("POST", "/v2/tags/{tag_id}/resources", [tag_resources](const ServerRequest& r) { return tag_resources(r, true); });
    route("DELETE", "/v2/tags/{tag_id}/resources",
          [tag_resources](const ServerRequest& r) { return tag_resources(r, false); });
}

}  // namespace ece::test
