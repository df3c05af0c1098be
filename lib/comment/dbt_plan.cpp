#include "comment/report.hpp"
#include "core/error.hpp"
#include "plan/json_input.hpp"

#include <filesystem>
#include <set>

namespace json = boost::json;

namespace ece::comment {

std::string_view status_name(Status status) {
    switch (status) {
        case Status::planning: return "planning";
        case Status::building: return "building";
        case Status::ready: return "ready";
        case Status::failed: return "failed";
        case Status::published: return "published";
        case Status::destroyed: return "destroyed";
    }
    return "planning";
}

std::string catalogue_note(const cost::PriceCatalogue& catalogue) {
    std::set<std::string> dates;
    for (const auto& s : catalogue.sources) dates.insert(s.as_of);
    std::string out = "prices from " + std::filesystem::path(catalogue.file).filename().string();
    if (!dates.empty()) {
        out += ", as of ";
        bool first = true;
        for (const auto& d : dates) {
            out += (first ? "" : ", ") + d;
            first = false;
        }
    }
    return out;
}

namespace {

class Reader {
public:
    explicit Reader(std::string file) : file_(std::move(file)) {}

    [[noreturn]] void fail(const std::string& path, const std::string& message) const {
        throw Error(ErrorKind::input, message, {.file = file_, .field = path});
    }

    std::string text(const json::object& o, std::string_view key, const std::string& path) const {
        const auto* v = o.if_contains(key);
        if (!v || v->is_null()) return {};
        if (!v->is_string()) fail(path + "." + std::string(key), "expected a string");
        return std::string(v->get_string());
    }

    std::vector<std::string> strings(const json::object& o, std::string_view key, const std::string& path) const {
        std::vector<std::string> out;
        const auto* v = o.if_contains(key);
        if (!v || v->is_null()) return out;
        std::string here = path + "." + std::string(key);
        if (!v->is_array()) fail(here, "expected an array of strings");
        const auto& array = v->get_array();
        for (std::size_t i = 0; i < array.size(); ++i) {
            if (!array[i].is_string()) fail(here + "[" + std::to_string(i) + "]", "expected a string");
            out.emplace_back(array[i].get_string());
        }
        return out;
    }

    std::int64_t integer(const json::value& v, const std::string& path) const {
        if (!v.is_int64() && !v.is_uint64()) fail(path, "expected an integer");
        return v.to_number<std::int64_t>();
    }

private:
    std::string file_;
};

}  // namespace

DbtPlan parse_dbt_plan(std::string_view text, const std::string& source_name) {
    auto doc = plan::parse_json_document(text, source_name, "expected the output of `ece-dbt plan --format json`");
    Reader r(source_name);
    if (!doc.is_object()) r.fail("$", "expected an object (an ece-dbt plan)");
    const auto& o = doc.get_object();
    DbtPlan out;
    out.selector = r.text(o, "selector", "$");
    out.state_source = r.text(o, "state_source", "$");
    if (const auto* v = o.if_contains("full_build"); v && !v->is_null()) {
        if (!v->is_bool()) r.fail("$.full_build", "expected true or false");
        out.full_build = v->get_bool();
    }
    out.full_build_reason = r.text(o, "full_build_reason", "$");
    const auto* selected = o.if_contains("selected");
    if (!selected || !selected->is_array()) r.fail("$.selected", "expected an array of selected nodes");
    const auto& nodes = selected->get_array();
    for (std::size_t i = 0; i < nodes.size(); ++i) {
        std::string path = "$.selected[" + std::to_string(i) + "]";
        if (!nodes[i].is_object()) r.fail(path, "expected an object");
        const auto& n = nodes[i].get_object();
        DbtPlanNode node{r.text(n, "unique_id", path), r.text(n, "resource_type", path), r.text(n, "name", path),
                         r.strings(n, "reasons", path)};
        if (node.unique_id.empty()) r.fail(path + ".unique_id", "missing");
        out.selected.push_back(std::move(node));
    }
    if (const auto* counts = o.if_contains("counts"); counts && !counts->is_null()) {
        if (!counts->is_object()) r.fail("$.counts", "expected an object");
        for (const auto& kv : counts->get_object()) {
            out.counts[std::string(kv.key())] = r.integer(kv.value(), "$.counts." + std::string(kv.key()));
        }
    }
    if (const auto* deferred = o.if_contains("deferred"); deferred && !deferred->is_null()) {
        out.deferred = r.integer(*deferred, "$.deferred");
    }
    out.removed = r.strings(o, "removed", "$");
    out.warnings = r.strings(o, "warnings", "$");
    return out;
}

}  // namespace ece::comment
