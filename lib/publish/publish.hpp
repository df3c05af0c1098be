#pragma once
// Publishing an environment: its relations move into production in one transaction (ALTER ... SET SCHEMA, no data
// copied), the relations they replace move to an archive schema, and a rollback swaps them back.
//
//   auto conn = pg::connect(admin_url, "publish");
//   auto input = source.load({.pr = 12});
//   auto result = publish::publish(conn, input, publish::Options::from(config.publish));
//   ... publish::rollback(conn, std::nullopt, options);  // undo the latest publish
//
// Guarantees: production changes only inside one transaction; readers see the old relations or the new ones, never
// an error or an empty table; one publish at a time per database (advisory lock "publish") and per environment
// ("env:<name>"); a production relation that a non-dbt object depends on stops the publish before anything changes.
#include "config/config.hpp"
#include "publish/stale.hpp"
#include "publish/types.hpp"

#include <pqxx/pqxx>

#include <chrono>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace ece::publish {

enum class OnStale { rebuild, strict };

struct Options {
    int keep_archives = 3;  // archives (publishes and rollbacks) kept; older archive schemas are dropped
    std::chrono::milliseconds lock_timeout{2000};  // per lock wait inside the swap transaction
    int lock_retries = 10;                         // swap attempts after the first that hit lock_timeout
    std::chrono::milliseconds retry_pause{100};    // between attempts, growing linearly
    std::chrono::milliseconds advisory_lock_timeout{std::chrono::minutes(2)};
    OnStale on_stale = OnStale::rebuild;
    bool dry_run = false;  // check everything (staleness, dependents), change nothing
    // A commit (PublishInput::sha, non-empty) with a successful publish is not published again: checked under the
    // locks, it returns Outcome::already_published with that publish's id. Publishing on merge sets it: the
    // workflows may trigger twice for one merge.
    bool once_per_sha = false;
    // Called inside the swap transaction, after the relations moved and before the commit, with the publish's id:
    // what must commit with the publish or not at all (publish_merged stores the merged manifest as production's
    // dbt state). An exception from it aborts the publish.
    std::function<void(pqxx::transaction_base& tx, std::int64_t publish_id)> within_swap{};
    // The random part of the archive schemas' names (ece_archive_<id>_<token>); empty: 12 fresh random hex digits
    // per publish and rollback, so no environment can guess and plant one. Tests fix it to plant one.
    std::string archive_token{};

    // keep_archives, lock_timeout, lock_retries, on_stale from ece.yml's publish section.
    static Options from(const config::Publish& publish);
};

// --rebuild: called with the stale nodes; builds them into the environment (lib/dbt) and returns the input again
// (typically source.load(target)). The fresh input is checked once more; still stale -> ece::Error (conflict).
using RebuildHook = std::function<PublishInput(const StaleReport& stale, const PublishInput& input)>;

// Publishes input into production. Stale environment: OnStale::strict -> ece::Error (conflict) listing the nodes;
// OnStale::rebuild -> calls rebuild, or without one returns Outcome::needs_rebuild with the list (nothing changed).
// Throws ece::Error (conflict) naming the objects when non-dbt objects depend on a replaced relation, when an
// environment relation is missing, or when the locks were not granted within lock_timeout after all retries;
// (database) when PostgreSQL refuses a step. Production is unchanged whenever it throws. Records every attempt that
// reached the swap in ece.publishes (status published or failed).
Result publish(pqxx::connection& conn, const PublishInput& input, const Options& options,
               const RebuildHook& rebuild = {});

// Swaps publish `id` (default: the latest publish not rolled back) back: the archived relations return, the
// published ones go to this rollback's own archive; recorded as a publish of kind "rollback". In the same
// transaction production's dbt state follows: the manifest the undone publish stored is retired (a rollback of a
// rollback restores it; lib/dbt catalog.hpp), so the next plan compares with what production serves. Throws ece::Error
// (usage) for an unknown id, (conflict) when it was rolled back already, its archive was pruned, or a later
// publish that is not rolled back replaced the same relations.
Result rollback(pqxx::connection& conn, std::optional<std::int64_t> id, const Options& options);

// The newest successful publish (kind publish, status published) of commit sha when sha is not empty, else of
// the environment; nullopt when there is none (or no catalog yet).
std::optional<PublishRecord> find_published(pqxx::connection& conn, const std::string& environment,
                                            const std::string& sha);

// The newest publishes first.
std::vector<PublishRecord> list_publishes(pqxx::connection& conn, int limit = 50);

// Creates/updates ece.publishes (area "publish"). publish(), rollback() and list_publishes() call it.
void migrate(pqxx::connection_base& conn);

// dbt's default generate_schema_name applied to environments: the environment's base schema maps to the
// production schema, "<base>_<custom>" to "<production>_<custom>". Throws ece::Error (input) for a schema that is
// neither (it does not belong to the environment).
std::string production_schema_for(std::string_view environment_schema, std::string_view base_schema,
                                   std::string_view production_schema);

}  // namespace ece::publish
