#include "dbt/stateful.hpp"

#include "dbt/build.hpp"
#include "core/error.hpp"
#include "core/secrets.hpp"
#include "pg/connect.hpp"
#include "pg/ident.hpp"

#include <boost/json.hpp>

namespace ece::dbt {
namespace {

std::string relation_name(const Node& node) { return std::string(node.alias.empty() ? node.name : node.alias); }

std::string qualified(std::string_view schema, std::string_view name) {
    return pg::quote_ident(std::string(schema)) + "." + pg::quote_ident(std::string(name));
}

// The environment's schemas are its base schema and "<base>_<anything>" (custom schemas); a node built elsewhere
// (a snapshot's fixed target_schema) is none of the environment's business here.
bool in_environment(std::string_view schema, const std::string& base) {
    return schema == base || (schema.size() > base.size() + 1 && schema.substr(0, base.size()) == base &&
                              schema[base.size()] == '_');
}

// As the environment's role: ece hands the copy nothing beyond what dbt itself gets.
pqxx::connection connect_as_environment(const BuildTarget& target) {
    pg::ConnectionFacts facts;
    facts.host = target.host;
    facts.port = target.port;
    facts.user = target.user;
    facts.password = target.password;
    facts.dbname = target.dbname;
    if (!target.sslmode.empty()) facts.options["sslmode"] = target.sslmode;
    if (!target.sslrootcert.empty()) facts.options["sslrootcert"] = target.sslrootcert;
    const auto url = pg::make_url(facts);
    register_secret(url);
    return pg::connect(url, "starting stateful nodes from production");
}

// Whether production holds a table (plain or partitioned) under that name.
bool production_table_exists(pqxx::transaction_base& tx, std::string_view schema, std::string_view name) {
    return tx.exec_params1("SELECT EXISTS (SELECT 1 FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
                           "WHERE n.nspname = $1 AND c.relname = $2 AND c.relkind IN ('r', 'p'))",
                           std::string(schema), std::string(name))[0]
        .as<bool>();
}

// Drops whatever the environment holds under that name (a table from an earlier build, or a view).
void drop_environment_relation(pqxx::transaction_base& tx, std::string_view schema, std::string_view name) {
    const auto kind = tx.exec_params("SELECT c.relkind::text FROM pg_class c JOIN pg_namespace n "
                                     "ON n.oid = c.relnamespace WHERE n.nspname = $1 AND c.relname = $2",
                                     std::string(schema), std::string(name));
    if (kind.empty()) return;
    const auto relkind = kind[0][0].as<std::string>();
    const char* what = relkind == "v" ? "VIEW" : relkind == "m" ? "MATERIALIZED VIEW" : "TABLE";
    // CASCADE: the environment's own views on it; dbt rebuilds them (they are downstream, hence planned).
    tx.exec0(std::string("DROP ") + what + " " + qualified(schema, name) + " CASCADE");
}

}  // namespace

bool is_stateful(const Node& node) {
    return node.type == ResourceType::snapshot ||
           (node.type == ResourceType::model && node.materialized == "incremental");
}

bool asks_full_refresh(const Node& node) {
    const auto* meta = node.unrendered("meta");
    if (!meta) return false;
    boost::system::error_code ec;
    const auto value = boost::json::parse(*meta, ec);
    if (ec || !value.is_object()) return false;
    const auto* ece = value.as_object().if_contains("ece");
    if (!ece || !ece->is_object()) return false;
    const auto* full_refresh = ece->as_object().if_contains("full_refresh");
    return full_refresh && full_refresh->is_bool() && full_refresh->as_bool();
}

bool refuses_full_refresh(const Node& node) {
    const auto* full_refresh = node.unrendered("full_refresh");
    return full_refresh && *full_refresh == "false";
}

std::string_view to_string(StatefulStart::How how) {
    switch (how) {
        case StatefulStart::How::from_production: return "from production";
        case StatefulStart::How::full_refresh: return "full refresh";
        case StatefulStart::How::new_node: return "new";
    }
    return "?";
}

std::string describe(const StatefulStart& start) {
    switch (start.how) {
        case StatefulStart::How::from_production:
            return start.unique_id + " starts from production's " + start.production_relation + " (" +
                   std::to_string(start.rows) + " rows copied into " + start.environment_relation +
                   "): dbt runs it incrementally";
        case StatefulStart::How::full_refresh:
            return start.unique_id + ": full refresh asked for, built from scratch into " + start.environment_relation;
        case StatefulStart::How::new_node:
            return start.unique_id + " is not in production yet: built from scratch into " +
                   start.environment_relation;
    }
    return start.unique_id;
}

std::vector<StatefulStart> start_stateful_nodes(const BuildTarget& target, const Plan& plan, const Manifest& branch,
                                                const Manifest& production, bool full_refresh_all) {
    std::vector<StatefulStart> started;
    std::vector<std::pair<const Node*, const Node*>> nodes;  // (branch, production or nullptr)
    for (const auto& planned : plan.selected) {
        const Node* node = branch.find(planned.unique_id);
        if (!node || !is_stateful(*node) || !in_environment(node->schema, target.schema)) continue;
        const Node* in_production = production.find(planned.unique_id);
        nodes.emplace_back(node, in_production && is_stateful(*in_production) ? in_production : nullptr);
    }
    if (nodes.empty()) return started;
    std::string doing = "starting the stateful nodes of environment " + target.environment + " from production";
    try {
        auto conn = connect_as_environment(target);
        pqxx::work tx(conn, "stateful start");
        for (const auto& [node, in_production] : nodes) {
            StatefulStart start;
            start.unique_id = std::string(node->unique_id);
            start.environment_relation = qualified(node->schema, relation_name(*node));
            doing = "starting " + start.unique_id + " (" + start.environment_relation + ") from production";
            drop_environment_relation(tx, node->schema, relation_name(*node));
            if ((full_refresh_all || asks_full_refresh(*node)) && !refuses_full_refresh(*node)) {
                start.how = StatefulStart::How::full_refresh;
            } else if (in_production && production_table_exists(tx, in_production->schema, relation_name(*in_production))) {
                start.how = StatefulStart::How::from_production;
                start.production_relation = qualified(in_production->schema, relation_name(*in_production));
                // ece made the environment's schemas (the role may not create any); created here only where the
                // role may (a cluster of its own), since CREATE SCHEMA IF NOT EXISTS checks the privilege first.
                if (tx.exec_params("SELECT 1 FROM pg_catalog.pg_namespace WHERE nspname = $1",
                                   std::string(node->schema)).empty())
                    tx.exec0("CREATE SCHEMA " + pg::quote_ident(std::string(node->schema)));
                tx.exec0("CREATE TABLE " + start.environment_relation + " (LIKE " + start.production_relation +
                         " INCLUDING DEFAULTS INCLUDING CONSTRAINTS INCLUDING INDEXES INCLUDING COMMENTS)");
                start.rows = static_cast<std::int64_t>(
                    tx.exec0("INSERT INTO " + start.environment_relation + " SELECT * FROM " +
                             start.production_relation)
                        .affected_rows());
            }
            started.push_back(std::move(start));
        }
        tx.commit();
        return started;
    } catch (const Error&) {
        throw;
    } catch (const std::exception& e) {
        throw pg::translate(e, doing);
    }
}

}  // namespace ece::dbt
