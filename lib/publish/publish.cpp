#include "publish/publish.hpp"

#include "catalog/migrate.hpp"
#include "core/error.hpp"
#include "core/random.hpp"
#include "dbt/catalog.hpp"
#include "pg/connect.hpp"
#include "pg/ident.hpp"
#include "pg/lock.hpp"
#include "publish/json.hpp"
#include "publish/swap.hpp"
#include "stage/usage.hpp"

#include <thread>

namespace ece::publish {
namespace {

using Clock = std::chrono::steady_clock;
namespace json = boost::json;

const std::vector<catalog::Migration>& publish_migrations() {
    static const std::vector<catalog::Migration> migrations = {
        {1, "publishes",
         "CREATE TABLE ece.publishes ("
         " id bigserial PRIMARY KEY,"
         " kind text NOT NULL DEFAULT 'publish' CHECK (kind IN ('publish', 'rollback')),"
         " environment text NOT NULL,"
         " pr bigint,"
         " sha text NOT NULL DEFAULT '',"
         " archive_schema text,"
         " archive_schemas text[] NOT NULL DEFAULT '{}',"
         " relations jsonb NOT NULL DEFAULT '[]',"
         " rebound_views jsonb NOT NULL DEFAULT '[]',"
         " status text NOT NULL DEFAULT 'running' CHECK (status IN ('running', 'published', 'failed')),"
         " error text,"
         " attempts integer NOT NULL DEFAULT 0,"
         " started_at timestamptz NOT NULL DEFAULT clock_timestamp(),"
         " finished_at timestamptz,"
         " duration_ms bigint,"
         " rolls_back bigint REFERENCES ece.publishes (id),"
         " rolled_back_at timestamptz,"
         " rolled_back_by bigint REFERENCES ece.publishes (id),"
         " archive_dropped_at timestamptz);"
         "CREATE INDEX publishes_environment ON ece.publishes (environment, id DESC);"},
    };
    return migrations;
}

std::chrono::milliseconds since(Clock::time_point start) {
    return std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - start);
}

bool is_lock_conflict(const pqxx::sql_error& e) { return e.sqlstate() == "55P03" || e.sqlstate() == "40P01"; }

std::string relations_json(const std::vector<RelationMove>& moves) {
    json::array list;
    for (const auto& m : moves) list.push_back(to_json(m));
    return json::serialize(list);
}

std::string views_json(const std::vector<QualifiedName>& views) {
    json::array list;
    for (const auto& v : views) list.push_back(to_json(v));
    return json::serialize(list);
}

std::string text_array(const std::vector<std::string>& items) {
    std::string out = "{";
    for (std::size_t i = 0; i < items.size(); ++i) {
        out += i ? "," : "";
        out += "\"";
        for (char c : items[i]) {
            if (c == '"' || c == '\\') out.push_back('\\');
            out.push_back(c);
        }
        out += "\"";
    }
    return out + "}";
}

std::vector<std::string> parse_text_array(pqxx::field field) {
    std::vector<std::string> out;
    auto parser = field.as_array();
    for (auto [kind, value] = parser.get_next(); kind != pqxx::array_parser::done; std::tie(kind, value) = parser.get_next()) {
        if (kind == pqxx::array_parser::string_value) out.push_back(value);
    }
    return out;
}

const char* record_columns =
    "id, kind, environment, pr, sha, coalesce(archive_schema, ''), archive_schemas, relations::text, "
    "rebound_views::text, status, coalesce(error, ''), started_at::text, coalesce(finished_at::text, ''), "
    "duration_ms, rolls_back, coalesce(rolled_back_at::text, ''), rolled_back_by, archive_dropped_at IS NOT NULL";

PublishRecord record_from(const pqxx::row& row) {
    PublishRecord r;
    r.id = row[0].as<std::int64_t>();
    r.kind = row[1].as<std::string>();
    r.environment = row[2].as<std::string>();
    if (!row[3].is_null()) r.pr = row[3].as<std::int64_t>();
    r.sha = row[4].as<std::string>();
    r.archive_schema = row[5].as<std::string>();
    r.archive_schemas = parse_text_array(row[6]);
    auto relations = json::parse(row[7].as<std::string>());
    for (const auto& m : relations.as_array()) r.relations.push_back(relation_move_from_json(m));
    auto rebound = json::parse(row[8].as<std::string>());
    for (const auto& v : rebound.as_array()) {
        r.rebound_views.push_back({std::string(v.at("schema").as_string()), std::string(v.at("name").as_string())});
    }
    r.status = row[9].as<std::string>();
    r.error = row[10].as<std::string>();
    r.started_at = row[11].as<std::string>();
    r.finished_at = row[12].as<std::string>();
    if (!row[13].is_null()) r.duration_ms = row[13].as<std::int64_t>();
    if (!row[14].is_null()) r.rolls_back = row[14].as<std::int64_t>();
    r.rolled_back_at = row[15].as<std::string>();
    if (!row[16].is_null()) r.rolled_back_by = row[16].as<std::int64_t>();
    r.archive_dropped = row[17].as<bool>();
    return r;
}

std::optional<PublishRecord> find_record(pqxx::connection& conn, std::int64_t id) {
    pqxx::read_transaction tx(conn, "publish record");
    auto rows = tx.exec_params(std::string("SELECT ") + record_columns + " FROM ece.publishes WHERE id = $1", id);
    if (rows.empty()) return std::nullopt;
    return record_from(rows[0]);
}

std::int64_t insert_running(pqxx::connection& conn, const std::string& kind, const std::string& environment,
                            std::optional<std::int64_t> pr, const std::string& sha,
                            std::optional<std::int64_t> rolls_back) {
    pqxx::work tx(conn, "publish record");
    // Both callers hold the database's "publish" lock: a row still running belongs to a process that died (killed,
    // machine lost) before recording its end. Its transaction never committed, so production is as it was.
    tx.exec("UPDATE ece.publishes SET status = 'failed', finished_at = clock_timestamp(), error = 'interrupted: the"
            " process ended before recording a result; nothing of it was committed' WHERE status = 'running'");
    auto id = tx.exec_params1("INSERT INTO ece.publishes (kind, environment, pr, sha, rolls_back) "
                              "VALUES ($1, $2, $3, $4, $5) RETURNING id",
                              kind, environment, pr, sha, rolls_back)[0]
                  .as<std::int64_t>();
    tx.commit();
    return id;
}

void record_failure(pqxx::connection& conn, std::int64_t id, const std::string& error, int attempts,
                    std::chrono::milliseconds duration) {
    try {
        pqxx::work tx(conn, "publish failure record");
        tx.exec_params("UPDATE ece.publishes SET status = 'failed', error = $2, attempts = $3, "
                       "finished_at = clock_timestamp(), duration_ms = $4 WHERE id = $1",
                       id, error, attempts, static_cast<std::int64_t>(duration.count()));
        tx.commit();
    } catch (const std::exception&) {
        // The swap's own error is what matters; a record that stays "running" says it did not finish.
    }
}

void record_success(pqxx::transaction_base& tx, std::int64_t id, const detail::SwapOutcome& outcome, int attempts,
                    std::chrono::milliseconds duration) {
    tx.exec_params("UPDATE ece.publishes SET status = 'published', archive_schema = $2, archive_schemas = $3::text[], "
                   "relations = $4::jsonb, rebound_views = $5::jsonb, attempts = $6, finished_at = clock_timestamp(), "
                   "duration_ms = $7 WHERE id = $1",
                   id, outcome.archive_schemas.empty() ? std::optional<std::string>() : outcome.archive_schemas.front(),
                   text_array(outcome.archive_schemas), relations_json(outcome.moves), views_json(outcome.rebound_views),
                   attempts, static_cast<std::int64_t>(duration.count()));
}

// Staged-data views (moves without a dbt node) changed schema: ece.staged_usage (lib/stage's) follows them in the
// swap's own transaction, so `ece-stage gc` never drops a content table that production or an archive reads, and
// never sees production's new views without their usage.
void record_staged_usage(pqxx::transaction_base& tx, const std::vector<RelationMove>& moves) {
    std::set<std::string> production, archives;
    for (const auto& m : moves) {
        if (!m.unique_id.empty()) continue;
        if (m.incoming) production.insert(m.production.schema);
        if (m.archive_schema) archives.insert(*m.archive_schema);
    }
    for (const auto& schema : production) stage::record_view_usage(tx, stage::production_usage_name, schema);
    for (const auto& schema : archives) stage::record_view_usage(tx, stage::archive_usage_name(schema), schema);
}

// Sets this transaction's lock_timeout; as superuser also a short deadlock_timeout, so that in a lock cycle with a
// reader it is the swap (which retries) that gives up, not the reader.
void bound_lock_waits(pqxx::transaction_base& tx, std::chrono::milliseconds lock_timeout) {
    tx.exec_params("SELECT set_config('lock_timeout', $1, true)", std::to_string(lock_timeout.count()) + "ms");
    if (tx.exec1("SELECT rolsuper FROM pg_roles WHERE rolname = current_user")[0].as<bool>()) {
        tx.exec("SELECT set_config('deadlock_timeout', '50ms', true)");
    }
}

// An environment's session holding a lock on a production relation (an idle transaction that read it, a query it
// keeps running with its own statement_timeout lifted) would queue the swap's ACCESS EXCLUSIVE and every reader
// behind it. Such sessions are ended before each attempt: an environment role (one of ece.environments) has no
// business in production that outweighs production's readers. Returns how many were ended.
int end_environment_sessions_locking(pqxx::connection& conn, const detail::SwapPlan& plan) {
    std::vector<std::string> schemas, names;
    for (const auto& item : plan.items) {
        schemas.push_back(item.target.schema);
        names.push_back(item.target.name);
    }
    pqxx::nontransaction tx(conn, "publish: environment sessions");
    if (!catalog::has_table(tx, "ece.environments") || schemas.empty()) return 0;
    return static_cast<int>(tx.exec_params(
        "SELECT pg_catalog.pg_terminate_backend(pid, 2000) FROM (SELECT DISTINCT l.pid FROM pg_catalog.pg_locks l "
        "JOIN pg_catalog.pg_stat_activity a ON a.pid = l.pid "
        "JOIN pg_catalog.pg_class c ON c.oid = l.relation JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace "
        "JOIN ROWS FROM (pg_catalog.unnest($1::pg_catalog.text[]), pg_catalog.unnest($2::pg_catalog.text[])) "
        " AS t(s, r) ON t.s = n.nspname AND t.r = c.relname "
        "WHERE l.locktype = 'relation' AND a.pid <> pg_catalog.pg_backend_pid() "
        " AND a.usename IN (SELECT e.role_name FROM ece.environments e)) AS holders",
        detail::text_array(schemas), detail::text_array(names)).size());
}

struct SwapRun {
    detail::SwapOutcome outcome;
    int attempts = 0;
    std::chrono::milliseconds duration{0};
};

// Runs the swap (and `finish`, inside the same transaction) until it commits, retrying lock timeouts and deadlocks.
void swap_with_retries(pqxx::connection& conn, const detail::SwapPlan& plan, const Options& options,
                       Clock::time_point started, const std::string& doing,
                       const std::function<void(pqxx::transaction_base&, const SwapRun&)>& finish, SwapRun& run) {
    auto swap_started = Clock::now();
    const int max_attempts = 1 + std::max(0, options.lock_retries);
    for (run.attempts = 1;; ++run.attempts) {
        try {
            end_environment_sessions_locking(conn, plan);
            pqxx::work tx(conn, "publish swap");
            bound_lock_waits(tx, options.lock_timeout);
            run.outcome = detail::run_swap(tx, plan);
            run.duration = since(started);
            finish(tx, run);
            tx.commit();
            run.duration = since(swap_started);
            return;
        } catch (const pqxx::sql_error& e) {
            if (!is_lock_conflict(e)) throw pg::translate(e, doing);
            if (run.attempts >= max_attempts) {
                throw Error(ErrorKind::conflict,
                            doing + ": production relations stayed locked by other sessions (long queries or "
                                    "transactions) through " +
                                std::to_string(run.attempts) + " attempts of lock_timeout " +
                                std::to_string(options.lock_timeout.count()) +
                                " ms; nothing changed. Last error: " + e.what());
            }
            std::this_thread::sleep_for(options.retry_pause * run.attempts);
        }
    }
}

// Drops the archive schemas of all but the newest keep_archives publishes that still have them. Best effort.
std::vector<std::string> prune_archives(pqxx::connection& conn, const Options& options, std::string& warning) {
    std::vector<std::string> dropped;
    try {
        std::vector<std::pair<std::int64_t, std::vector<std::string>>> old;
        {
            pqxx::read_transaction tx(conn, "publish archives");
            for (const auto& row : tx.exec_params(
                     "SELECT id, archive_schemas FROM ece.publishes WHERE status = 'published' "
                     "AND archive_dropped_at IS NULL AND cardinality(archive_schemas) > 0 "
                     "ORDER BY id DESC OFFSET $1",
                     std::max(0, options.keep_archives))) {
                old.emplace_back(row[0].as<std::int64_t>(), parse_text_array(row[1]));
            }
        }
        for (const auto& [id, schemas] : old) {
            pqxx::work tx(conn, "publish prune");
            bound_lock_waits(tx, options.lock_timeout);
            for (const auto& schema : schemas) tx.exec0("DROP SCHEMA IF EXISTS " + pg::quote_ident(schema) + " CASCADE");
            tx.exec_params("UPDATE ece.publishes SET archive_dropped_at = clock_timestamp() WHERE id = $1", id);
            tx.commit();
            dropped.insert(dropped.end(), schemas.begin(), schemas.end());
        }
    } catch (const std::exception& e) {
        warning = "could not drop old archives (they stay until the next publish): " + std::string(e.what());
    }
    return dropped;
}

std::string archive_token(const Options& options) {
    return options.archive_token.empty() ? random_hex(6) : options.archive_token;
}

detail::SwapPlan plan_for(const PublishInput& input) {
    detail::SwapPlan plan;
    auto add = [&](const BuiltRelation& r) {
        plan.items.push_back({QualifiedName{r.environment_schema, r.name}, r.kind,
                              QualifiedName{r.production_schema, r.name}, r.unique_id, std::nullopt});
    };
    for (const auto& r : input.relations) add(r);
    for (const auto& r : input.staged_views) add(r);
    plan.carry_privileges = true;
    plan.production_role = input.production_role;
    plan.rebindable_views = {input.rebindable_views.begin(), input.rebindable_views.end()};
    plan.tolerated_schemas = {input.tolerated_dependent_schemas.begin(), input.tolerated_dependent_schemas.end()};
    if (!input.environment_raw_schema.empty() && !input.production_raw_schema.empty()) {
        plan.counterpart_schemas[input.environment_raw_schema] = input.production_raw_schema;
    }
    return plan;
}

void check_input(const PublishInput& input) {
    if (input.environment.empty()) throw Error(ErrorKind::usage, "publish needs the environment's name");
    if (input.relations.empty() && input.staged_views.empty()) {
        throw Error(ErrorKind::conflict, "environment " + input.environment + " built no relations: nothing to publish");
    }
}

// Runs the staleness check; returns the input to publish, or nullopt with result filled for needs_rebuild.
std::optional<PublishInput> fresh_input(const PublishInput& input, const Options& options, const RebuildHook& rebuild,
                                        Result& result) {
    if (!input.main_checksums) return input;
    auto report = find_stale(input.relations, *input.main_checksums, input.production_checksums);
    if (!report.stale()) return input;
    auto header = "environment " + input.environment + " is stale against the merged main:\n";
    if (options.on_stale == OnStale::strict) throw Error(ErrorKind::conflict, header + report.describe());
    if (!rebuild) {
        result.outcome = Outcome::needs_rebuild;
        result.stale = report;
        return std::nullopt;
    }
    auto rebuilt = rebuild(report, input);
    if (rebuilt.main_checksums) {
        auto again = find_stale(rebuilt.relations, *rebuilt.main_checksums, rebuilt.production_checksums);
        if (again.stale()) throw Error(ErrorKind::conflict, header + again.describe() + "(still, after rebuilding)");
    }
    result.stale = report;
    return rebuilt;
}

Result result_from(const SwapRun& run, Outcome outcome, std::int64_t id, const std::string& environment,
                   Clock::time_point started) {
    Result result;
    result.outcome = outcome;
    result.id = id;
    result.environment = environment;
    result.archive_schemas = run.outcome.archive_schemas;
    result.relations = run.outcome.moves;
    result.rebound_views = run.outcome.rebound_views;
    result.attempts = run.attempts;
    result.swap_duration = run.duration;
    result.duration = since(started);
    return result;
}

// The manifest of what production serves follows a rollback in its own transaction: rolling back record retires
// the manifest of the publish at the root of its chain (publish <- rollback <- rollback of that ...) when the
// rollback takes that publish out of production (record is the publish, or re-applied it: an even number of
// rollbacks deep), and restores it when the rollback puts the publish back (an odd number deep). Returns what
// changed, for the result; empty when the publish stored no manifest.
std::string follow_with_production_manifest(pqxx::transaction_base& tx, const PublishRecord& record,
                                            std::int64_t rollback_id) {
    std::int64_t root = record.id;
    bool puts_root_back = false;
    for (auto rolls_back = record.rolls_back; rolls_back;) {
        root = *rolls_back;
        puts_root_back = !puts_root_back;
        const auto field = tx.exec_params1("SELECT rolls_back FROM ece.publishes WHERE id = $1", root)[0];
        rolls_back = field.is_null() ? std::nullopt : std::optional<std::int64_t>(field.as<std::int64_t>());
    }
    const std::string manifest = "the manifest publish #" + std::to_string(root) + " stored";
    if (puts_root_back) {
        if (dbt::restore_published_manifests(tx, root) == 0) return "";
        return "restored " + manifest + " as production's state";
    }
    if (dbt::retire_published_manifests(tx, root, "rollback #" + std::to_string(rollback_id)) == 0) return "";
    return "retired " + manifest + ": production's state is the one before it again";
}

}  // namespace

