#include "dbt/run_results.hpp"

#include "dbt/manifest.hpp"

#include <fstream>
#include <limits>
#include <sstream>

#include <boost/json/parser.hpp>

#include "core/error.hpp"

namespace ece::dbt {

const RunResult* RunResults::find(std::string_view unique_id) const {
    for (const auto& result : results)
        if (result.unique_id == unique_id) return &result;
    return nullptr;
}

namespace {

[[noreturn]] void invalid(const std::filesystem::path& file, const std::string& path, const std::string& message) {
    throw Error(ErrorKind::input, message, {file.string(), {}, {}, path, {}});
}

// A count as dbt writes it (an integer, sometimes a whole double); none when absent or not representable.
std::optional<std::int64_t> integer(const boost::json::value* value) {
    if (!value) return std::nullopt;
    if (value->is_int64()) return value->get_int64();
    if (value->is_uint64()) {
        const auto u = value->get_uint64();
        if (u > static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max())) return std::nullopt;
        return static_cast<std::int64_t>(u);
    }
    if (value->is_double()) {
        // Converting a double outside int64's range (or NaN) is undefined behaviour: such a value is no count.
        const double d = value->get_double();
        if (!(d >= -9.2e18 && d <= 9.2e18)) return std::nullopt;
        return static_cast<std::int64_t>(d);
    }
    return std::nullopt;
}

std::string text(const boost::json::object& object, std::string_view key) {
    const auto* value = object.if_contains(key);
    if (!value || !value->is_string()) return {};
    return std::string(value->get_string().c_str());
}

double number(const boost::json::value* value) {
    if (!value) return 0;
    if (value->is_double()) return value->get_double();
    if (value->is_int64()) return static_cast<double>(value->get_int64());
    if (value->is_uint64()) return static_cast<double>(value->get_uint64());
    return 0;
}

}  // namespace

RunResults parse_run_results(std::string_view json, const std::filesystem::path& file) {
    boost::json::parser parser;
    boost::system::error_code ec;
    std::size_t consumed = parser.write(json.data(), json.size(), ec);
    if (ec) {
        std::string message = ec == boost::json::error::incomplete ? "truncated JSON: the file ends inside the document"
                                                                   : "malformed JSON: " + ec.message();
        throw Error(ErrorKind::input, message, {file.string(), {}, consumed, {}, {}});
    }
    boost::json::value root = parser.release();
    if (!root.is_object()) invalid(file, "$", "run_results.json must be a JSON object");
    const auto& object = root.get_object();

    RunResults out;
    if (const auto* metadata = object.if_contains("metadata"); metadata && metadata->is_object()) {
        out.schema_version_url = text(metadata->get_object(), "dbt_schema_version");
        out.dbt_version = text(metadata->get_object(), "dbt_version");
    }
    if (out.schema_version_url.find("run-results") == std::string::npos)
        invalid(file, "$.metadata.dbt_schema_version", "not a dbt run_results.json");
    out.schema_version = schema_version_of(out.schema_version_url);
    out.elapsed_time = number(object.if_contains("elapsed_time"));

    const auto* results = object.if_contains("results");
    if (!results || !results->is_array()) invalid(file, "$.results", "expected an array of results");
    std::size_t index = 0;
    for (const auto& entry : results->get_array()) {
        const std::string path = "$.results[" + std::to_string(index++) + "]";
        if (!entry.is_object()) invalid(file, path, "expected an object");
        const auto& result = entry.get_object();
        RunResult r;
        r.unique_id = text(result, "unique_id");
        if (r.unique_id.empty()) invalid(file, path + ".unique_id", "missing unique_id");
        r.status = text(result, "status");
        r.execution_time = number(result.if_contains("execution_time"));
        r.message = text(result, "message");
        r.failures = integer(result.if_contains("failures"));
        if (const auto* response = result.if_contains("adapter_response"); response && response->is_object())
            r.rows_affected = integer(response->get_object().if_contains("rows_affected"));
        // dbt-postgres reports -1 where a row count does not apply (CREATE VIEW): that is no count at all.
        if (r.rows_affected && *r.rows_affected < 0) r.rows_affected.reset();
        out.results.push_back(std::move(r));
    }
    return out;
}

RunResults load_run_results(const std::filesystem::path& file) {
    std::ifstream in(file, std::ios::binary);
    if (!in) throw Error(ErrorKind::input, "cannot open run results", {file.string(), {}, {}, {}, {}});
    std::ostringstream content;
    content << in.rdbuf();
    return parse_run_results(content.str(), file);
}

}  // namespace ece::dbt
