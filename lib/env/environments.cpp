#include "env/environments.hpp"

#include "catalog/migrate.hpp"
#include "core/error.hpp"
#include "core/secrets.hpp"
#include "pg/embedded.hpp"
#include "pg/lock.hpp"

#include <boost/json.hpp>

#include <algorithm>
#include <cstdlib>
#include <ctime>

namespace ece::env {
namespace {

std::string lock_name(const Identity& id) { return "env:" + id.name; }

Identity identity_of(const Record& record) {
    return Identity{record.name, record.branch, record.pr, record.base_schema, record.role_name};
}

Clock::time_point server_now(pqxx::connection_base& conn) {
    pqxx::read_transaction tx(conn, "env server time");
    double seconds = tx.exec1("SELECT extract(epoch from now())::float8")[0].as<double>();
    return Clock::time_point(std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(seconds)));
}

template <typename Body>
auto in_catalog(const std::string& doing, Body&& body) {
    try {
        return body();
    } catch (const std::exception& e) {
        throw pg::translate(e, doing);
    }
}

}  // namespace

Environments::Environments(Settings settings) : Environments(std::move(settings), nullptr) {}

Environments::Environments(Settings settings, std::unique_ptr<Provider> provider)
    : settings_(std::move(settings)), provider_(std::move(provider)) {
    check_prefix(settings_.config.environments.prefix);
    if (has_catalog()) server_ = pg::parse_url(settings_.admin_url);
    const ErrorLocation where{.file = settings_.config.file.string(), .field = "environments.provider"};
    if (!provider_) {
        const auto& kind = settings_.config.environments.provider;
        if (kind == "digitalocean") {
            provider_ = make_digitalocean_provider(
                settings_.config, settings_.digitalocean.value_or(DigitalOceanOptions::from_environment()));
        } else if (kind == "postgres") {
            if (!has_catalog()) throw Error(ErrorKind::usage, "the postgres provider needs a database URL", where);
            provider_ = make_postgres_provider(settings_.config, server_,
                                               PostgresProviderOptions{.create_production = settings_.embedded});
        } else {
            throw Error(ErrorKind::usage, "environments.provider " + kind + " is not available in this build of ece",
                        where);
        }
    }
    if (!has_catalog() && provider_->needs_catalog()) {
        throw Error(ErrorKind::usage, "the " + provider_->kind() + " provider needs a catalog database URL", where);
    }
}

Environments::~Environments() = default;

pqxx::connection* Environments::admin() {
    if (!has_catalog()) return nullptr;
    if (!admin_) {
        admin_ = pg::connect_owned(settings_.admin_url, "managing environments");
        catalog::migrate(*admin_, "env", env_migrations());
    }
    return admin_.get();
}

namespace {

// No catalog, no lock (see environments.hpp).
std::unique_ptr<pg::AdvisoryLock> lock_if(pqxx::connection* conn, const Identity& id,
                                          std::chrono::milliseconds timeout) {
    if (!conn) return nullptr;
    return std::make_unique<pg::AdvisoryLock>(*conn, lock_name(id), timeout);
}

std::optional<Record> catalog_row(pqxx::connection* conn, const std::string& name) {
    if (!conn) return std::nullopt;
    return in_catalog("reading environment " + name, [&] {
        pqxx::read_transaction tx(*conn, "env find");
        return rows::find(tx, name);
    });
}

}  // namespace

std::optional<Record> Environments::current(pqxx::connection* conn, const Identity& id) {
    auto row = catalog_row(conn, id.name);
    if (row && row->status != Status::destroyed) return row;
    for (auto& found : provider_->discover()) {
        if (found.role_name != id.role) continue;
        // The tags hold the key, not the branch: the caller's names are the better ones.
        found.name = id.name;
        if (!id.branch.empty()) found.branch = id.branch;
        return found;
    }
    return row;
}

std::vector<Record> Environments::all_records(pqxx::connection* conn) {
    std::vector<Record> records;
    if (conn) {
        records = in_catalog("listing environments", [&] {
            pqxx::read_transaction tx(*conn, "env list");
            return rows::all(tx);
        });
    }
    std::set<std::string> alive;
    for (const auto& r : records) {
        if (r.status != Status::destroyed) alive.insert(r.role_name);
    }
    bool added = false;
    for (auto& found : provider_->discover()) {
        if (alive.count(found.role_name)) continue;
        records.push_back(std::move(found));
        added = true;
    }
    if (added) {
        std::stable_sort(records.begin(), records.end(),
                         [](const Record& a, const Record& b) { return a.created_at > b.created_at; });
    }
    return records;
}