Options Options::from(const config::Publish& publish) {
    Options options;
    options.keep_archives = publish.keep_archives;
    options.lock_timeout = publish.lock_timeout;
    options.lock_retries = publish.lock_retries;
    if (publish.on_stale == "strict") {
        options.on_stale = OnStale::strict;
    } else if (publish.on_stale == "rebuild") {
        options.on_stale = OnStale::rebuild;
    } else {
        throw Error(ErrorKind::usage, "publish.on_stale must be rebuild or strict, not '" + publish.on_stale + "'",
                    {.field = "publish.on_stale"});
    }
    return options;
}

void migrate(pqxx::connection_base& conn) { catalog::migrate(conn, "publish", publish_migrations()); }

std::string production_schema_for(std::string_view environment_schema, std::string_view base_schema,
                                  std::string_view production_schema) {
    if (environment_schema == base_schema) return std::string(production_schema);
    if (environment_schema.size() > base_schema.size() + 1 && environment_schema.substr(0, base_schema.size()) == base_schema &&
        environment_schema[base_schema.size()] == '_') {
        return std::string(production_schema) + std::string(environment_schema.substr(base_schema.size()));
    }
    throw Error(ErrorKind::input, "schema " + std::string(environment_schema) + " does not belong to the environment " +
                                      "(base schema " + std::string(base_schema) + ")");
}

