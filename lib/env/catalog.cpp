#include "env/catalog.hpp"

#include "core/error.hpp"

namespace ece::env {
namespace {

Status parse_status(const std::string& text) {
    if (text == "creating") return Status::creating;
    if (text == "ready") return Status::ready;
    if (text == "destroyed") return Status::destroyed;
    throw Error(ErrorKind::internal, "unknown environment status in the catalog: " + text);
}

Clock::time_point from_epoch(double seconds) {
    return Clock::time_point(std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(seconds)));
}

std::optional<Clock::time_point> optional_time(const pqxx::field& f) {
    if (f.is_null()) return std::nullopt;
    return from_epoch(f.as<double>());
}

// Columns in the order read_row expects; schemas come back one per line (names never hold a newline: they are
// slugs or production names checked by pg).
constexpr const char* columns =
    "name, branch, coalesce(pr::text, ''), coalesce(head_sha, ''), provider, status, base_schema, role_name,"
    " array_to_string(schemas, E'\\n'), extract(epoch from created_at)::float8, extract(epoch from updated_at)::float8,"
    " extract(epoch from expires_at)::float8, extract(epoch from destroyed_at)::float8, bytes, details::text";

Record read_row(const pqxx::row& r) {
    Record rec;
    rec.name = r[0].as<std::string>();
    rec.branch = r[1].as<std::string>();
    if (auto pr = r[2].as<std::string>(); !pr.empty()) rec.pr = std::stoi(pr);
    rec.head_sha = r[3].as<std::string>();
    rec.provider = r[4].as<std::string>();
    rec.status = parse_status(r[5].as<std::string>());
    rec.base_schema = r[6].as<std::string>();
    rec.role_name = r[7].as<std::string>();
    std::string schemas = r[8].as<std::string>();
    for (std::size_t start = 0; start < schemas.size();) {
        auto end = schemas.find('\n', start);
        if (end == std::string::npos) end = schemas.size();
        rec.schemas.push_back(schemas.substr(start, end - start));
        start = end + 1;
    }
    rec.created_at = from_epoch(r[9].as<double>());
    rec.updated_at = from_epoch(r[10].as<double>());
    rec.expires_at = optional_time(r[11]);
    rec.destroyed_at = optional_time(r[12]);
    if (!r[13].is_null()) rec.bytes = r[13].as<std::int64_t>();
    rec.details = r[14].as<std::string>();
    return rec;
}

}  // namespace

std::string to_string(Status status) {
    switch (status) {
        case Status::creating: return "creating";
        case Status::ready: return "ready";
        case Status::destroyed: return "destroyed";
    }
    return "unknown";
}

const std::vector<catalog::Migration>& env_migrations() {
    static const std::vector<catalog::Migration> migrations = {
        {1, "environments",
         "CREATE TABLE ece.environments ("
         " name text PRIMARY KEY,"
         " branch text NOT NULL,"
         " pr integer CHECK (pr > 0),"
         " head_sha text,"
         " provider text NOT NULL,"
         " status text NOT NULL CHECK (status IN ('creating', 'ready', 'destroyed')),"
         " base_schema text NOT NULL,"
         " role_name text NOT NULL,"
         " schemas text[] NOT NULL DEFAULT '{}',"
         " created_at timestamptz NOT NULL DEFAULT now(),"
         " updated_at timestamptz NOT NULL DEFAULT now(),"
         " expires_at timestamptz,"
         " destroyed_at timestamptz,"
         " bytes bigint,"
         " details jsonb NOT NULL DEFAULT '{}');"
         "CREATE INDEX environments_pr ON ece.environments (pr) WHERE pr IS NOT NULL;"
         "CREATE INDEX environments_expires ON ece.environments (expires_at) WHERE status <> 'destroyed';"
         // Environment roles log in to this database: the catalog (other environments' names, state) is not theirs.
         "REVOKE ALL ON SCHEMA ece FROM PUBLIC;"},
    };
    return migrations;
}

namespace rows {

void begin_up(pqxx::transaction_base& tx, const Identity& id, std::string_view provider, std::string_view head_sha,
              std::chrono::milliseconds ttl) {
    tx.exec_params(
        "INSERT INTO ece.environments AS e (name, branch, pr, head_sha, provider, status, base_schema, role_name,"
        "  expires_at)"
        " VALUES ($1, $2, nullif($3, '')::integer, nullif($4, ''), $5, 'creating', $6, $7,"
        "  now() + $8::bigint * interval '1 millisecond')"
        " ON CONFLICT (name) DO UPDATE SET"
        "  branch = CASE WHEN EXCLUDED.branch = '' THEN e.branch ELSE EXCLUDED.branch END,"
        "  pr = EXCLUDED.pr,"
        "  head_sha = coalesce(EXCLUDED.head_sha, e.head_sha),"
        "  provider = EXCLUDED.provider,"
        "  status = 'creating',"
        "  base_schema = EXCLUDED.base_schema,"
        "  role_name = EXCLUDED.role_name,"
        "  created_at = CASE WHEN e.status = 'destroyed' THEN now() ELSE e.created_at END,"
        "  updated_at = now(),"
        "  expires_at = EXCLUDED.expires_at,"
        "  destroyed_at = NULL",
        id.name, id.branch, id.pr ? std::to_string(*id.pr) : std::string(), std::string(head_sha),
        std::string(provider), id.base_schema, id.role, static_cast<long long>(ttl.count()));
}

void finish_up(pqxx::transaction_base& tx, const std::string& name, const std::vector<std::string>& schemas,
               std::int64_t bytes, std::string_view details_json) {
    std::string joined;
    for (const auto& s : schemas) joined += (joined.empty() ? "" : "\n") + s;
    tx.exec_params(
        "UPDATE ece.environments SET status = 'ready', updated_at = now(),"
        " schemas = CASE WHEN $2 = '' THEN '{}'::text[] ELSE string_to_array($2, E'\\n') END,"
        " bytes = $3, details = $4::jsonb WHERE name = $1",
        name, joined, static_cast<long long>(bytes), std::string(details_json));
}

void mark_destroyed(pqxx::transaction_base& tx, const std::string& name) {
    tx.exec_params(
        "UPDATE ece.environments SET status = 'destroyed', updated_at = now(), destroyed_at = now(), bytes = 0"
        " WHERE name = $1",
        name);
}

std::optional<Record> find(pqxx::transaction_base& tx, const std::string& name) {
    auto result = tx.exec_params(std::string("SELECT ") + columns + " FROM ece.environments WHERE name = $1", name);
    if (result.empty()) return std::nullopt;
    return read_row(result[0]);
}

std::vector<Record> all(pqxx::transaction_base& tx) {
    std::vector<Record> records;
    for (const auto& row : tx.exec(std::string("SELECT ") + columns + " FROM ece.environments ORDER BY created_at DESC, name")) {
        records.push_back(read_row(row));
    }
    return records;
}

}  // namespace rows
}  // namespace ece::env