Identity Environments::identify(std::string_view branch, std::optional<int> pr) const {
    return env::identify(settings_.config.environments.prefix, branch, pr);
}

UpResult Environments::up(const UpRequest& request) {
    if (request.branch.empty()) throw Error(ErrorKind::usage, "up needs the branch (--branch)");
    const Identity id = identify(request.branch, request.pr);
    const auto ttl = request.ttl.value_or(std::chrono::duration_cast<std::chrono::milliseconds>(
        settings_.config.environments.ttl));
    if (ttl.count() <= 0) throw Error(ErrorKind::usage, "the time to live (--ttl) must be positive");
    auto* conn = admin();
    auto lock = lock_if(conn, id, settings_.lock_timeout);

    UpResult result;
    if (conn) {
        in_catalog("recording environment " + id.name + " in the catalog", [&] {
            pqxx::work tx(*conn, "env up begin");
            auto before = rows::find(tx, id.name);
            result.created = !before || before->status != Status::ready;
            rows::begin_up(tx, id, provider_->kind(), request.head_sha, ttl);
            tx.commit();
        });
    } else {
        auto before = current(nullptr, id);
        result.created = !before || before->status != Status::ready;
    }
    result.credentials = provider_->up(conn, id);
    auto usage = provider_->usage(conn, {id.role})[id.role];
    if (!conn) {
        provider_->renew(id, Clock::now() + ttl);
        auto record = current(nullptr, id);
        if (!record) {
            throw Error(ErrorKind::conflict, "environment " + id.name + " is up but its " + provider_->kind() +
                                                 " resources are not found by their tags");
        }
        record->head_sha = request.head_sha;
        record->status = Status::ready;
        result.record = std::move(*record);
        return result;
    }
    boost::json::object details{
        {"connection_limit", settings_.config.environments.connection_limit},
        {"statement_timeout_ms", settings_.config.environments.statement_timeout.count()},
        {"relations", usage.relations},
    };
    result.record = in_catalog("recording environment " + id.name + " in the catalog", [&] {
        pqxx::work tx(*conn, "env up finish");
        rows::finish_up(tx, id.name, usage.schemas, usage.bytes, boost::json::serialize(details));
        auto record = rows::find(tx, id.name);
        tx.commit();
        return *record;
    });
    if (result.record.expires_at) provider_->renew(id, *result.record.expires_at);
    return result;
}

DownResult Environments::down(const Identity& id) {
    return down_locked(id, [](const std::optional<Record>&) { return true; });
}

DownResult Environments::down_locked(const Identity& requested,
                                     const std::function<bool(const std::optional<Record>&)>& still_wanted) {
    auto* conn = admin();
    auto lock = lock_if(conn, requested, settings_.lock_timeout);
    auto record = current(conn, requested);
    DownResult result{requested, false};
    if (!still_wanted(record)) return result;
    // The recorded names win: the prefix may have changed since the environment was made.
    if (record) result.identity = identity_of(*record);
    const auto roles = provider_->list(conn);
    const bool role_present = std::find(roles.begin(), roles.end(), result.identity.role) != roles.end();
    result.existed = role_present || (record && record->status != Status::destroyed);
    provider_->down(conn, result.identity);
    if (auto row = catalog_row(conn, requested.name); row && row->status != Status::destroyed) {
        in_catalog("recording the removal of environment " + requested.name, [&] {
            pqxx::work tx(*conn, "env down record");
            rows::mark_destroyed(tx, requested.name);
            tx.commit();
        });
    }
    return result;
}

std::vector<Listed> Environments::list() {
    auto* conn = admin();
    auto records = all_records(conn);
    std::vector<std::string> roles;
    for (const auto& r : records) {
        if (r.status != Status::destroyed) roles.push_back(r.role_name);
    }
    auto usage = provider_->usage(conn, roles);
    std::vector<Listed> listed;
    for (auto& r : records) {
        Listed item{std::move(r), std::nullopt};
        if (item.record.status != Status::destroyed) {
            if (auto found = usage.find(item.record.role_name); found != usage.end()) item.usage = found->second;
        }
        listed.push_back(std::move(item));
    }
    return listed;
}