Result publish(pqxx::connection& conn, const PublishInput& requested, const Options& options,
               const RebuildHook& rebuild) {
    auto started = Clock::now();
    check_input(requested);
    Result stale_result;
    stale_result.environment = requested.environment;
    auto input = fresh_input(requested, options, rebuild, stale_result);
    if (!input) {
        stale_result.duration = since(started);
        return stale_result;
    }
    const std::string doing = "publishing environment " + input->environment;
    try {
        migrate(conn);
        pg::AdvisoryLock env_lock(conn, "env:" + input->environment, options.advisory_lock_timeout);
        pg::AdvisoryLock publish_lock(conn, "publish", options.advisory_lock_timeout);
        if (options.once_per_sha && !input->sha.empty()) {
            if (auto done = find_published(conn, input->environment, input->sha)) {
                Result result;
                result.outcome = Outcome::already_published;
                result.id = done->id;
                result.environment = done->environment;
                result.relations = done->relations;
                result.archive_schemas = done->archive_schemas;
                result.duration = since(started);
                return result;
            }
        }
        auto plan = plan_for(*input);
        {
            // Refusals (missing relations, dependent objects) come here, before a record or any lock on production.
            pqxx::read_transaction tx(conn, "publish check");
            auto checked = detail::check_swap(tx, plan);
            if (options.dry_run) {
                SwapRun run{checked, 0, std::chrono::milliseconds(0)};
                auto result = result_from(run, Outcome::dry_run, 0, input->environment, started);
                result.stale = stale_result.stale;
                return result;
            }
        }
        plan.id = insert_running(conn, "publish", input->environment, input->pr, input->sha, std::nullopt);
        plan.archive_token = archive_token(options);
        SwapRun run;
        try {
            swap_with_retries(conn, plan, options, started, doing,
                                    [&](pqxx::transaction_base& tx, const SwapRun& current) {
                                        record_success(tx, plan.id, current.outcome, current.attempts, current.duration);
                                        record_staged_usage(tx, current.outcome.moves);
                                        if (options.within_swap) options.within_swap(tx, plan.id);
                                    },
                                    run);
        } catch (const std::exception& e) {
            auto error = dynamic_cast<const Error*>(&e) ? *dynamic_cast<const Error*>(&e) : pg::translate(e, doing);
            record_failure(conn, plan.id, error.what(), run.attempts, since(started));
            throw error;
        }
        auto result = result_from(run, Outcome::published, plan.id, input->environment, started);
        result.stale = stale_result.stale;
        result.pruned_archives = prune_archives(conn, options, result.prune_warning);
        result.duration = since(started);
        return result;
    } catch (const Error&) {
        throw;
    } catch (const std::exception& e) {
        throw pg::translate(e, doing);
    }
}

