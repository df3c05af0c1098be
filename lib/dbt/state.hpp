#pragma once
// dbt's state selection (`--select state:...` with `--state`), done natively: which nodes of the branch manifest
// differ from production and why. Semantics follow dbt-core's StateSelectorMethod and the same_* methods of its
// node classes (core/dbt/graph/selector_methods.py, core/dbt/contracts/graph/nodes.py), including their quirks:
// new sources are state:new but not state:modified, generic tests compare config and fqn only, seeds compare
// their file checksum (a path for seeds over dbt's size limit), a changed macro marks every node reaching it
// through macro-to-macro calls, and tests are added eagerly when any parent is selected.
#include <cstddef>
#include <map>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "dbt/manifest.hpp"

namespace ece::dbt {

enum class StateMethod { is_new, modified, body, configs, relation, persisted_descriptions, macros, contract };

struct Selector {
    StateMethod method = StateMethod::modified;
    bool descendants = false;  // trailing "+"
    std::string text;          // as given, e.g. "state:modified+"
};

// "state:new", "state:modified", "state:modified.body" ... each with an optional trailing "+".
// Throws ece::Error(usage) for anything else.
Selector parse_selector(std::string_view text);

struct PlanOptions {
    // Stricter than dbt (off by default, so the default matches dbt): unrendered config keys whose differences
    // are ignored, for configs that differ only because production renders the target differently.
    std::set<std::string, std::less<>> ignore_config_keys;
    // Source schemas of the branch that stand for a production schema (branch schema -> production's): the branch
    // parsed with the environment's own raw schema (the parse `dbt build` then reuses) compares its sources as if
    // parsed with production's. Same selection as dbt's with production's schema in ECE_RAW_SCHEMA.
    std::map<std::string, std::string, std::less<>> source_schema_aliases;
};

struct PlannedNode {
    std::string unique_id;
    std::string resource_type;
    std::string name;
    std::vector<std::string> reasons;
};

struct Plan {
    std::string selector;
    std::string state_source;  // where the production manifest came from
    bool full_build = false;
    std::string full_build_reason;
    std::vector<PlannedNode> selected;  // sorted by unique_id, as dbt ls prints them
    std::map<std::string, std::size_t> counts;  // by resource type; model, test, seed, snapshot always present
    std::size_t deferred = 0;  // models, seeds and snapshots not selected: read from production via --defer
    std::vector<std::string> removed;  // in production, gone from the branch
    std::vector<std::string> warnings;

    std::vector<std::string> selected_ids() const;
};

// What dbt builds (models, seeds, snapshots, data and unit tests); the other kinds a plan lists (sources, exposures,
// metrics, semantic models, saved queries) are affected but not built.
bool is_buildable_type(std::string_view resource_type);

// Compares branch with production and selects with dbt's semantics. A production manifest of another schema
// version is compared where the fields allow, with a warning; one that cannot be compared (unknown schema) gives a
// full build, saying why.
Plan plan_changes(const Manifest& branch, const Manifest& production, const Selector& selector,
                  const std::string& state_source, const PlanOptions& options = {});

// Adds the listed nodes among ids to the plan (a node planned already keeps its place), each with reason, and
// recounts. For selections on top of the state selector (BuildOptions::also_select).
void add_to_plan(Plan& plan, const Manifest& branch, const std::vector<std::string>& ids, const std::string& reason);

// Removes the listed nodes from the plan and recounts (BuildOptions::exclude).
void remove_from_plan(Plan& plan, const std::vector<std::string>& ids);

// Every buildable node of the branch (models, seeds, snapshots, tests), for when there is nothing to compare with.
Plan plan_full_build(const Manifest& branch, const std::string& selector, const std::string& reason);

}  // namespace ece::dbt
