#include "comment/catalog_report.hpp"

#include "catalog/migrate.hpp"
#include "core/error.hpp"
#include "cost/environment_cost.hpp"
#include "dbt/manifest.hpp"
#include "diff/environment.hpp"
#include "env/environments.hpp"
#include "pg/as_role.hpp"
#include "pg/connect.hpp"
#include "pg/ident.hpp"

#include <boost/json.hpp>

#include <algorithm>
#include <cmath>
#include <map>

namespace ece::comment {
namespace {

namespace json = boost::json;
using std::chrono::duration_cast;
using std::chrono::seconds;

// The cluster's shape from the row's details, else what ece.yml asks branch clusters to be.
std::pair<std::string, int> cluster_shape(const env::Record& record, const config::Config& config) {
    std::pair<std::string, int> shape{config.digitalocean.size, config.digitalocean.node_count};
    boost::system::error_code ec;
    auto details = json::parse(record.details, ec);
    if (ec || !details.is_object()) return shape;
    const auto& o = details.as_object();
    if (auto* size = o.if_contains("size"); size && size->is_string()) shape.first = std::string(size->as_string());
    if (auto* nodes = o.if_contains("num_nodes"); nodes && nodes->is_int64()) {
        shape.second = static_cast<int>(nodes->as_int64());
    }
    return shape;
}

bool is_failure_status(std::string_view status) {
    return status == "error" || status == "fail" || status == "runtime error";
}

// ---- data changes -------------------------------------------------------------------------------------------

struct RelationFacts {
    std::string kind;  // pg_class.relkind
    double estimated_rows = -1;  // reltuples; -1: never analyzed
};

std::optional<RelationFacts> relation_facts(pqxx::connection_base& conn, const std::string& schema,
                                            const std::string& relation) {
    pqxx::read_transaction tx(conn, "comment relation facts");
    auto rows = tx.exec_params(
        "SELECT c.relkind::text, c.reltuples::float8 FROM pg_catalog.pg_class c "
        "JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = $1 AND c.relname = $2",
        schema, relation);
    if (rows.empty()) return std::nullopt;
    return RelationFacts{rows[0][0].as<std::string>(), rows[0][1].as<double>()};
}

struct RowCount {
    std::optional<std::int64_t> rows;
    bool estimated = false;
};

RowCount estimate(const RelationFacts& facts) {
    if (facts.estimated_rows < 0) return {};
    return {std::llround(facts.estimated_rows), true};
}

bool stores_rows(const RelationFacts& facts) { return facts.kind == "r" || facts.kind == "m" || facts.kind == "p"; }

// Counting runs the relation: a view calls whatever the pull request wrote, so it runs as the environment's role.
RowCount count_rows(pqxx::connection_base& conn, const std::string& role, const std::string& schema,
                    const std::string& relation, const RelationFacts& facts, const DataChangeOptions& options) {
    if (stores_rows(facts) && facts.estimated_rows >= static_cast<double>(options.exact_count_below)) {
        return estimate(facts);
    }
    try {
        pqxx::work tx(conn, "comment row count");
        tx.exec("SET LOCAL statement_timeout = " + std::to_string(options.count_timeout.count()));
        auto rows = pg::select_as_role(
            tx, role, "SELECT pg_catalog.count(*) FROM " + pg::quote_ident(schema) + "." + pg::quote_ident(relation),
            "n bigint");
        return {rows.at(0)[0].as<std::int64_t>(), false};
    } catch (const pqxx::sql_error& e) {
        // Timed out, or a view that no longer works: the estimate (or nothing) rather than no comment at all.
        return e.sqlstate() == "57014" && stores_rows(facts) ? estimate(facts) : RowCount{};
    }
}

using Columns = std::vector<std::pair<std::string, std::string>>;  // name, type in column order

Columns columns_of(pqxx::connection_base& conn, const std::string& schema, const std::string& relation) {
    pqxx::read_transaction tx(conn, "comment columns");
    Columns columns;
    for (const auto& row : tx.exec_params(
             "SELECT a.attname::text, pg_catalog.format_type(a.atttypid, a.atttypmod) FROM pg_catalog.pg_attribute a "
             "JOIN pg_catalog.pg_class c ON c.oid = a.attrelid JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace "
             "WHERE n.nspname = $1 AND c.relname = $2 AND a.attnum > 0 AND NOT a.attisdropped ORDER BY a.attnum",
             schema, relation)) {
        columns.emplace_back(row[0].as<std::string>(), row[1].as<std::string>());
    }
    return columns;
}

std::vector<ColumnChange> compare_columns(const Columns& environment, const Columns& production) {
    std::map<std::string, std::string> before(production.begin(), production.end());
    std::map<std::string, std::string> after(environment.begin(), environment.end());
    std::vector<ColumnChange> changes;
    for (const auto& [name, type] : environment) {
        auto it = before.find(name);
        if (it == before.end()) changes.push_back({ColumnChange::Kind::added, name, "", type});
        else if (it->second != type) changes.push_back({ColumnChange::Kind::retyped, name, it->second, type});
    }
    for (const auto& [name, type] : production) {
        if (!after.count(name)) changes.push_back({ColumnChange::Kind::removed, name, type, ""});
    }
    return changes;
}

DataChange compare_relation(pqxx::connection_base& conn, const std::string& role, const dbt::BuiltNode& node,
                            const std::optional<std::string>& production_schema, const DataChangeOptions& options) {
    DataChange change;
    change.model = node.unique_id;
    auto env_facts = relation_facts(conn, node.schema, node.relation);
    if (!env_facts) return change;  // built once, dropped since: nothing to compare
    auto env_count = count_rows(conn, role, node.schema, node.relation, *env_facts, options);
    change.rows_environment = env_count.rows;
    change.rows_environment_estimated = env_count.estimated;
    if (!production_schema) return change;
    auto prod_facts = relation_facts(conn, *production_schema, node.relation);
    if (!prod_facts) return change;  // new in this pull request
    auto prod_count = count_rows(conn, role, *production_schema, node.relation, *prod_facts, options);
    change.rows_production = prod_count.rows;
    change.rows_production_estimated = prod_count.estimated;
    change.columns = compare_columns(columns_of(conn, node.schema, node.relation),
                                     columns_of(conn, *production_schema, node.relation));
    return change;
}

template <class F>
auto reading(const std::string& what, F&& f) -> decltype(f()) {
    try {
        return f();
    } catch (const std::exception& e) {
        throw pg::translate(e, what);
    }
}

}  // namespace

std::optional<env::Record> find_environment(pqxx::connection_base& admin, const env::Identity& id) {
    return reading("reading environment " + id.name + " from the catalog", [&]() -> std::optional<env::Record> {
        if (!catalog::has_table(admin, "ece.environments")) return std::nullopt;
        pqxx::read_transaction tx(admin, "comment environment");
        return env::rows::find(tx, id.name);
    });
}

Status status_of(const env::Record& record, const std::optional<dbt::BuildRow>& build) {
    switch (record.status) {
        case env::Status::destroyed: return Status::destroyed;
        case env::Status::creating: return Status::planning;
        case env::Status::ready: break;
    }
    if (!build) return Status::ready;
    if (build->status == dbt::build_status::running) return Status::building;
    if (build->status == dbt::build_status::failed || build->status == dbt::build_status::mismatch) {
        return Status::failed;
    }
    return Status::ready;
}

Header header_from(const env::Record& record, const std::optional<dbt::BuildRow>& build) {
    Header h;
    h.environment = record.name;
    h.branch = record.branch;
    h.status = status_of(record, build);
    h.head_sha = build && !build->sha.empty() ? build->sha : record.head_sha;
    h.pr_number = record.pr;
    if (record.status != env::Status::destroyed) {
        h.schemas = record.schemas;
        h.created_at = env::format_time(record.created_at);
        if (record.expires_at) h.expires_at = env::format_time(*record.expires_at);
    }
    return h;
}

std::optional<cost::EnvironmentCost> environment_cost(const env::Record& record, const config::Config& config,
                                                      const cost::PriceCatalogue& prices,
                                                      std::optional<std::int64_t> bytes,
                                                      env::Clock::time_point now) {
    auto end = record.destroyed_at.value_or(now);
    // Whole hours: the figure (and with it the comment's digest) changes at most once an hour, so re-running on an
    // unchanged environment stays a no-op.
    auto age = std::max(seconds(0), duration_cast<seconds>(std::chrono::floor<std::chrono::hours>(end - record.created_at)));
    std::optional<seconds> lifetime;
    if (record.expires_at) lifetime = std::max(seconds(0), duration_cast<seconds>(*record.expires_at - record.created_at));
    if (record.provider == "digitalocean") {
        auto [size, nodes] = cluster_shape(record, config);
        cost::Money monthly;
        try {
            monthly = prices.do_database_cluster_monthly(size, nodes);
        } catch (const Error&) {
            return std::nullopt;  // a size the catalogue does not know: not priced
        }
        return cost::cluster_environment_cost(monthly, size + " x " + std::to_string(nodes) +
                                                           (nodes == 1 ? " node" : " nodes"),
                                              age, lifetime);
    }
    auto on_disk = bytes ? bytes : record.bytes;
    return cost::shared_environment_cost(static_cast<std::uint64_t>(std::max<std::int64_t>(0, on_disk.value_or(0))),
                                         cost::Money::from_dollars(config.cost.shared_server_usd_per_gb_month), age,
                                         lifetime);
}

std::int64_t schemas_bytes(pqxx::connection_base& admin, const std::vector<std::string>& schemas) {
    return reading("measuring the environment's size", [&] {
        pqxx::read_transaction tx(admin, "comment size");
        std::int64_t total = 0;
        for (const auto& schema : schemas) {
            total += tx.exec_params(
                           "SELECT coalesce(sum(pg_catalog.pg_total_relation_size(c.oid)), 0)::bigint "
                           "FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace "
                           "WHERE n.nspname = $1 AND c.relkind IN ('r', 'm', 'p')",
                           schema)[0][0]
                         .as<std::int64_t>();
        }
        return total;
    });
}

std::vector<DbtResult> dbt_results_from(const dbt::RunResults& results) {
    std::vector<DbtResult> rows;
    for (const auto& r : results.results) {
        DbtResult row;
        row.unique_id = r.unique_id;
        row.resource_type = r.unique_id.substr(0, r.unique_id.find('.'));
        row.status = r.status;
        row.seconds = r.execution_time;
        row.rows = r.rows_affected;
        row.message = r.message;
        rows.push_back(std::move(row));
    }
    std::stable_partition(rows.begin(), rows.end(), [](const DbtResult& r) { return is_failure_status(r.status); });
    return rows;
}

std::optional<std::string> production_schema_for(std::string_view schema, std::string_view base_schema,
                                                 std::string_view production_schema) {
    return diff::production_schema_for(schema, base_schema, production_schema);
}

std::vector<DataChange> data_changes(pqxx::connection_base& admin, const std::string& environment_role,
                                     const std::vector<dbt::BuiltNode>& nodes, std::string_view base_schema, std::string_view production_schema,
                                     const DataChangeOptions& options) {
    return reading("comparing the environment's data with production", [&] {
        std::vector<DataChange> changes;
        for (const auto& node : nodes) {
            if (node.relation.empty() || node.materialized == "ephemeral") continue;
            if (node.resource_type != "model" && node.resource_type != "seed" && node.resource_type != "snapshot") {
                continue;
            }
            changes.push_back(compare_relation(admin, environment_role, node,
                                               production_schema_for(node.schema, base_schema, production_schema),
                                               options));
        }
        return changes;
    });
}

CatalogFill fill_from_catalog(Report& report, pqxx::connection_base& admin, const env::Identity& id,
                              const config::Config& config, const cost::PriceCatalogue& prices,
                              const FillOptions& options) {
    CatalogFill fill;
    auto record = find_environment(admin, id);
    if (!record) return fill;
    fill.environment_found = true;
    auto build = dbt::latest_build(admin, record->name);
    if (build) fill.build_id = build->id;

    report.header = header_from(*record, build);
    bool alive = record->status != env::Status::destroyed;
    std::optional<std::int64_t> bytes;
    if (alive && record->provider != "digitalocean") bytes = schemas_bytes(admin, record->schemas);
    if (auto env_cost = environment_cost(*record, config, prices, bytes, options.now.value_or(env::Clock::now()))) {
        if (!report.cost) report.cost = CostSection{};
        report.cost->environment = env_cost;
    } else {
        report.warnings.push_back("the environment's cluster size has no price in " + prices.file);
    }

    if (build && options.dbt_plan && !report.dbt_plan) {
        try {
            report.dbt_plan = parse_dbt_plan(build->plan_json, "ece.builds #" + std::to_string(build->id) + " plan");
        } catch (const Error& e) {
            report.warnings.push_back(std::string("the stored dbt plan could not be read: ") + e.what());
        }
    }
    if (build && options.dbt_results && !report.dbt_results && build->run_results_json) {
        try {
            auto results = dbt::parse_run_results(*build->run_results_json,
                                                  "ece.builds #" + std::to_string(build->id) + " run_results");
            report.dbt_results = dbt_results_from(results);
        } catch (const Error& e) {
            report.warnings.push_back(std::string("the stored run results could not be read: ") + e.what());
        }
    }
    if (build && (build->status == dbt::build_status::failed || build->status == dbt::build_status::mismatch) &&
        !build->message.empty()) {
        report.warnings.push_back("dbt build " + build->status + ": " + build->message);
    }
    if (alive && options.data_changes && !config.production.schemas.empty()) {
        auto nodes = dbt::built_nodes(admin, record->name);
        report.data_changes = data_changes(admin, record->role_name, nodes, record->base_schema, config.production.schemas.front(),
                                           options.counting);
        if (options.data_diff && config.diff.enabled) {
            try {
                std::optional<dbt::Manifest> manifest;
                if (options.manifest) manifest = dbt::load_manifest(*options.manifest);
                report.data_diff = diff::diff_environment(admin, *record, nodes, manifest ? &*manifest : nullptr, config);
            } catch (const Error& e) {
                report.warnings.push_back(std::string("the data diff could not be made: ") + e.what());
            }
        }
    }
    return fill;
}

}  // namespace ece::comment