Result rollback(pqxx::connection& conn, std::optional<std::int64_t> id, const Options& options) {
    auto started = Clock::now();
    try {
        migrate(conn);
        dbt::migrate_catalog(conn);  // the rollback's transaction retires or restores a production manifest
        if (!id) {
            pqxx::read_transaction tx(conn, "publish latest");
            auto rows = tx.exec("SELECT id FROM ece.publishes WHERE kind = 'publish' AND status = 'published' "
                                "AND rolled_back_at IS NULL ORDER BY id DESC LIMIT 1");
            if (rows.empty()) throw Error(ErrorKind::usage, "there is no publish to roll back");
            id = rows[0][0].as<std::int64_t>();
        }
        auto found = find_record(conn, *id);
        if (!found) throw Error(ErrorKind::usage, "there is no publish #" + std::to_string(*id));
        const std::string doing = "rolling back publish #" + std::to_string(*id);
        pg::AdvisoryLock env_lock(conn, "env:" + found->environment, options.advisory_lock_timeout);
        pg::AdvisoryLock publish_lock(conn, "publish", options.advisory_lock_timeout);
        auto record = *find_record(conn, *id);  // again, under the locks
        if (record.status != "published") {
            throw Error(ErrorKind::conflict, "publish #" + std::to_string(*id) + " is " + record.status + ", not published");
        }
        if (!record.rolled_back_at.empty()) {
            throw Error(ErrorKind::conflict, "publish #" + std::to_string(*id) + " was rolled back already (by #" +
                                                 std::to_string(record.rolled_back_by.value_or(0)) + ")");
        }
        if (record.archive_dropped) {
            throw Error(ErrorKind::conflict, "the archive of publish #" + std::to_string(*id) +
                                                 " was pruned (publish.keep_archives); it cannot be rolled back");
        }
        {
            std::set<QualifiedName> mine;
            for (const auto& m : record.relations) mine.insert(m.production);
            pqxx::read_transaction tx(conn, "publish later");
            for (const auto& row : tx.exec_params(std::string("SELECT ") + record_columns +
                                                      " FROM ece.publishes WHERE id > $1 AND kind = 'publish' "
                                                      "AND status = 'published' AND rolled_back_at IS NULL ORDER BY id",
                                                  *id)) {
                auto later = record_from(row);
                for (const auto& m : later.relations) {
                    if (mine.count(m.production)) {
                        throw Error(ErrorKind::conflict, "publish #" + std::to_string(later.id) + " replaced " +
                                                             display(m.production) + " after #" + std::to_string(*id) +
                                                             "; roll back #" + std::to_string(later.id) + " first");
                    }
                }
            }
        }

        detail::SwapPlan plan;
        for (const auto& m : record.relations) {
            detail::SwapItem item;
            item.target = m.production;
            item.unique_id = m.unique_id;
            if (m.incoming) item.expected_current_oid = m.oid;
            if (m.archive_schema) {
                item.incoming = QualifiedName{*m.archive_schema, m.production.name};
                item.kind = m.archived_kind.value_or(RelationKind::table);
            }
            plan.items.push_back(item);
        }
        plan.carry_privileges = false;  // the archived relations kept their own owner and grants
        plan.rebindable_views = {record.rebound_views.begin(), record.rebound_views.end()};
        {
            pqxx::read_transaction tx(conn, "rollback check");
            detail::check_swap(tx, plan);
        }
        plan.id = insert_running(conn, "rollback", record.environment, record.pr, record.sha, record.id);
        plan.archive_token = archive_token(options);
        SwapRun run;
        std::string production_state;
        try {
            swap_with_retries(
                conn, plan, options, started, doing, [&](pqxx::transaction_base& tx, const SwapRun& current) {
                    record_success(tx, plan.id, current.outcome, current.attempts, current.duration);
                    record_staged_usage(tx, current.outcome.moves);
                    // The undone publish's archive is empty now (unless someone put something there): drop it.
                    for (const auto& schema : record.archive_schemas) {
                        auto left = tx.exec_params1("SELECT count(*) FROM pg_class c JOIN pg_namespace n "
                                                    "ON n.oid = c.relnamespace WHERE n.nspname = $1",
                                                    schema)[0]
                                        .as<std::int64_t>();
                        if (left == 0) tx.exec0("DROP SCHEMA IF EXISTS " + pg::quote_ident(schema));
                    }
                    tx.exec_params("UPDATE ece.publishes SET rolled_back_at = clock_timestamp(), rolled_back_by = $2, "
                                   "archive_dropped_at = clock_timestamp() WHERE id = $1",
                                   record.id, plan.id);
                    production_state = follow_with_production_manifest(tx, record, plan.id);
                },
                run);
        } catch (const std::exception& e) {
            auto error = dynamic_cast<const Error*>(&e) ? *dynamic_cast<const Error*>(&e) : pg::translate(e, doing);
            record_failure(conn, plan.id, error.what(), run.attempts, since(started));
            throw error;
        }
        auto result = result_from(run, Outcome::rolled_back, plan.id, record.environment, started);
        result.rolled_back_id = record.id;
        result.production_state = production_state;
        result.pruned_archives = prune_archives(conn, options, result.prune_warning);
        result.duration = since(started);
        return result;
    } catch (const Error&) {
        throw;
    } catch (const std::exception& e) {
        throw pg::translate(e, "rolling back a publish");
    }
}