std::vector<GcItem> Environments::gc(const GcOptions& options) {
    auto* conn = admin();
    const auto now = conn ? server_now(*conn) : Clock::now();
    auto records = all_records(conn);
    auto closed = [&](const Record& r) {
        return options.open_pull_requests && r.pr && !options.open_pull_requests->count(*r.pr);
    };
    auto expired = [&](const Record& r) { return r.expires_at && *r.expires_at < now; };
    std::vector<GcItem> items;
    for (const auto& record : records) {
        if (record.status == Status::destroyed || !(expired(record) || closed(record))) continue;
        GcItem item{record, closed(record) ? "pull request #" + std::to_string(*record.pr) + " is closed"
                                           : "expired " + format_time(*record.expires_at),
                    false};
        if (!options.dry_run) {
            // Re-checked under the lock: an up may have renewed it since it was listed.
            auto result = down_locked(identity_of(record), [&](const std::optional<Record>& current) {
                return current && current->status != Status::destroyed && (expired(*current) || closed(*current));
            });
            item.removed = result.existed;
        }
        items.push_back(std::move(item));
    }
    return items;
}

std::optional<Record> Environments::find(const Identity& id) { return current(admin(), id); }

Credentials Environments::issue_credentials(const Identity& id) {
    auto* conn = admin();
    auto lock = lock_if(conn, id, settings_.lock_timeout);
    auto record = current(conn, id);
    if (!record || record->status != Status::ready) {
        throw Error(ErrorKind::conflict, "environment " + id.name + " is not up; run ece-env up first");
    }
    return provider_->issue_credentials(conn, identity_of(*record));
}

ChangePlan Environments::plan_up(const Identity& id) { return provider_->plan_up(admin(), id); }

ChangePlan Environments::plan_down(const Identity& id) { return provider_->plan_down(admin(), id); }

void Environments::forget(const Identity& id) {
    auto* conn = admin();
    if (!conn) return;
    if (auto row = catalog_row(conn, id.name); row && row->status != Status::destroyed) {
        in_catalog("recording that environment " + id.name + " is gone", [&] {
            pqxx::work tx(*conn, "env forget");
            rows::mark_destroyed(tx, id.name);
            tx.commit();
        });
    }
}

void Environments::locked(const Identity& id, const std::function<void()>& body) {
    auto lock = lock_if(admin(), id, settings_.lock_timeout);
    body();
}

Credentials Environments::connection_facts(const Identity& id) const { return provider_->connection_facts(id); }

Settings Settings::resolve(const std::optional<std::string>& database_url_flag, config::Config config) {
    Settings settings;
    const char* configured = std::getenv(config.server.database_url_env.c_str());
    settings.config = std::move(config);
    const char* standard = std::getenv("ECE_DATABASE_URL");
    if (database_url_flag) {
        settings.admin_url = *database_url_flag;
    } else if (configured && *configured) {
        settings.admin_url = configured;
    } else if (settings.config.environments.provider == "digitalocean" && !(standard && *standard)) {
        return settings;  // no catalog: the tags are the state (see environments.hpp)
    } else {
        settings.admin_url = pg::resolve_admin_url(std::nullopt);
        settings.embedded = !standard || !*standard;
    }
    register_secret(settings.admin_url);
    return settings;
}

Credentials Environments::production_facts() const {
    Credentials c = provider_->connection_facts(Identity{});
    c.user = settings_.config.production.role;
    c.schema = settings_.config.production.schemas.empty() ? "public" : settings_.config.production.schemas.front();
    return c;
}

bool password_may_be_shown(bool asked) {
    const char* actions = std::getenv("GITHUB_ACTIONS");
    return asked && !(actions && std::string_view(actions) == "true");
}

pg::SessionLimits session_limits(const config::Config& config) {
    pg::SessionLimits limits;
    limits.statement = config.environments.statement_timeout;
    limits.idle_in_transaction = config.environments.idle_in_transaction_timeout;
    return limits;
}

std::string format_time(Clock::time_point t) {
    std::time_t seconds = Clock::to_time_t(t);
    std::tm utc{};
    gmtime_r(&seconds, &utc);
    char text[32];
    std::strftime(text, sizeof text, "%Y-%m-%dT%H:%M:%SZ", &utc);
    return text;
}

}  // namespace ece::env
