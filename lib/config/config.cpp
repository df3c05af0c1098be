#include "config/config.hpp"

#include <yaml-cpp/yaml.h>
#include <boost/json.hpp>

#include <cctype>
#include <charconv>
#include <fstream>
#include <functional>
#include <sstream>
#include <map>

#include "core/error.hpp"

namespace ece::config {
namespace {

namespace fs = std::filesystem;
using Handler = std::function<void(const YAML::Node&, const std::string& path)>;

// Reports a problem at a node's line (yaml-cpp counts from 0).
[[noreturn]] void fail(const fs::path& file, const YAML::Node& node, const std::string& key, const std::string& msg) {
    ErrorLocation where{.file = file.string(), .field = key};
    if (node.Mark().line >= 0) where.line = static_cast<std::uint64_t>(node.Mark().line) + 1;
    throw Error(ErrorKind::usage, msg, where);
}

class Reader {
public:
    explicit Reader(fs::path file) : file_(std::move(file)) {}

    // Walks a mapping: each key must have a handler; unknown keys are errors at their own line.
    void mapping(const YAML::Node& node, const std::string& path, const std::map<std::string, Handler>& handlers) {
        if (!node || node.IsNull()) return;
        if (!node.IsMap()) fail(file_, node, path, "expected a mapping");
        for (const auto& entry : node) {
            auto key = entry.first.as<std::string>();
            auto full = path.empty() ? key : path + "." + key;
            auto handler = handlers.find(key);
            if (handler == handlers.end()) fail(file_, entry.first, full, "unknown key" + known_keys(handlers));
            handler->second(entry.second, full);
        }
    }

    std::string text(const YAML::Node& node, const std::string& path) {
        if (!node.IsScalar()) fail(file_, node, path, "expected a string");
        return node.Scalar();
    }

    int integer(const YAML::Node& node, const std::string& path, int min, int max) {
        auto value = text(node, path);
        int out = 0;
        auto [end, ec] = std::from_chars(value.data(), value.data() + value.size(), out);
        if (ec != std::errc() || end != value.data() + value.size() || out < min || out > max) {
            fail(file_, node, path, "expected a whole number from " + std::to_string(min) + " to " +
                                        std::to_string(max) + ", got \"" + value + "\"");
        }
        return out;
    }

    double number(const YAML::Node& node, const std::string& path) {
        try {
            return node.as<double>();
        } catch (const YAML::Exception&) {
            fail(file_, node, path, "expected a number, got \"" + text(node, path) + "\"");
        }
    }

    // A YAML value as JSON, as dbt reads --vars: plain scalars keep YAML's null, booleans and numbers; quoted ones
    // stay strings.
    boost::json::value json(const YAML::Node& node, const std::string& path) {
        if (node.IsMap()) {
            boost::json::object out;
            for (const auto& entry : node) {
                if (!entry.first.IsScalar()) fail(file_, entry.first, path, "expected a string key");
                const auto key = entry.first.Scalar();
                out[key] = json(entry.second, path + "." + key);
            }
            return out;
        }
        if (node.IsSequence()) {
            boost::json::array out;
            for (std::size_t i = 0; i < node.size(); ++i) out.push_back(json(node[i], path + "[" + std::to_string(i) + "]"));
            return out;
        }
        if (!node || node.IsNull()) return nullptr;
        if (!node.IsScalar()) fail(file_, node, path, "expected a value");
        const auto& value = node.Scalar();
        if (node.Tag() != "?") return boost::json::string(value);  // quoted
        if (value == "true" || value == "True" || value == "TRUE") return true;
        if (value == "false" || value == "False" || value == "FALSE") return false;
        std::int64_t whole = 0;
        auto [end, ec] = std::from_chars(value.data(), value.data() + value.size(), whole);
        if (ec == std::errc() && end == value.data() + value.size()) return whole;
        double real = 0;
        auto [rend, rec] = std::from_chars(value.data(), value.data() + value.size(), real);
        if (rec == std::errc() && rend == value.data() + value.size()) return real;
        return boost::json::string(value);
    }

    bool boolean(const YAML::Node& node, const std::string& path) {
        auto value = text(node, path);
        if (value == "true") return true;
        if (value == "false") return false;
        fail(file_, node, path, "expected true or false, got \"" + value + "\"");
    }

    char character(const YAML::Node& node, const std::string& path) {
        auto value = text(node, path);
        if (value == "\\t") return '\t';
        if (value.size() != 1) fail(file_, node, path, "expected a single character, got \"" + value + "\"");
        return value[0];
    }

    std::chrono::milliseconds duration(const YAML::Node& node, const std::string& path) {
        try {
            return parse_duration(text(node, path));
        } catch (const Error& e) {
            fail(file_, node, path, e.message());
        }
    }

