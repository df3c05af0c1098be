// The postgres provider: an environment is a login role plus the schemas it owns, in the production database.
//
// Privileges, all through one NOLOGIN group role (<prefix>_environments) the environment roles are members of:
//   group: CONNECT on the database, USAGE on every production schema and SELECT on every production relation, now
//          and later (ALTER DEFAULT PRIVILEGES FOR ROLE <production role> ... ON TABLES / ON SCHEMAS). It can
//          create nothing, so it owns nothing: a member that SETs ROLE to it gains no shared space.
//   role:  LOGIN, CONNECTION LIMIT, statement_timeout, idle_in_transaction_session_timeout, temp_file_limit (see
//          enforce_session_limits), no CREATE on the database (ece creates its schemas: the base schema here, the
//          raw one in lib/stage, dbt's custom ones before each build), owner of its schemas and what it creates.
// Nothing grants anything on an environment's schemas to anyone, and the catalog schema is closed to PUBLIC, so an
// environment reads neither another environment nor the catalog; it writes production nowhere.
#include "env/provider.hpp"

#include "core/error.hpp"
#include "pg/ident.hpp"
#include "pg/lock.hpp"

#include <algorithm>

namespace ece::env {
namespace {

constexpr std::string_view shared_setup_lock = pg::shared_privileges_lock;
constexpr const char* drop_lock_timeout = "30s";

struct Admin {
    std::string user;
    std::string database;
    bool superuser = false;
};

Admin whoami(pqxx::transaction_base& tx) {
    auto row = tx.exec1("SELECT current_user, current_database(),"
                        " (SELECT rolsuper FROM pg_roles WHERE rolname = current_user)");
    return Admin{row[0].as<std::string>(), row[1].as<std::string>(), row[2].as<bool>()};
}

bool role_exists(pqxx::transaction_base& tx, const std::string& role) {
    return tx.exec_params1("SELECT count(*) FROM pg_roles WHERE rolname = $1", role)[0].as<int>() > 0;
}

std::string joined_lines(const std::vector<std::string>& names) {
    std::string out;
    for (const auto& n : names) out += (out.empty() ? "" : "\n") + n;
    return out;
}

// A non-superuser admin (a managed server's admin with CREATEROLE) acts on a role's objects (CREATE SCHEMA ...
// AUTHORIZATION, ALTER DEFAULT PRIVILEGES FOR ROLE, DROP OWNED BY) only as a member of that role.
void ensure_member(pqxx::transaction_base& tx, const Admin& admin, const std::string& role) {
    if (admin.superuser) return;
    if (tx.exec_params1("SELECT pg_has_role(current_user, $1, 'USAGE')", role)[0].as<bool>()) return;
    tx.exec("GRANT " + pg::quote_ident(role) + " TO CURRENT_USER");
}

// The postgres provider lives in the catalog's database: it always has the connection.
pqxx::connection_base& need(pqxx::connection_base* catalog) {
    if (!catalog) throw Error(ErrorKind::internal, "the postgres provider was called without its database");
    return *catalog;
}

class PostgresProvider final : public Provider {
public:
    PostgresProvider(const config::Config& config, const pg::ConnectionFacts& server, PostgresProviderOptions options)
        : config_(config), server_(server), options_(options), group_(group_role(config.environments.prefix)) {}

    std::string kind() const override { return "postgres"; }

    Credentials up(pqxx::connection_base* catalog, const Identity& id) override {
        Credentials credentials = connection_facts(id);
        credentials.password = random_password();
        try {
            pqxx::work tx(need(catalog), "env up");
            // Shared objects (group role, database and production grants) are touched by every up; concurrent
            // GRANTs on one object fail with "tuple concurrently updated", so ups in a database take turns here.
            pg::take_transaction_lock(tx, shared_setup_lock);
            const Admin me = whoami(tx);
            ensure_production(tx, me);
            ensure_group(tx, me);
            ensure_production_readable(tx, me);
            check_capacity(tx, id);
            ensure_role(tx, me, id, credentials.password);
            ensure_base_schema(tx, me, id);
            tx.commit();
        } catch (const std::exception& e) {
            throw pg::translate(e, "bringing up environment " + id.name);
        }
        return credentials;
    }