std::optional<PublishRecord> find_published(pqxx::connection& conn, const std::string& environment,
                                            const std::string& sha) {
    try {
        pqxx::read_transaction tx(conn, "publish find");
        if (!catalog::has_table(tx, "ece.publishes")) return std::nullopt;
        auto rows = tx.exec_params(std::string("SELECT ") + record_columns +
                                       " FROM ece.publishes WHERE kind = 'publish' AND status = 'published' AND "
                                       "CASE WHEN $2 <> '' THEN sha = $2 ELSE environment = $1 END "
                                       "ORDER BY id DESC LIMIT 1",
                                   environment, sha);
        if (rows.empty()) return std::nullopt;
        return record_from(rows[0]);
    } catch (const std::exception& e) {
        throw pg::translate(e, "looking up earlier publishes");
    }
}

std::vector<PublishRecord> list_publishes(pqxx::connection& conn, int limit) {
    try {
        migrate(conn);
        pqxx::read_transaction tx(conn, "publish list");
        std::vector<PublishRecord> records;
        for (const auto& row : tx.exec_params(std::string("SELECT ") + record_columns +
                                                  " FROM ece.publishes ORDER BY id DESC LIMIT $1",
                                              limit)) {
            records.push_back(record_from(row));
        }
        return records;
    } catch (const Error&) {
        throw;
    } catch (const std::exception& e) {
        throw pg::translate(e, "listing publishes");
    }
}

}  // namespace ece::publish
