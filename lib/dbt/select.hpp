#pragma once
// dbt's node selection (`--select` / `--exclude` syntax without state), resolved natively over a manifest, for the
// "also select" selectors a build adds to its state selection. Semantics follow dbt-core's selector_spec.py,
// selector_methods.py and selector.py; the subset real teams use:
//   methods    fqn (the default for a bare word: the node's name, else a prefix of its fqn, with * ? [ ] globs),
//              tag, path (a bare word containing "/" too), file (a bare word ending in .sql/.py/.csv), package,
//              resource_type, config.materialized
//   operators  +x (x and its ancestors), x+ (descendants), n+x, x+n (to depth n), @x (x, its descendants and
//              their ancestors)
//   sets       "a b" is the union, "a,b" the intersection (within one selector string)
// plus dbt's eager indirect selection: a test is selected when any of its parents is.
// Differences from dbt, on purpose: path: matches the paths the manifest names (dbt globs the project's files on
// disk, which selects the same nodes for files that exist); a bare node unique id (model.pkg.name) selects that
// node (dbt would select nothing).
#include <string>
#include <string_view>
#include <vector>

#include "dbt/manifest.hpp"
#include "dbt/state.hpp"

namespace ece::dbt {

// The unique ids the selector string selects in the manifest, sorted. Throws ece::Error(usage) naming the selector
// for an unknown or unsupported method, an invalid resource type, or a malformed spec ("@x+").
std::vector<std::string> select_nodes(const Manifest& manifest, std::string_view selector);

// Adds what each of selectors selects in branch to the plan, with the reason "also selected by --select <selector>"
// (BuildOptions::also_select). A full build has every node already; the selectors are still resolved, so that a bad
// one is an error there too.
void add_also_selected(Plan& plan, const Manifest& branch, const std::vector<std::string>& selectors);

// Removes what any of selectors selects in branch from the plan, full builds included, as dbt's --exclude does
// (BuildOptions::exclude); a bad selector is an error.
void remove_excluded(Plan& plan, const Manifest& branch, const std::vector<std::string>& selectors);

}  // namespace ece::dbt