    void down(pqxx::connection_base* catalog, const Identity& id) override {
        try {
            // First shut the door and end its sessions (committed, so new logins fail at once), then drop.
            {
                pqxx::work tx(need(catalog), "env down: sessions");
                if (role_exists(tx, id.role)) {
                    ensure_member(tx, whoami(tx), id.role);
                    tx.exec("ALTER ROLE " + pg::quote_ident(id.role) + " NOLOGIN");
                    tx.exec_params("SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                                   " WHERE usename = $1 AND pid <> pg_backend_pid()",
                                   id.role);
                }
                tx.commit();
            }
            pqxx::work tx(need(catalog), "env down");
            tx.exec(std::string("SET LOCAL lock_timeout = '") + drop_lock_timeout + "'");
            // DROP OWNED BY revokes the role's grants on shared objects: one down at a time, as ups (and staging).
            pg::take_transaction_lock(tx, shared_setup_lock);
            const Admin me = whoami(tx);
            const bool exists = role_exists(tx, id.role);
            if (exists) tx.exec("DROP OWNED BY " + pg::quote_ident(id.role));
            // A base schema left behind by an interrupted first up belongs to the admin; anyone else's stays.
            auto owner = tx.exec_params("SELECT r.rolname FROM pg_namespace n JOIN pg_roles r ON r.oid = n.nspowner"
                                        " WHERE n.nspname = $1",
                                        id.base_schema);
            if (!owner.empty() && owner[0][0].as<std::string>() == me.user) {
                tx.exec("DROP SCHEMA " + pg::quote_ident(id.base_schema) + " CASCADE");
            }
            if (exists) tx.exec("DROP ROLE " + pg::quote_ident(id.role));
            tx.commit();
        } catch (const std::exception& e) {
            throw pg::translate(e, "removing environment " + id.name);
        }
    }

    Credentials issue_credentials(pqxx::connection_base* catalog, const Identity& id) override {
        Credentials credentials = connection_facts(id);
        try {
            pqxx::work tx(need(catalog), "env credentials");
            if (!role_exists(tx, id.role)) {
                throw Error(ErrorKind::conflict,
                            "environment " + id.name + " is not up (no role " + id.role + "); run ece-env up first");
            }
            credentials.password = random_password();
            tx.exec("ALTER ROLE " + pg::quote_ident(id.role) + " WITH LOGIN PASSWORD " +
                    tx.quote(scram_sha256_verifier(credentials.password)));
            enforce_session_limits(tx, whoami(tx), id.role);
            tx.commit();
        } catch (const std::exception& e) {
            throw pg::translate(e, "issuing credentials for environment " + id.name);
        }
        return credentials;
    }

    Credentials connection_facts(const Identity& id) const override {
        Credentials c;
        c.host = server_.host;
        c.port = server_.port.empty() ? "5432" : server_.port;
        c.dbname = server_.dbname.empty() ? server_.user : server_.dbname;
        c.user = id.role;
        c.schema = id.base_schema;
        for (const auto& [key, value] : server_.options) {
            if (key.rfind("ssl", 0) == 0) c.options.emplace(key, value);
        }
        return c;
    }

    std::vector<std::string> list(pqxx::connection_base* catalog) override {
        try {
            pqxx::read_transaction tx(need(catalog), "env list roles");
            std::vector<std::string> roles;
            for (const auto& row : tx.exec_params(
                     "SELECT m.rolname FROM pg_auth_members a JOIN pg_roles g ON g.oid = a.roleid"
                     " JOIN pg_roles m ON m.oid = a.member WHERE g.rolname = $1 ORDER BY 1",
                     group_)) {
                roles.push_back(row[0].as<std::string>());
            }
            return roles;
        } catch (const std::exception& e) {
            throw pg::translate(e, "listing environment roles");
        }
    }