    std::string one_of(const YAML::Node& node, const std::string& path, std::initializer_list<const char*> allowed) {
        auto value = text(node, path);
        std::string names;
        for (const char* a : allowed) {
            if (value == a) return value;
            names += names.empty() ? a : std::string(", ") + a;
        }
        fail(file_, node, path, "expected one of " + names + ", got \"" + value + "\"");
    }

    std::vector<std::string> list(const YAML::Node& node, const std::string& path) {
        std::vector<std::string> out;
        if (node.IsScalar()) return {node.Scalar()};
        if (!node.IsSequence()) fail(file_, node, path, "expected a list");
        for (std::size_t i = 0; i < node.size(); ++i) out.push_back(text(node[i], path + "[" + std::to_string(i) + "]"));
        return out;
    }

    [[noreturn]] void error(const YAML::Node& node, const std::string& path, const std::string& msg) {
        fail(file_, node, path, msg);
    }

private:
    static std::string known_keys(const std::map<std::string, Handler>& handlers) {
        std::string out = " (known: ";
        bool first = true;
        for (const auto& [key, _] : handlers) {
            out += (first ? "" : ", ") + key;
            first = false;
        }
        return out + ")";
    }

    fs::path file_;
};

StagedTable read_table(Reader& r, const YAML::Node& node, const std::string& path) {
    StagedTable t;
    t.line = node.Mark().line >= 0 ? std::optional<int>(node.Mark().line + 1) : std::nullopt;
    r.mapping(node, path, {
        {"name", [&](const YAML::Node& n, const std::string& p) { t.name = r.text(n, p); }},
        {"path", [&](const YAML::Node& n, const std::string& p) { t.source = r.text(n, p); }},
        {"url", [&](const YAML::Node& n, const std::string& p) { t.source = r.text(n, p); }},
        {"primary_key", [&](const YAML::Node& n, const std::string& p) { t.primary_key = r.list(n, p); }},
        {"columns", [&](const YAML::Node& n, const std::string& p) {
             if (!n.IsMap()) r.error(n, p, "expected a mapping of column name to type");
             for (const auto& c : n) t.column_types[c.first.as<std::string>()] = r.text(c.second, p + "." + c.first.as<std::string>());
         }},
        {"csv", [&](const YAML::Node& n, const std::string& p) {
             r.mapping(n, p, {
                 {"header", [&](const YAML::Node& v, const std::string& q) { t.csv.header = r.boolean(v, q); }},
                 {"delimiter", [&](const YAML::Node& v, const std::string& q) { t.csv.delimiter = r.character(v, q); }},
                 {"quote", [&](const YAML::Node& v, const std::string& q) { t.csv.quote = r.character(v, q); }},
                 {"escape", [&](const YAML::Node& v, const std::string& q) { t.csv.escape = r.character(v, q); }},
                 {"null", [&](const YAML::Node& v, const std::string& q) { t.csv.null_string = r.text(v, q); }},
                 {"gzip", [&](const YAML::Node& v, const std::string& q) { t.csv.gzip = r.boolean(v, q); }},
             });
         }},
    });
    if (t.name.empty()) r.error(node, path, "a staged table needs a name");
    if (t.source.empty()) r.error(node, path, "table " + t.name + " needs a path or url");
    return t;
}

void read_document(Reader& r, const YAML::Node& root, Config& c) {
    r.mapping(root, "", {
        {"project", [&](const YAML::Node& n, const std::string& p) { c.project = r.text(n, p); }},
        {"server", [&](const YAML::Node& n, const std::string& p) {
             r.mapping(n, p, {{"database_url_env", [&](const YAML::Node& v, const std::string& q) { c.server.database_url_env = r.text(v, q); }}});
         }},
        {"production", [&](const YAML::Node& n, const std::string& p) {
             r.mapping(n, p, {
                 {"schemas", [&](const YAML::Node& v, const std::string& q) { c.production.schemas = r.list(v, q); }},
                 {"role", [&](const YAML::Node& v, const std::string& q) { c.production.role = r.text(v, q); }},
                 {"raw_schema", [&](const YAML::Node& v, const std::string& q) { c.production.raw_schema = r.text(v, q); }},
             });
         }},
        {"environments", [&](const YAML::Node& n, const std::string& p) {
             auto& e = c.environments;
             r.mapping(n, p, {
                 {"provider", [&](const YAML::Node& v, const std::string& q) { e.provider = r.one_of(v, q, {"postgres", "digitalocean"}); }},
                 {"prefix", [&](const YAML::Node& v, const std::string& q) { e.prefix = r.text(v, q); }},
                 {"ttl", [&](const YAML::Node& v, const std::string& q) { e.ttl = std::chrono::duration_cast<std::chrono::seconds>(r.duration(v, q)); }},
                 {"connection_limit", [&](const YAML::Node& v, const std::string& q) { e.connection_limit = r.integer(v, q, 1, 10000); }},
                 {"statement_timeout", [&](const YAML::Node& v, const std::string& q) { e.statement_timeout = r.duration(v, q); }},
                 {"idle_in_transaction_timeout", [&](const YAML::Node& v, const std::string& q) { e.idle_in_transaction_timeout = r.duration(v, q); }},
                 {"temp_file_limit_mb", [&](const YAML::Node& v, const std::string& q) { e.temp_file_limit_mb = r.integer(v, q, -1, 1 << 30); }},
                 {"max_environments", [&](const YAML::Node& v, const std::string& q) { e.max_environments = r.integer(v, q, 1, 100000); }},
                 {"max_connections", [&](const YAML::Node& v, const std::string& q) { e.max_connections = r.integer(v, q, 1, 1000000); }},
             });
         }},
        {"dbt", [&](const YAML::Node& n, const std::string& p) {
             auto& d = c.dbt;
             r.mapping(n, p, {
                 {"project_dir", [&](const YAML::Node& v, const std::string& q) { d.project_dir = r.text(v, q); }},
                 {"profile", [&](const YAML::Node& v, const std::string& q) { d.profile = r.text(v, q); }},
                 {"executable", [&](const YAML::Node& v, const std::string& q) { d.executable = r.text(v, q); }},
                 {"target", [&](const YAML::Node& v, const std::string& q) { d.target = r.text(v, q); }},
                 {"threads", [&](const YAML::Node& v, const std::string& q) { d.threads = r.integer(v, q, 1, 256); }},
                 {"state_artifact", [&](const YAML::Node& v, const std::string& q) { d.state_artifact = r.text(v, q); }},
                 {"exclude", [&](const YAML::Node& v, const std::string& q) { d.exclude = r.list(v, q); }},
                 {"vars", [&](const YAML::Node& v, const std::string& q) {
                      if (!v.IsMap()) r.error(v, q, "expected a mapping of dbt vars");
                      d.vars = boost::json::serialize(r.json(v, q));
                  }},
             });
         }},
        {"stage", [&](const YAML::Node& n, const std::string& p) {
             r.mapping(n, p, {
                 {"content_schema", [&](const YAML::Node& v, const std::string& q) { c.stage.content_schema = r.text(v, q); }},
                 {"parallel_streams", [&](const YAML::Node& v, const std::string& q) { c.stage.parallel_streams = r.integer(v, q, 1, 64); }},
                 {"tables", [&](const YAML::Node& v, const std::string& q) {
                      if (!v.IsSequence()) r.error(v, q, "expected a list of tables");
                      for (std::size_t i = 0; i < v.size(); ++i) {
                          c.stage.tables.push_back(read_table(r, v[i], q + "[" + std::to_string(i) + "]"));
                      }
                  }},
             });
         }},
        {"comment", [&](const YAML::Node& n, const std::string& p) {
             r.mapping(n, p, {
                 {"behavior", [&](const YAML::Node& v, const std::string& q) { c.comment.behavior = r.one_of(v, q, {"update", "new", "delete-and-new"}); }},
                 {"prices", [&](const YAML::Node& v, const std::string& q) { c.comment.prices = r.text(v, q); }},
             });
         }},
        {"diff", [&](const YAML::Node& n, const std::string& p) {
             auto& d = c.diff;
             r.mapping(n, p, {
                 {"enabled", [&](const YAML::Node& v, const std::string& q) { d.enabled = r.boolean(v, q); }},
                 {"model_budget", [&](const YAML::Node& v, const std::string& q) { d.model_budget = r.duration(v, q); }},
                 {"budget", [&](const YAML::Node& v, const std::string& q) { d.budget = r.duration(v, q); }},
                 {"examples", [&](const YAML::Node& v, const std::string& q) { d.examples = r.integer(v, q, 0, 20); }},
                 {"value_width", [&](const YAML::Node& v, const std::string& q) { d.value_width = r.integer(v, q, 4, 1000); }},
                 {"work_mem", [&](const YAML::Node& v, const std::string& q) {
                      d.work_mem = r.text(v, q);
                      if (d.work_mem.empty() || d.work_mem.find_first_not_of("0123456789kMGB") != std::string::npos) {
                          r.error(v, q, "expected a size such as 256MB, got \"" + d.work_mem + "\"");
                      }
                  }},
                 {"sensitive_columns", [&](const YAML::Node& v, const std::string& q) { d.sensitive_columns = r.list(v, q); }},
             });
         }},
        {"publish", [&](const YAML::Node& n, const std::string& p) {
             r.mapping(n, p, {
                 {"keep_archives", [&](const YAML::Node& v, const std::string& q) { c.publish.keep_archives = r.integer(v, q, 0, 1000); }},
                 {"lock_timeout", [&](const YAML::Node& v, const std::string& q) { c.publish.lock_timeout = r.duration(v, q); }},
                 {"lock_retries", [&](const YAML::Node& v, const std::string& q) { c.publish.lock_retries = r.integer(v, q, 0, 1000); }},
                 {"on_stale", [&](const YAML::Node& v, const std::string& q) { c.publish.on_stale = r.one_of(v, q, {"rebuild", "strict"}); }},
             });
         }},
        {"digitalocean", [&](const YAML::Node& n, const std::string& p) {
             auto& d = c.digitalocean;
             r.mapping(n, p, {
                 {"token_env", [&](const YAML::Node& v, const std::string& q) { d.token_env = r.text(v, q); }},
                 {"region", [&](const YAML::Node& v, const std::string& q) { d.region = r.text(v, q); }},
                 {"version", [&](const YAML::Node& v, const std::string& q) { d.version = r.text(v, q); }},
                 {"size", [&](const YAML::Node& v, const std::string& q) { d.size = r.text(v, q); }},
                 {"production_size", [&](const YAML::Node& v, const std::string& q) { d.production_size = r.text(v, q); }},
                 {"node_count", [&](const YAML::Node& v, const std::string& q) { d.node_count = r.integer(v, q, 1, 3); }},
                 {"trusted_sources", [&](const YAML::Node& v, const std::string& q) { d.trusted_sources = r.list(v, q); }},
                 {"online_deadline", [&](const YAML::Node& v, const std::string& q) {
                      d.online_deadline = std::chrono::duration_cast<std::chrono::seconds>(r.duration(v, q));
                  }},
             });
         }},
        {"cost", [&](const YAML::Node& n, const std::string& p) {
             r.mapping(n, p, {{"shared_server_usd_per_gb_month",
                               [&](const YAML::Node& v, const std::string& q) { c.cost.shared_server_usd_per_gb_month = r.number(v, q); }}});
         }},
    });
}

ErrorLocation at_mark(const fs::path& file, const YAML::Mark& mark) {
    ErrorLocation where{.file = file.string()};
    if (mark.line >= 0) where.line = static_cast<std::uint64_t>(mark.line) + 1;
    return where;
}

}  // namespace

std::chrono::milliseconds parse_duration(const std::string& text) {
    using namespace std::chrono;
    std::size_t i = 0;
    while (i < text.size() && (std::isdigit(static_cast<unsigned char>(text[i])) != 0)) ++i;
    if (i == 0 || i > 12) throw Error(ErrorKind::usage, "invalid duration \"" + text + "\" (examples: 72h, 30m, 2s)");
    long long value = std::stoll(text.substr(0, i));
    auto unit = text.substr(i);
    if (unit.empty() || unit == "s") return seconds(value);
    if (unit == "ms") return milliseconds(value);
    if (unit == "m" || unit == "min") return minutes(value);
    if (unit == "h") return hours(value);
    if (unit == "d") return hours(24 * value);
    throw Error(ErrorKind::usage, "invalid duration \"" + text + "\" (units: ms, s, m, h, d)");
}

Config parse(const std::string& text, const std::filesystem::path& file) {
    Config c;
    c.file = file;
    c.root = file.has_parent_path() ? file.parent_path() : std::filesystem::path(".");
    YAML::Node root;
    try {
        root = YAML::Load(text);
    } catch (const YAML::ParserException& e) {
        throw Error(ErrorKind::usage, e.msg, at_mark(file, e.mark));
    }
    Reader reader(file);
    try {
        read_document(reader, root, c);
    } catch (const YAML::Exception& e) {
        // A value of an unexpected shape (e.g. a mapping used as a key) that the reader did not anticipate.
        throw Error(ErrorKind::usage, e.msg, at_mark(file, e.mark));
    }
    return c;
}

Config load(const std::filesystem::path& file) {
    std::ifstream in(file, std::ios::binary);
    if (!in) throw Error(ErrorKind::usage, "cannot read the configuration file", {.file = file.string()});
    std::ostringstream text;
    text << in.rdbuf();
    return parse(text.str(), file);
}

Config load_for_command(const std::optional<std::filesystem::path>& config_flag) {
    if (config_flag) return load(*config_flag);
    return load_or_default(std::filesystem::current_path());
}

Config load_or_default(const std::filesystem::path& dir) {
    auto file = dir / "ece.yml";
    if (std::filesystem::exists(file)) return load(file);
    Config c;
    c.root = dir;
    return c;
}

}  // namespace ece::config
