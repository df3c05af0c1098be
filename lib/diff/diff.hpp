#pragma once
// The data diff: what a pull request's version of each model changes in its data compared with production.
//
// Computed inside PostgreSQL, one pass over each side: every row becomes its key and an array of one 64-bit hash
// per common column (typed hash functions of pg_catalog for common types, the hash of the value's text otherwise);
// both sides are grouped by the key in one aggregate, which counts rows only in production, only in the
// environment, changed (and per column which changed) and unchanged, null counts per column, duplicate keys, and
// picks a few example keys per kind of difference. Nothing but those counts and examples leaves the server.
// Without a key the rows are grouped by the whole hash array (a full-row comparison: counts of rows only on one
// side, no "changed"). When a model's budget runs out the same is done on a 1 % sample of keys (or row hashes)
// chosen alike on both sides, said so in the result.
//
// Every query over the environment's or production's relations runs as the environment's role through
// pg::select_as_role (pg/as_role.hpp: inside a SECURITY DEFINER function, where what a view calls cannot RESET ROLE
// back to ece's admin, in a subtransaction rolled back afterwards), bounded by a statement_timeout set before it;
// only catalog reads run as the caller. search_path is pg_catalog, pg_temp and every function schema-qualified;
// names only through pg::quote_ident, values quoted by the connection.
#include "config/config.hpp"
#include "diff/keys.hpp"
#include "diff/result.hpp"

#include <pqxx/pqxx>

#include <chrono>
#include <optional>
#include <set>
#include <string>
#include <vector>

namespace ece::diff {

struct Relation {
    std::string schema;
    std::string name;
    std::string text() const { return schema + "." + name; }
};

// One model to diff: its relation in the environment and in production (none: new in this pull request).
struct ModelSpec {
    std::string model;
    Relation environment;
    std::optional<Relation> production;
    KeyChoice key;
    std::set<std::string> sensitive;
};

struct Settings {
    std::string role;  // the environment's role: every query runs as it
    std::chrono::milliseconds model_budget{60'000};
    std::chrono::milliseconds budget{300'000};  // all models together
    int examples = 3;                           // per kind of difference
    int value_width = 40;
    std::string work_mem = "256MB";
    double sample_percent = 1;  // after a model's budget ran out
    std::optional<std::chrono::milliseconds> sample_budget;  // the sample's own budget; default the model's

    // ece.yml's diff section, for role.
    static Settings from(const config::Config& config, std::string role);
};

// Diffs one model within budget (at most settings.model_budget). Throws ece::Error for what is not a budget
// (a relation that cannot be read, a lost connection), naming the model.
ModelDiff diff_model(pqxx::connection_base& conn, const ModelSpec& spec, const Settings& settings,
                     std::chrono::milliseconds budget);

// Every model within settings.budget, most affected first; models after the budget, or whose diff failed (a
// relation the role cannot read), are not compared and say why.
DiffRun diff_models(pqxx::connection_base& conn, const std::vector<ModelSpec>& specs, const Settings& settings);

}  // namespace ece::diff