    std::map<std::string, Usage> usage(pqxx::connection_base* catalog, const std::vector<std::string>& roles) override {
        std::map<std::string, Usage> result;
        if (roles.empty()) return result;
        try {
            pqxx::read_transaction tx(need(catalog), "env usage");
            for (const auto& row : tx.exec_params(
                     "SELECT r.rolname, n.nspname,"
                     " coalesce(sum(pg_total_relation_size(c.oid)) FILTER (WHERE c.relkind IN ('r', 'm')), 0)::bigint,"
                     " count(c.oid) FILTER (WHERE c.relkind IN ('r', 'v', 'm', 'S', 'f', 'p'))"
                     " FROM pg_roles r JOIN pg_namespace n ON n.nspowner = r.oid"
                     " LEFT JOIN pg_class c ON c.relnamespace = n.oid"
                     " WHERE r.rolname = ANY (string_to_array($1, E'\\n'))"
                     " GROUP BY 1, 2 ORDER BY 1, 2",
                     joined_lines(roles))) {
                auto& u = result[row[0].as<std::string>()];
                u.schemas.push_back(row[1].as<std::string>());
                u.bytes += row[2].as<std::int64_t>();
                u.relations += row[3].as<int>();
            }
        } catch (const std::exception& e) {
            throw pg::translate(e, "measuring environments");
        }
        return result;
    }

    ChangePlan plan_up(pqxx::connection_base* catalog, const Identity& id) override {
        ChangePlan plan;
        const bool exists = present(catalog, id);
        plan.changes.push_back({exists ? "reuse" : "create", id.role,
                                exists ? "role and schema " + id.base_schema + " (new password)"
                                       : "login role " + id.role + " and schema " + id.base_schema + " on " +
                                             (server_.host.empty() ? "localhost" : server_.host),
                                std::nullopt, std::nullopt});
        return plan;
    }

    ChangePlan plan_down(pqxx::connection_base* catalog, const Identity& id) override {
        ChangePlan plan;
        if (present(catalog, id)) {
            plan.changes.push_back({"delete", id.role, "role " + id.role + " and everything it owns", std::nullopt,
                                    std::nullopt});
        }
        return plan;
    }

private:
    bool present(pqxx::connection_base* catalog, const Identity& id) {
        try {
            pqxx::read_transaction tx(need(catalog), "env plan");
            return role_exists(tx, id.role);
        } catch (const std::exception& e) {
            throw pg::translate(e, "planning environment " + id.name);
        }
    }

    const std::string& production_role() const { return config_.production.role; }

    void ensure_production(pqxx::transaction_base& tx, const Admin& me) {
        const std::string& prod = production_role();
        if (!role_exists(tx, prod)) {
            if (!options_.create_production) {
                throw Error(ErrorKind::usage, "the production role \"" + prod +
                                                  "\" does not exist on the server; create it (the owner of dbt's "
                                                  "production schemas) or set production.role in ece.yml",
                            ErrorLocation{.field = "production.role"});
            }
            tx.exec("CREATE ROLE " + pg::quote_ident(prod) + " NOLOGIN");
        }
        if (!options_.create_production) return;
        // Production's dbt creates its custom schemas "<schema>_<custom>".
        if (!tx.exec_params1("SELECT has_database_privilege($1, current_database(), 'CREATE')", prod)[0].as<bool>()) {
            tx.exec("GRANT CREATE ON DATABASE " + pg::quote_ident(me.database) + " TO " + pg::quote_ident(prod));
        }
        for (const auto& schema : config_.production.schemas) {
            if (tx.exec_params1("SELECT count(*) FROM pg_namespace WHERE nspname = $1", schema)[0].as<int>() > 0) continue;
            ensure_member(tx, me, prod);
            tx.exec("CREATE SCHEMA " + pg::quote_ident(schema) + " AUTHORIZATION " + pg::quote_ident(prod));
        }
    }

    void ensure_group(pqxx::transaction_base& tx, const Admin& me) {
        if (!role_exists(tx, group_)) {
            // Roles are cluster-wide: another database's ece may create it at the same moment.
            tx.exec("DO $ece$ BEGIN CREATE ROLE " + pg::quote_ident(group_) +
                    " NOLOGIN; EXCEPTION WHEN duplicate_object THEN NULL; END $ece$");
        }
        if (!tx.exec_params1("SELECT has_database_privilege($1, current_database(), 'CONNECT')", group_)[0].as<bool>()) {
            tx.exec("GRANT CONNECT ON DATABASE " + pg::quote_ident(me.database) + " TO " + pg::quote_ident(group_));
        }
    }

