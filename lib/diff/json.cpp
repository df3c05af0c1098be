#include "diff/json.hpp"

namespace ece::diff {
namespace {

namespace json = boost::json;

json::value optional_text(const std::optional<std::string>& text) {
    return text ? json::value(*text) : json::value(nullptr);
}

template <class T>
json::value optional_number(const std::optional<T>& n) {
    return n ? json::value(*n) : json::value(nullptr);
}

json::object column_json(const ColumnDiff& c) {
    json::object o;
    o["name"] = c.name;
    o["before_type"] = c.before_type.empty() ? json::value(nullptr) : json::value(c.before_type);
    o["after_type"] = c.after_type.empty() ? json::value(nullptr) : json::value(c.after_type);
    o["sensitive"] = c.sensitive;
    o["changed"] = c.changed;
    o["nulls_before"] = optional_number(c.nulls_before);
    o["nulls_after"] = optional_number(c.nulls_after);
    o["distinct_before"] = optional_number(c.distinct_before);
    o["distinct_after"] = optional_number(c.distinct_after);
    return o;
}

json::object example_json(const ExampleRow& e) {
    json::object o;
    o["kind"] = example_kind_name(e.kind);
    json::object key;
    for (const auto& [column, value] : e.key) key[column] = optional_text(value);
    o["key"] = std::move(key);
    json::array values;
    for (const auto& v : e.values) {
        json::object x;
        x["column"] = v.column;
        x["sensitive"] = v.sensitive;
        x["before"] = optional_text(v.before);
        x["after"] = optional_text(v.after);
        values.push_back(std::move(x));
    }
    o["values"] = std::move(values);
    return o;
}

}  // namespace

json::object to_json(const ModelDiff& d) {
    json::object o;
    o["model"] = d.model;
    o["environment_relation"] = d.environment_relation;
    o["production_relation"] = d.production_relation.empty() ? json::value(nullptr) : json::value(d.production_relation);
    json::array key;
    for (const auto& k : d.key) key.push_back(json::value(k));
    o["key"] = std::move(key);
    o["key_source"] = d.key_source;
    o["method"] = method_name(d.method);
    o["exact"] = d.method == Method::by_key || d.method == Method::full_row;
    o["note"] = d.note;
    o["sample_percent"] = optional_number(d.sample_percent);
    json::object rows;
    rows["production"] = d.rows_production;
    rows["environment"] = d.rows_environment;
    rows["only_production"] = d.only_production;
    rows["only_environment"] = d.only_environment;
    rows["changed"] = d.changed;
    rows["unchanged"] = d.unchanged;
    rows["duplicate_keys"] = d.duplicate_keys;
    rows["duplicate_rows_production"] = d.duplicate_rows_production;
    rows["duplicate_rows_environment"] = d.duplicate_rows_environment;
    o["rows"] = std::move(rows);
    json::array columns;
    for (const auto& c : d.columns) columns.push_back(column_json(c));
    o["columns"] = std::move(columns);
    json::array examples;
    for (const auto& e : d.examples) examples.push_back(example_json(e));
    o["examples"] = std::move(examples);
    o["seconds"] = d.seconds;
    return o;
}

json::object to_json(const DiffRun& run) {
    json::object o;
    o["seconds"] = run.seconds;
    o["budget_reached"] = run.budget_reached;
    json::array models;
    for (const auto& m : run.models) models.push_back(to_json(m));
    o["models"] = std::move(models);
    return o;
}

std::string to_json_text(const DiffRun& run) { return json::serialize(to_json(run)) + "\n"; }

}  // namespace ece::diff
