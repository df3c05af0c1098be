#pragma once
// What the data diff of one model found, as plain values (no PostgreSQL types): lib/comment renders it and
// `ece-dbt diff --format json` writes it, neither needing a database to do so.
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace ece::diff {

// How the rows were compared.
enum class Method {
    by_key,           // exact, rows joined on the key
    full_row,         // exact, no key: rows compared by the hash of all their values (counts only, no "changed")
    sample_by_key,    // the budget ran out: the same sample of keys on both sides
    sample_full_row,  // the budget ran out without a key: the same sample of row hashes on both sides
    not_compared,     // the budget ran out again, or the pull request's budget was spent: row counts only
};
std::string_view method_name(Method method);

struct ColumnDiff {
    std::string name;
    std::string before_type;  // empty: the column is new
    std::string after_type;   // empty: the column was removed
    bool sensitive = false;   // counts only, never values
    std::int64_t changed = 0;  // rows in both (same key) whose value of this column changed
    std::optional<std::int64_t> nulls_before, nulls_after;
    std::optional<std::int64_t> distinct_before, distinct_after;  // when the budget allowed counting them

    bool added() const { return before_type.empty(); }
    bool removed() const { return after_type.empty(); }
    bool retyped() const { return !added() && !removed() && before_type != after_type; }
};

// One example of a difference: the key, and for a changed row the values that changed, before and after.
struct ExampleRow {
    enum class Kind { only_production, only_environment, changed };
    struct Value {
        std::string column;
        std::optional<std::string> before;  // nullopt: NULL (or the row is not on that side)
        std::optional<std::string> after;
        bool sensitive = false;  // the values are never filled in
    };
    Kind kind = Kind::changed;
    std::vector<std::pair<std::string, std::optional<std::string>>> key;  // column, value (cut to the width)
    std::vector<Value> values;  // changed: the changed columns; without a key: the row's first columns
};
std::string_view example_kind_name(ExampleRow::Kind kind);

struct ModelDiff {
    std::string model;                // dbt's unique id, or "stage.<table>"
    std::string environment_relation;  // "schema.name"
    std::string production_relation;   // empty: new in this pull request
    std::vector<std::string> key;     // empty: no key, rows compared whole
    std::string key_source;           // "primary_key constraint", "unique + not_null tests", "meta ece.key", ...
    Method method = Method::by_key;
    std::string note;                 // why the diff is not exact and what was done instead
    std::optional<double> sample_percent;

    std::int64_t rows_production = 0;
    std::int64_t rows_environment = 0;
    std::int64_t only_production = 0;   // rows (keys) only in production
    std::int64_t only_environment = 0;  // rows (keys) only in the environment
    std::int64_t changed = 0;           // same key, some value changed
    std::int64_t unchanged = 0;
    // Keys held by more than one row on either side: reported, their rows not compared.
    std::int64_t duplicate_keys = 0;
    std::int64_t duplicate_rows_production = 0;
    std::int64_t duplicate_rows_environment = 0;

    std::vector<ColumnDiff> columns;  // every column of either side, in the environment's order then removed ones
    std::vector<ExampleRow> examples;
    double seconds = 0;

    // What the comment sorts by: rows that differ, plus columns added, removed or retyped. Inline: lib/comment
    // renders a diff without linking ece_diff.
    std::int64_t affected() const {
        std::int64_t n = only_production + only_environment + changed + duplicate_rows_production +
                         duplicate_rows_environment;
        for (const auto& c : columns) n += (c.added() || c.removed() || c.retyped()) ? 1 : 0;
        return n;
    }
    bool differs() const { return affected() > 0 || method == Method::not_compared; }
};

struct DiffRun {
    std::vector<ModelDiff> models;  // most affected first
    double seconds = 0;
    bool budget_reached = false;  // the pull request's budget: some models were not compared
};

}  // namespace ece::diff