    void ensure_production_readable(pqxx::transaction_base& tx, const Admin& me) {
        const std::string& prod = production_role();
        auto schemas = tx.exec_params(
            "SELECT n.nspname, has_schema_privilege($1, n.oid, 'USAGE'),"
            " EXISTS (SELECT 1 FROM pg_class c WHERE c.relnamespace = n.oid AND c.relkind IN ('r', 'v', 'm', 'f', 'p')"
            "         AND NOT has_table_privilege($1, c.oid, 'SELECT'))"
            " FROM pg_namespace n"
            " WHERE n.nspname = ANY (string_to_array($2, E'\\n'))"
            "    OR n.nspowner = (SELECT oid FROM pg_roles WHERE rolname = $3)",
            group_, joined_lines(config_.production.schemas), prod);
        for (const auto& row : schemas) {
            const std::string schema = pg::quote_ident(row[0].as<std::string>());
            const bool has_usage = row[1].as<bool>(), missing_select = row[2].as<bool>();
            if (has_usage && !missing_select) continue;
            ensure_member(tx, me, prod);
            if (!has_usage) tx.exec("GRANT USAGE ON SCHEMA " + schema + " TO " + pg::quote_ident(group_));
            if (missing_select) tx.exec("GRANT SELECT ON ALL TABLES IN SCHEMA " + schema + " TO " + pg::quote_ident(group_));
        }
        // Relations and schemas production creates later are readable too.
        auto defaults = tx.exec_params1(
            "SELECT count(*) FROM pg_default_acl d, aclexplode(d.defaclacl) a"
            " WHERE d.defaclrole = (SELECT oid FROM pg_roles WHERE rolname = $1) AND d.defaclnamespace = 0"
            "   AND a.grantee = (SELECT oid FROM pg_roles WHERE rolname = $2)"
            "   AND ((d.defaclobjtype = 'r' AND a.privilege_type = 'SELECT')"
            "     OR (d.defaclobjtype = 'n' AND a.privilege_type = 'USAGE'))",
            prod, group_)[0]
                            .as<int>();
        if (defaults < 2) {
            ensure_member(tx, me, prod);
            const std::string for_prod = "ALTER DEFAULT PRIVILEGES FOR ROLE " + pg::quote_ident(prod);
            tx.exec(for_prod + " GRANT SELECT ON TABLES TO " + pg::quote_ident(group_));
            tx.exec(for_prod + " GRANT USAGE ON SCHEMAS TO " + pg::quote_ident(group_));
        }
    }

    void ensure_role(pqxx::transaction_base& tx, const Admin& me, const Identity& id, const std::string& password) {
        const std::string role = pg::quote_ident(id.role);
        std::string attributes = "LOGIN INHERIT CONNECTION LIMIT " + std::to_string(config_.environments.connection_limit);
        // Only a superuser may name these (even to turn them off); it also repairs a tampered role with them.
        if (me.superuser) attributes += " NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS";
        attributes += " PASSWORD " + tx.quote(scram_sha256_verifier(password));
        if (role_exists(tx, id.role)) {
            tx.exec("ALTER ROLE " + role + " WITH " + attributes);
        } else {
            tx.exec("CREATE ROLE " + role + " WITH " + attributes);
        }
        ensure_member(tx, me, id.role);
        enforce_session_limits(tx, me, id.role);
        if (!tx.exec_params1("SELECT pg_has_role($1, $2, 'MEMBER')", id.role, group_)[0].as<bool>()) {
            tx.exec("GRANT " + pg::quote_ident(group_) + " TO " + role);
        }
        // No CREATE on the database: with it the role could squat schemas (another environment's, a production
        // custom schema, an archive's name). ece creates the environment's schemas itself (dbt/env_schemas.hpp);
        // an environment made by an older ece loses the privilege here.
        tx.exec("REVOKE CREATE ON DATABASE " + pg::quote_ident(me.database) + " FROM " + role);
    }

