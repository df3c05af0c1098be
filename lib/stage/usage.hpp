#pragma once
// Keeping ece.staged_usage true when staged-data views move outside ece-stage: a publish moves an environment's raw
// views into production's raw schema and the production views they replace into an archive schema; a rollback
// moves them back. Without a record of who reads a content table now, `ece-stage gc` would drop it (or fail on
// the view that depends on it).
#include <pqxx/pqxx>

#include <string>

namespace ece::stage {

// The usage name of production's raw views.
inline constexpr const char* production_usage_name = "production";

// The usage name of the views in an archive schema: "archive:<schema>" (no environment name holds a ':', since
// git branch names cannot). gc forgets its rows once the archive is dropped.
std::string archive_usage_name(const std::string& schema);

// Records, as `environment`'s usage, which content table each view in `schema` reads, found through pg_depend
// (one row per staged table; a view named like the table wins). Views that read no content table are ignored; rows
// of the environment whose view is gone stay for gc to forget. Runs in the caller's transaction, so it commits or
// rolls back with the moves; does nothing when ece-stage never ran (no ece.staged_usage).
void record_view_usage(pqxx::transaction_base& tx, const std::string& environment, const std::string& schema);

}  // namespace ece::stage