    // The role's session settings, re-applied by every up and build. A role may change its own defaults (ALTER ROLE
    // current_user [IN DATABASE ...] SET), so whatever it set is reset first; statement_timeout and the idle timeout
    // it may still lift within a session, which is why builds run under pg::SessionWatchdog. temp_file_limit only a
    // superuser may set, or change.
    void enforce_session_limits(pqxx::transaction_base& tx, const Admin& me, const std::string& role_name) {
        const auto& limits = config_.environments;
        const std::string role = "ALTER ROLE " + pg::quote_ident(role_name);
        tx.exec(role + " RESET ALL");
        tx.exec(role + " IN DATABASE " + pg::quote_ident(me.database) + " RESET ALL");
        tx.exec(role + " SET statement_timeout = " + tx.quote(std::to_string(limits.statement_timeout.count()) + "ms"));
        tx.exec(role + " SET idle_in_transaction_session_timeout = " +
                tx.quote(std::to_string(limits.idle_in_transaction_timeout.count()) + "ms"));
        if (me.superuser && limits.temp_file_limit_mb >= 0) {
            tx.exec(role + " SET temp_file_limit = " + tx.quote(std::to_string(limits.temp_file_limit_mb) + "MB"));
        }
    }

    // The server-wide caps, checked for a new environment under the shared-setup lock (two ups cannot both pass).
    void check_capacity(pqxx::transaction_base& tx, const Identity& id) {
        if (role_exists(tx, id.role)) return;
        const auto& limits = config_.environments;
        const int live = tx.exec_params1("SELECT count(*) FROM pg_auth_members a JOIN pg_roles g ON g.oid = a.roleid"
                                         " WHERE g.rolname = $1",
                                         group_)[0]
                             .as<int>();
        if (live >= limits.max_environments) {
            throw Error(ErrorKind::conflict, "cannot create environment " + id.name + ": the server holds " +
                                                 std::to_string(live) + " environments, the most allowed "
                                                 "(environments.max_environments); take some down or raise it",
                        ErrorLocation{.field = "environments.max_environments"});
        }
        if (static_cast<long long>(live + 1) * limits.connection_limit > limits.max_connections) {
            throw Error(ErrorKind::conflict,
                        "cannot create environment " + id.name + ": " + std::to_string(live + 1) + " environments of " +
                            std::to_string(limits.connection_limit) + " connections each would exceed " +
                            "environments.max_connections (" + std::to_string(limits.max_connections) + ")",
                        ErrorLocation{.field = "environments.max_connections"});
        }
    }

    void ensure_base_schema(pqxx::transaction_base& tx, const Admin& me, const Identity& id) {
        auto owner = tx.exec_params("SELECT r.rolname FROM pg_namespace n JOIN pg_roles r ON r.oid = n.nspowner"
                                    " WHERE n.nspname = $1",
                                    id.base_schema);
        const std::string schema = pg::quote_ident(id.base_schema), role = pg::quote_ident(id.role);
        if (owner.empty()) {
            tx.exec("CREATE SCHEMA " + schema + " AUTHORIZATION " + role);
            return;
        }
        const std::string current = owner[0][0].as<std::string>();
        if (current == id.role) return;
        if (current != me.user) {
            // e.g. another environment's dbt custom schema "<its base>_<custom>" that happens to be our base name.
            throw Error(ErrorKind::conflict, "schema " + id.base_schema + " already exists and belongs to role " +
                                                 current + "; environment " + id.name + " cannot use it");
        }
        tx.exec("ALTER SCHEMA " + schema + " OWNER TO " + role);
    }

    config::Config config_;
    pg::ConnectionFacts server_;
    PostgresProviderOptions options_;
    std::string group_;
};

}  // namespace

std::unique_ptr<Provider> make_postgres_provider(const config::Config& config, const pg::ConnectionFacts& server,
                                                 PostgresProviderOptions options) {
    check_prefix(config.environments.prefix);
    return std::make_unique<PostgresProvider>(config, server, options);
}

}  // namespace ece::env
