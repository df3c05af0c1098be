#include "diff/diff.hpp"

#include "core/error.hpp"
#include "pg/as_role.hpp"
#include "pg/connect.hpp"
#include "pg/ident.hpp"

#include <algorithm>
#include <cmath>
#include <map>

namespace ece::diff {
namespace {

using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

constexpr const char* query_canceled = "57014";
constexpr int fetched_value_chars = 1000;  // compared in full up to here, shown cut to the width
constexpr milliseconds catalog_timeout{10'000};

// ---- the relations' columns ------------------------------------------------------------------------------------

struct ColumnInfo {
    std::string name;
    std::string type;  // format_type with typmod, as shown
    std::string base;  // format_type without typmod: picks the hash function
};

// Hash functions of pg_catalog for types whose hash opclass is built in (a closed list; anything else is hashed as
// its text). Each gives equal values of its type equal hashes.
const std::map<std::string, std::string>& typed_hashes() {
    static const std::map<std::string, std::string> hashes = {
        {"smallint", "pg_catalog.hashint2extended"},
        {"integer", "pg_catalog.hashint4extended"},
        {"bigint", "pg_catalog.hashint8extended"},
        {"text", "pg_catalog.hashtextextended"},
        {"character varying", "pg_catalog.hashtextextended"},
        {"character", "pg_catalog.hashbpcharextended"},
        {"numeric", "pg_catalog.hash_numeric_extended"},
        {"double precision", "pg_catalog.hashfloat8extended"},
        {"real", "pg_catalog.hashfloat4extended"},
        {"uuid", "pg_catalog.uuid_hash_extended"},
        {"timestamp without time zone", "pg_catalog.timestamp_hash_extended"},
    };
    return hashes;
}

std::vector<ColumnInfo> columns_of(pqxx::transaction_base& tx, const Relation& relation) {
    std::vector<ColumnInfo> columns;
    for (const auto& row : tx.exec_params(
             "SELECT a.attname::text, pg_catalog.format_type(a.atttypid, a.atttypmod), "
             "pg_catalog.format_type(a.atttypid, NULL) FROM pg_catalog.pg_attribute a "
             "JOIN pg_catalog.pg_class c ON c.oid = a.attrelid JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace "
             "WHERE n.nspname = $1 AND c.relname = $2 AND a.attnum > 0 AND NOT a.attisdropped ORDER BY a.attnum",
             relation.schema, relation.name)) {
        columns.push_back({row[0].as<std::string>(), row[1].as<std::string>(), row[2].as<std::string>()});
    }
    return columns;
}

const ColumnInfo* find_column(const std::vector<ColumnInfo>& columns, const std::string& name) {
    for (const auto& c : columns)
        if (c.name == name) return &c;
    return nullptr;
}

std::string column_ref(const std::string& name) { return "t." + pg::quote_ident(name); }

// A value's text through its type's output function (format, not a cast: casts can be user-defined).
std::string text_of(const std::string& expr) { return "pg_catalog.format('%s', " + expr + ")"; }

// A query's select list with its column definition list for pg::select_as_role: every column cast to the type the
// list names, so the two agree exactly.
class SelectList {
public:
    void add(const std::string& expr, const char* type) { columns_.emplace_back(expr, type); }
    std::string sql() const {
        std::string out = "SELECT ";
        for (std::size_t i = 0; i < columns_.size(); ++i) {
            out += (i ? ", (" : "(") + columns_[i].first + ")::" + columns_[i].second;
        }
        return out;
    }
    std::string definition() const {
        std::string out;
        for (std::size_t i = 0; i < columns_.size(); ++i) {
            out += (i ? ", c" : "c") + std::to_string(i) + " " + columns_[i].second;
        }
        return out;
    }

private:
    std::vector<std::pair<std::string, const char*>> columns_;
};

constexpr const char* int8_type = "pg_catalog.int8";
constexpr const char* text_type = "pg_catalog.text";
constexpr const char* text_array_type = "pg_catalog.text[]";

// The plan of one model's diff: which columns both sides share, how each is hashed, the key.
struct Shape {
    std::vector<ColumnInfo> environment, production;
    std::vector<std::string> common;        // in the environment's order
    std::vector<bool> common_same_type;
    std::vector<std::string> key;           // empty: full-row comparison
    std::vector<bool> key_same_type;
};

Shape shape_of(pqxx::transaction_base& tx, const ModelSpec& spec) {
    Shape s;
    s.environment = columns_of(tx, spec.environment);
    if (spec.production) s.production = columns_of(tx, *spec.production);
    for (const auto& c : s.environment) {
        if (const auto* before = find_column(s.production, c.name)) {
            s.common.push_back(c.name);
            s.common_same_type.push_back(before->type == c.type);
        }
    }
    bool key_on_both = !spec.key.columns.empty();
    for (const auto& k : spec.key.columns) {
        const auto* after = find_column(s.environment, k);
        const auto* before = find_column(s.production, k);
        if (!after || !before) key_on_both = false;
        else s.key_same_type.push_back(after->type == before->type);
    }
    if (key_on_both) s.key = spec.key.columns;
    else s.key_same_type.clear();
    return s;
}

// The 64-bit hash of column i of the common columns, NULL for NULL.
std::string hash_expr(const Shape& s, std::size_t i) {
    const auto ref = column_ref(s.common[i]);
    if (s.common_same_type[i]) {
        const auto* column = find_column(s.environment, s.common[i]);
        auto typed = typed_hashes().find(column->base);
        if (typed != typed_hashes().end()) return typed->second + "(" + ref + ", 0)";
    }
    return "CASE WHEN pg_catalog.num_nulls(" + ref + ") = 0 THEN pg_catalog.hashtextextended(" + text_of(ref) +
           ", 0) END";
}

std::string hash_array(const Shape& s) {
    std::string out = "ARRAY[";
    for (std::size_t i = 0; i < s.common.size(); ++i) out += (i ? ", " : "") + hash_expr(s, i);
    return out + "]::pg_catalog.int8[]";
}

// Key column i as grouped: the column itself, or its text when the two sides' types differ.
std::string key_expr(const Shape& s, std::size_t i) {
    const auto ref = column_ref(s.key[i]);
    return s.key_same_type[i] ? ref : text_of(ref);
}

std::string key_text(const std::string& expr) {
    return "CASE WHEN pg_catalog.num_nulls(" + expr + ") = 0 THEN " + text_of(expr) + " END";
}

std::string qualified(const Relation& r) { return pg::quote_ident(r.schema) + "." + pg::quote_ident(r.name); }

// The filter choosing the same sample of keys (or row hashes) on both sides.
std::string sample_filter(const Shape& s, double percent) {
    std::string what;
    if (s.key.empty()) {
        what = "pg_catalog.hash_array_extended(" + hash_array(s) + ", 0)";
    } else {
        std::string parts = "ROW(";
        for (std::size_t i = 0; i < s.key.size(); ++i) parts += (i ? ", " : "") + key_expr(s, i);
        what = "pg_catalog.hashtextextended(" + text_of(parts + ")") + ", 0)";
    }
    const auto modulus = std::max<long>(1, std::lround(100.0 / percent));
    return " WHERE " + what + " % " + std::to_string(modulus) + " = 0";
}

// Columns per bit-mask word: a mask is an int8 of one bit per column (null, or changed), so each row's or key's
// per-column facts are counted with integer operations instead of array subscripts.
constexpr std::size_t bits_per_word = 62;

std::size_t mask_words(const Shape& s) { return (s.common.size() + bits_per_word - 1) / bits_per_word; }

std::string bit_of(std::size_t i) { return std::to_string(1LL << (i % bits_per_word)) + "::pg_catalog.int8"; }

// Word w of the row's null mask: bit i set when common column i is NULL.
std::string null_mask(const Shape& s, std::size_t w) {
    std::string out = "0::pg_catalog.int8";
    for (std::size_t i = w * bits_per_word; i < s.common.size() && i < (w + 1) * bits_per_word; ++i) {
        out += " + pg_catalog.num_nulls(" + column_ref(s.common[i]) + ") * " + bit_of(i);
    }
    return out;
}

std::string side_select(const Shape& s, const Relation& relation, bool environment, const std::string& filter) {
    std::string sql = "SELECT " + std::string(environment ? "true" : "false") + " AS e";
    for (std::size_t i = 0; i < s.key.size(); ++i) sql += ", " + key_expr(s, i) + " AS k" + std::to_string(i);
    for (std::size_t w = 0; w < mask_words(s); ++w) sql += ", " + null_mask(s, w) + " AS n" + std::to_string(w);
    return sql + ", " + hash_array(s) + " AS h FROM " + qualified(relation) + " t" + filter;
}

// ---- the one-pass aggregate --------------------------------------------------------------------------------------

const ExampleRow::Kind example_kinds[] = {ExampleRow::Kind::only_production, ExampleRow::Kind::only_environment,
                                          ExampleRow::Kind::changed};

// A key's kind, computed once per key (one array comparison): 1 only in production, 2 only in the environment,
// 3 changed, 0 unchanged, 4 duplicate.
constexpr const char* kind_sql =
    "CASE WHEN g.np = 1 AND g.ne = 0 THEN 1 WHEN g.np = 0 AND g.ne = 1 THEN 2 "
    "WHEN g.np = 1 AND g.ne = 1 THEN CASE WHEN g.hp = g.he THEN 0 ELSE 3 END ELSE 4 END";

std::string kind_condition(ExampleRow::Kind kind, bool keyed) {
    if (!keyed) return kind == ExampleRow::Kind::only_production ? "g.np > g.ne" : "g.ne > g.np";
    switch (kind) {
        case ExampleRow::Kind::only_production: return "g.kind = 1";
        case ExampleRow::Kind::only_environment: return "g.kind = 2";
        case ExampleRow::Kind::changed: return "g.kind = 3";
    }
    return "false";
}

// Example j of a kind: the group with the least salted hash, as text[] (the salt's hash, then the key's parts, or
// the row's hash array without a key): deterministic, and a different group for each salt.
std::string example_aggregate(const Shape& s, ExampleRow::Kind kind, int salt) {
    std::vector<std::string> parts;
    if (s.key.empty()) parts.push_back(text_of("g.h"));
    for (std::size_t i = 0; i < s.key.size(); ++i) parts.push_back(key_text("g.k" + std::to_string(i)));
    std::string all;
    for (const auto& p : parts) all += ", " + p;
    std::string identity = s.key.empty() ? text_of("g.h") : text_of("ROW(" + all.substr(2) + ")");
    return "pg_catalog.min(ARRAY[pg_catalog.hashtextextended(" + identity + ", " + std::to_string(salt) +
           ")::pg_catalog.text" + all + "]) FILTER (WHERE " + kind_condition(kind, !s.key.empty()) + ")";
}

// Word w of a changed key's mask: bit i set when common column i differs (computed for changed keys only).
std::string changed_mask(const Shape& s, std::size_t w) {
    std::string out = "0::pg_catalog.int8";
    for (std::size_t i = w * bits_per_word; i < s.common.size() && i < (w + 1) * bits_per_word; ++i) {
        const auto at = "[" + std::to_string(i + 1) + "]";
        out += " + CASE WHEN g.hp" + at + " IS DISTINCT FROM g.he" + at + " THEN " + bit_of(i) + " ELSE 0 END";
    }
    return out;
}

std::string has_bit(const std::string& word, std::size_t i) {
    return "(" + word + " & " + bit_of(i) + ") <> 0";
}

struct Aggregate {
    std::string sql;
    std::string definition;  // its column definition list
};

// The keys of both sides matched by a hash full join instead of grouped: no aggregate state per key, so about
// three times faster, but blind to duplicate and NULL keys. The query then also returns the rows with a NULL key
// (last column); the caller compares the rows each side contributed with its row count and falls back to the
// grouping when either shows something the join cannot count.
std::string joined_keys(const Shape& s, const ModelSpec& spec, const std::string& filter) {
    std::string select = "SELECT ";
    std::string on;
    for (std::size_t i = 0; i < s.key.size(); ++i) {
        const auto k = "k" + std::to_string(i);
        select += "COALESCE(p." + k + ", e." + k + ") AS " + k + ", ";
        on += (i ? " AND p." : "p.") + k + " = e." + k;
    }
    select += "CASE WHEN p.e IS NULL THEN 0 ELSE 1 END AS np, CASE WHEN e.e IS NULL THEN 0 ELSE 1 END AS ne, "
              "p.h AS hp, e.h AS he";
    for (std::size_t w = 0; w < mask_words(s); ++w) {
        const auto n = std::to_string(w);
        select += ", p.n" + n + " AS np" + n + ", e.n" + n + " AS ne" + n;
    }
    return select + " FROM (" + side_select(s, *spec.production, false, filter) + ") p FULL JOIN (" +
           side_select(s, spec.environment, true, filter) + ") e ON " + on;
}

Aggregate aggregate_sql(const Shape& s, const ModelSpec& spec, const std::string& filter, int examples,
                        bool join = false) {
    const bool keyed = !s.key.empty();
    const std::size_t words = mask_words(s);
    std::string inner = side_select(s, *spec.production, false, filter) + " UNION ALL " +
                        side_select(s, spec.environment, true, filter);
    std::string keys;
    for (std::size_t i = 0; i < s.key.size(); ++i) keys += (i ? ", " : "") + std::string("s.k") + std::to_string(i);
    std::string masks;
    for (std::size_t w = 0; w < words; ++w) {
        const auto n = "s.n" + std::to_string(w);
        masks += keyed ? ", pg_catalog.min(" + n + ") FILTER (WHERE NOT s.e) AS np" + std::to_string(w) +
                             ", pg_catalog.min(" + n + ") FILTER (WHERE s.e) AS ne" + std::to_string(w)
                       : ", pg_catalog.min(" + n + ") AS n" + std::to_string(w);
    }
    const std::string counts =
        "pg_catalog.count(*) FILTER (WHERE NOT s.e) AS np, pg_catalog.count(*) FILTER (WHERE s.e) AS ne";
    std::string from;
    if (keyed) {
        std::string grouped = join ? joined_keys(s, spec, filter)
                                   : "SELECT " + keys + ", " + counts +
                                         ", pg_catalog.min(s.h) FILTER (WHERE NOT s.e) AS hp, "
                                         "pg_catalog.min(s.h) FILTER (WHERE s.e) AS he" + masks + " FROM (" + inner +
                                         ") s GROUP BY " + keys;
        // Each key's kind once, then its changed-column masks once (OFFSET 0 keeps each level's projection from
        // being folded into the aggregate's filters, where it would be computed once per filter).
        std::string kinds = "SELECT g.*, " + std::string(kind_sql) + " AS kind FROM (" + grouped + ") g OFFSET 0";
        std::string changed = "SELECT g.*";
        for (std::size_t w = 0; w < words; ++w) {
            changed += ", CASE WHEN g.kind = 3 THEN " + changed_mask(s, w) + " ELSE 0 END AS c" + std::to_string(w);
        }
        from = changed + " FROM (" + kinds + ") g OFFSET 0";
    } else {
        from = "SELECT s.h, " + counts + masks + " FROM (" + inner + ") s GROUP BY s.h";
    }
    // Counts are int8 (sums of counts are numeric before the cast), examples text[].
    SelectList out;
    out.add("COALESCE(pg_catalog.sum(g.np), 0)", int8_type);
    out.add("COALESCE(pg_catalog.sum(g.ne), 0)", int8_type);
    auto word = [](const char* prefix, std::size_t i) { return std::string("g.") + prefix + std::to_string(i / bits_per_word); };
    if (keyed) {
        out.add("pg_catalog.count(*) FILTER (WHERE g.kind = 1)", int8_type);
        out.add("pg_catalog.count(*) FILTER (WHERE g.kind = 2)", int8_type);
        out.add("pg_catalog.count(*) FILTER (WHERE g.kind = 3)", int8_type);
        out.add("pg_catalog.count(*) FILTER (WHERE g.kind = 0)", int8_type);
        out.add("pg_catalog.count(*) FILTER (WHERE g.kind = 4)", int8_type);
        out.add("COALESCE(pg_catalog.sum(g.np) FILTER (WHERE g.kind = 4), 0)", int8_type);
        out.add("COALESCE(pg_catalog.sum(g.ne) FILTER (WHERE g.kind = 4), 0)", int8_type);
        for (std::size_t i = 0; i < s.common.size(); ++i) {
            out.add("pg_catalog.count(*) FILTER (WHERE g.kind = 3 AND " + has_bit(word("c", i), i) + ")", int8_type);
            out.add("pg_catalog.count(*) FILTER (WHERE g.np = 1 AND " + has_bit(word("np", i), i) + ")", int8_type);
            out.add("pg_catalog.count(*) FILTER (WHERE g.ne = 1 AND " + has_bit(word("ne", i), i) + ")", int8_type);
        }
    } else {
        out.add("COALESCE(pg_catalog.sum(GREATEST(g.np - g.ne, 0)), 0)", int8_type);
        out.add("COALESCE(pg_catalog.sum(GREATEST(g.ne - g.np, 0)), 0)", int8_type);
        out.add("0", int8_type);
        out.add("COALESCE(pg_catalog.sum(LEAST(g.np, g.ne)), 0)", int8_type);
        out.add("0", int8_type);
        out.add("0", int8_type);
        out.add("0", int8_type);
        for (std::size_t i = 0; i < s.common.size(); ++i) {
            out.add("0", int8_type);
            out.add("COALESCE(pg_catalog.sum(g.np) FILTER (WHERE " + has_bit(word("n", i), i) + "), 0)", int8_type);
            out.add("COALESCE(pg_catalog.sum(g.ne) FILTER (WHERE " + has_bit(word("n", i), i) + "), 0)", int8_type);
        }
    }
    for (auto kind : example_kinds) {
        if (!keyed && kind == ExampleRow::Kind::changed) continue;
        for (int j = 1; j <= examples; ++j) out.add(example_aggregate(s, kind, j), text_array_type);
    }
    if (join) {
        std::string null_key;
        for (std::size_t i = 0; i < s.key.size(); ++i) null_key += (i ? " OR g.k" : "g.k") + std::to_string(i) + " IS NULL";
        out.add("pg_catalog.count(*) FILTER (WHERE " + null_key + ")", int8_type);
    }
    return {out.sql() + " FROM (" + from + ") g", out.definition()};
}

// ---- running with a budget ---------------------------------------------------------------------------------------

class Budget {
public:
    explicit Budget(milliseconds total) : end_(Clock::now() + total) {}
    milliseconds left() const {
        return std::max(milliseconds(0), std::chrono::duration_cast<milliseconds>(end_ - Clock::now()));
    }
    bool spent() const { return left() < milliseconds(1); }

private:
    Clock::time_point end_;
};

bool is_timeout(const pqxx::sql_error& e) { return e.sqlstate() == query_canceled; }

// One transaction of a model's diff. Its relations are read only through read(): pg::select_as_role runs the query
// as the environment's role inside a SECURITY DEFINER function, where what a view calls cannot RESET ROLE back to
// ece's admin, in a subtransaction rolled back afterwards. The catalog (pg_class, pg_attribute) is read directly,
// names resolved in pg_catalog only.
class Session {
public:
    Session(pqxx::dbtransaction& tx, const std::string& role) : tx(tx), role_(role) {}

    // `columns` is the query's column definition list (SelectList::definition).
    pqxx::result read(const std::string& select, const std::string& columns) {
        return pg::select_as_role(tx, role_, select, columns);
    }
    pqxx::row read_one(const std::string& select, const std::string& columns) { return read(select, columns).at(0); }

    pqxx::dbtransaction& tx;

private:
    const std::string& role_;
};

// A transaction whose statements stop after timeout, set beforehand here: a timer already running is one the
// environment's code cannot lift. Not read-only: select_as_role creates its function in pg_temp (rolled back).
template <class F>
auto as_environment(pqxx::connection_base& conn, const Settings& settings, milliseconds timeout, F&& body) {
    pqxx::work tx(conn, "data diff");
    // No parallel plan: with one row per key, partial aggregates in workers reduce nothing and add a sort.
    tx.exec_params("SELECT pg_catalog.set_config('search_path', $1, true), "
                   "pg_catalog.set_config('statement_timeout', $2, true), "
                   "pg_catalog.set_config('work_mem', $3, true), "
                   "pg_catalog.set_config('max_parallel_workers_per_gather', '0', true)",
                   std::string(pg::safe_search_path), std::to_string(std::max<long long>(1, timeout.count())),
                   settings.work_mem);
    Session session(tx, settings.role);
    return body(session);  // never committed: the diff changes nothing
}

std::vector<std::optional<std::string>> text_array(const pqxx::field& field) {
    std::vector<std::optional<std::string>> out;
    if (field.is_null()) return out;
    auto parser = field.as_array();
    for (auto next = parser.get_next(); next.first != pqxx::array_parser::done; next = parser.get_next()) {
        if (next.first == pqxx::array_parser::string_value) out.emplace_back(next.second);
        else if (next.first == pqxx::array_parser::null_value) out.emplace_back(std::nullopt);
    }
    return out;
}

struct Found {
    ExampleRow::Kind kind;
    std::vector<std::optional<std::string>> identity;  // key parts, or the row's hash array as text
};

void read_aggregate(const pqxx::row& row, const Shape& s, int examples, ModelDiff& d, std::vector<Found>& found) {
    std::size_t f = 0;
    auto next = [&] { return row[static_cast<pqxx::row::size_type>(f++)].as<std::int64_t>(); };
    d.rows_production = next();
    d.rows_environment = next();
    d.only_production = next();
    d.only_environment = next();
    d.changed = next();
    d.unchanged = next();
    d.duplicate_keys = next();
    d.duplicate_rows_production = next();
    d.duplicate_rows_environment = next();
    for (const auto& name : s.common) {
        auto it = std::find_if(d.columns.begin(), d.columns.end(), [&](const ColumnDiff& c) { return c.name == name; });
        it->changed = next();
        it->nulls_before = next();
        it->nulls_after = next();
    }
    for (auto kind : example_kinds) {
        if (s.key.empty() && kind == ExampleRow::Kind::changed) continue;
        for (int j = 0; j < examples; ++j) {
            auto parts = text_array(row[static_cast<pqxx::row::size_type>(f++)]);
            if (parts.size() < 2) continue;
            parts.erase(parts.begin());  // the salt's hash
            bool seen = std::any_of(found.begin(), found.end(),
                                    [&](const Found& x) { return x.kind == kind && x.identity == parts; });
            if (!seen) found.push_back({kind, parts});
        }
    }
}

// The one-pass comparison: by the join when the key is a key on both sides (checked against the sides' row counts),
// else by grouping, which also counts duplicate and NULL keys.
void compare(Session& session, const Shape& s, const ModelSpec& spec, const std::string& filter, int examples,
             ModelDiff& d, std::vector<Found>& found) {
    if (!s.key.empty()) {
        const auto joined = aggregate_sql(s, spec, filter, examples, true);
        const auto row = session.read_one(joined.sql, joined.definition);
        read_aggregate(row, s, examples, d, found);
        const auto null_keys = row[static_cast<pqxx::row::size_type>(row.size() - 1)].as<std::int64_t>();
        SelectList sides;
        for (const auto* relation : {&*spec.production, &spec.environment}) {
            sides.add("SELECT pg_catalog.count(*) FROM " + qualified(*relation) + " t" + filter, int8_type);
        }
        const auto counts = session.read_one(sides.sql(), sides.definition());
        if (null_keys == 0 && counts[0].as<std::int64_t>() == d.rows_production &&
            counts[1].as<std::int64_t>() == d.rows_environment) {
            return;
        }
        found.clear();
    }
    const auto grouped = aggregate_sql(s, spec, filter, examples);
    read_aggregate(session.read_one(grouped.sql, grouped.definition), s, examples, d, found);
}

// ---- examples -----------------------------------------------------------------------------------------------------

std::string array_literal(const std::vector<std::string>& values) {
    std::string out = "{";
    for (std::size_t i = 0; i < values.size(); ++i) {
        out += i ? ",\"" : "\"";
        for (char c : values[i]) {
            if (c == '"' || c == '\\') out += '\\';
            out += c;
        }
        out += '"';
    }
    return out + "}";
}

std::string cut(const std::string& value, int width) {
    // Cut on a UTF-8 character boundary, counting characters.
    int chars = 0;
    for (std::size_t i = 0; i < value.size(); ++i) {
        if ((static_cast<unsigned char>(value[i]) & 0xC0) != 0x80 && chars++ == width) return value.substr(0, i) + "…";
    }
    return value;
}

using Fetched = std::map<std::vector<std::optional<std::string>>, std::vector<std::optional<std::string>>>;

// The rows of one side with the examples' keys (or row hashes): identity -> value texts of the columns listed (for a
// sensitive column only its md5 leaves the server, never its value). A key's columns are looked up each in its list
// of wanted values, and matched whole here.
Fetched fetch_rows(Session& session, const Shape& s, const Relation& relation,
                   const std::vector<ColumnInfo>& columns, const std::set<std::string>& sensitive,
                   const std::vector<Found>& found) {
    // The values looked up, per key column (or the row hashes): array literals quoted as values, select_as_role
    // takes no parameters.
    std::vector<std::vector<std::string>> wanted(s.key.empty() ? 1 : s.key.size());
    for (const auto& f : found) {
        for (std::size_t i = 0; i < wanted.size() && i < f.identity.size(); ++i) {
            if (f.identity[i]) wanted[i].push_back(*f.identity[i]);
        }
    }
    auto values = [&](std::size_t i) { return session.tx.quote(array_literal(wanted[i])); };
    SelectList list;
    std::vector<std::string> where;
    if (s.key.empty()) {
        list.add(text_of(hash_array(s)), text_type);
        where.push_back(text_of(hash_array(s)) + " = ANY(" + values(0) + "::pg_catalog.text[])");
    } else {
        for (std::size_t i = 0; i < s.key.size(); ++i) {
            const auto ref = column_ref(s.key[i]);
            list.add(key_text(key_expr(s, i)), text_type);
            where.push_back(s.key_same_type[i] ? ref + " = ANY(" + values(i) + ")"
                                               : text_of(ref) + " = ANY(" + values(i) + "::pg_catalog.text[])");
        }
    }
    for (const auto& c : columns) {
        const auto ref = column_ref(c.name);
        list.add(sensitive.count(c.name) ? "pg_catalog.md5(" + text_of(ref) + ")"
                                         : "CASE WHEN pg_catalog.num_nulls(" + ref + ") = 0 THEN pg_catalog.left(" +
                                               text_of(ref) + ", " + std::to_string(fetched_value_chars) + ") END",
                 text_type);
    }
    std::string sql = list.sql() + " FROM " + qualified(relation) + " t WHERE ";
    for (std::size_t i = 0; i < where.size(); ++i) sql += (i ? " AND " : "") + where[i];
    const auto rows = session.read(sql + " LIMIT 1000", list.definition());
    const auto identity_size = s.key.empty() ? 1 : s.key.size();
    Fetched out;
    for (const auto& row : rows) {
        std::vector<std::optional<std::string>> identity, values;
        for (std::size_t i = 0; i < row.size(); ++i) {
            auto v = row[static_cast<pqxx::row::size_type>(i)].is_null()
                         ? std::optional<std::string>()
                         : std::optional<std::string>(row[static_cast<pqxx::row::size_type>(i)].c_str());
            (i < identity_size ? identity : values).push_back(std::move(v));
        }
        out.emplace(std::move(identity), std::move(values));
    }
    return out;
}

void fill_examples(Session& session, const Shape& s, const ModelSpec& spec, const Settings& settings,
                   const std::vector<Found>& found, ModelDiff& d) {
    if (found.empty()) return;
    auto before = fetch_rows(session, s, *spec.production, s.production, spec.sensitive, found);
    auto after = fetch_rows(session, s, spec.environment, s.environment, spec.sensitive, found);
    auto value_of = [](const Fetched& rows, const std::vector<ColumnInfo>& columns, const Found& f,
                       const std::string& name) -> std::optional<std::optional<std::string>> {
        auto row = rows.find(f.identity);
        if (row == rows.end()) return std::nullopt;
        for (std::size_t i = 0; i < columns.size(); ++i)
            if (columns[i].name == name) return row->second[i];
        return std::nullopt;
    };
    for (const auto& f : found) {
        ExampleRow ex;
        ex.kind = f.kind;
        if (s.key.empty()) {
            // No key: the row's first columns (the side it is on).
            const auto& rows = f.kind == ExampleRow::Kind::only_production ? before : after;
            const auto& columns = f.kind == ExampleRow::Kind::only_production ? s.production : s.environment;
            auto row = rows.find(f.identity);
            if (row == rows.end()) continue;
            for (std::size_t i = 0; i < columns.size() && ex.values.size() < 6; ++i) {
                ExampleRow::Value v{columns[i].name, {}, {}, spec.sensitive.count(columns[i].name) > 0};
                auto& slot = f.kind == ExampleRow::Kind::only_production ? v.before : v.after;
                if (!v.sensitive && row->second[i]) slot = cut(*row->second[i], settings.value_width);
                ex.values.push_back(std::move(v));
            }
            d.examples.push_back(std::move(ex));
            continue;
        }
        for (std::size_t i = 0; i < s.key.size(); ++i) {
            auto value = i < f.identity.size() ? f.identity[i] : std::nullopt;
            if (value && spec.sensitive.count(s.key[i])) value = "(sensitive)";
            else if (value) value = cut(*value, settings.value_width);
            ex.key.emplace_back(s.key[i], value);
        }
        if (f.kind == ExampleRow::Kind::changed) {
            for (const auto& name : s.common) {
                if (std::find(s.key.begin(), s.key.end(), name) != s.key.end()) continue;
                auto b = value_of(before, s.production, f, name);
                auto a = value_of(after, s.environment, f, name);
                if (!b || !a || *b == *a) continue;
                ExampleRow::Value v{name, {}, {}, spec.sensitive.count(name) > 0};
                if (!v.sensitive) {
                    if (*b) v.before = cut(**b, settings.value_width);
                    if (*a) v.after = cut(**a, settings.value_width);
                }
                ex.values.push_back(std::move(v));
            }
        }
        d.examples.push_back(std::move(ex));
    }
}

// ---- distinct counts ---------------------------------------------------------------------------------------------

// Distinct values (of the hashes) of the columns whose values moved, per side: another pass, only within budget.
void count_distinct(Session& session, const Shape& s, const ModelSpec& spec, ModelDiff& d) {
    std::vector<std::size_t> moved;
    for (std::size_t i = 0; i < s.common.size(); ++i) {
        const auto& c = *std::find_if(d.columns.begin(), d.columns.end(),
                                      [&](const ColumnDiff& x) { return x.name == s.common[i]; });
        if (c.changed > 0 || c.nulls_before != c.nulls_after || c.retyped()) moved.push_back(i);
    }
    if (moved.empty()) return;
    for (bool environment : {false, true}) {
        SelectList list;
        for (auto i : moved) list.add("pg_catalog.count(DISTINCT " + hash_expr(s, i) + ")", int8_type);
        const auto& relation = environment ? spec.environment : *spec.production;
        const auto row = session.read_one(list.sql() + " FROM " + qualified(relation) + " t", list.definition());
        for (std::size_t j = 0; j < moved.size(); ++j) {
            auto& c = *std::find_if(d.columns.begin(), d.columns.end(),
                                    [&](const ColumnDiff& x) { return x.name == s.common[moved[j]]; });
            (environment ? c.distinct_after : c.distinct_before) =
                row[static_cast<pqxx::row::size_type>(j)].as<std::int64_t>();
        }
    }
}

// ---- one model ----------------------------------------------------------------------------------------------------

std::vector<ColumnDiff> column_list(const Shape& s, const std::set<std::string>& sensitive) {
    std::vector<ColumnDiff> out;
    for (const auto& c : s.environment) {
        ColumnDiff d;
        d.name = c.name;
        d.after_type = c.type;
        if (const auto* before = find_column(s.production, c.name)) d.before_type = before->type;
        d.sensitive = sensitive.count(c.name) > 0;
        out.push_back(std::move(d));
    }
    for (const auto& c : s.production) {
        if (find_column(s.environment, c.name)) continue;
        ColumnDiff d;
        d.name = c.name;
        d.before_type = c.type;
        d.sensitive = sensitive.count(c.name) > 0;
        out.push_back(std::move(d));
    }
    return out;
}

std::string seconds_text(milliseconds ms) {
    auto s = ms.count() / 1000.0;
    std::string text = std::to_string(s);
    text.erase(text.find_last_not_of('0') + 1);
    if (!text.empty() && text.back() == '.') text.pop_back();
    return text + "s";
}

bool relation_exists(pqxx::transaction_base& tx, const Relation& r) {
    return !tx.exec_params("SELECT 1 FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace "
                           "WHERE n.nspname = $1 AND c.relname = $2",
                           r.schema, r.name)
                .empty();
}

ModelDiff new_model(pqxx::connection_base& conn, const ModelSpec& spec, const Settings& settings, const Budget& budget,
                    ModelDiff d) {
    try {
        as_environment(conn, settings, budget.left(), [&](Session& session) {
            d.rows_environment = session.read_one("SELECT pg_catalog.count(*) FROM " + qualified(spec.environment),
                                                  "n pg_catalog.int8")[0]
                                     .as<std::int64_t>();
            d.only_environment = d.rows_environment;
            Shape s;
            s.environment = columns_of(session.tx, spec.environment);
            d.columns = column_list(s, spec.sensitive);
            return 0;
        });
    } catch (const pqxx::sql_error& e) {
        if (!is_timeout(e)) throw;
        d.method = Method::not_compared;
        d.note = "new model; counting its rows reached the budget";
    }
    return d;
}

}  // namespace

Settings Settings::from(const config::Config& config, std::string role) {
    Settings s;
    s.role = std::move(role);
    s.model_budget = config.diff.model_budget;
    s.budget = config.diff.budget;
    s.examples = config.diff.examples;
    s.value_width = config.diff.value_width;
    s.work_mem = config.diff.work_mem;
    return s;
}

ModelDiff diff_model(pqxx::connection_base& conn, const ModelSpec& spec, const Settings& settings,
                     milliseconds budget_ms) {
    const auto started = Clock::now();
    const Budget budget(std::min(budget_ms, settings.model_budget));
    ModelDiff d;
    d.model = spec.model;
    d.environment_relation = spec.environment.text();
    if (spec.production) d.production_relation = spec.production->text();
    d.key_source = spec.key.source;
    auto finish = [&](ModelDiff& out) -> ModelDiff {
        out.seconds = std::chrono::duration<double>(Clock::now() - started).count();
        return std::move(out);
    };
    try {
        // Reading the catalog is not the comparison: it gets its own few seconds whatever the budget.
        Shape shape = as_environment(conn, settings, catalog_timeout, [&](Session& session) {
            if (spec.production && !relation_exists(session.tx, *spec.production)) return Shape{};
            return shape_of(session.tx, spec);
        });
        if (!spec.production || shape.production.empty()) {
            d.production_relation.clear();
            auto out = new_model(conn, spec, settings, budget, std::move(d));
            return finish(out);
        }
        d.key = shape.key;
        if (shape.key.empty() && !spec.key.columns.empty()) {
            d.note = "the key (" + spec.key.source + ") is not a column on both sides: rows compared whole";
            d.key_source = "none";
        } else if (shape.key.empty()) {
            d.note = "no key found: rows compared whole by the hash of their values (counts only)";
        }
        d.method = shape.key.empty() ? Method::full_row : Method::by_key;
        d.columns = column_list(shape, spec.sensitive);

        std::vector<Found> found;
        bool exact = true;
        try {
            as_environment(conn, settings, budget.left(), [&](Session& session) {
                compare(session, shape, spec, "", settings.examples, d, found);
                return 0;
            });
        } catch (const pqxx::sql_error& e) {
            if (!is_timeout(e)) throw;
            exact = false;
        }
        if (!exact) {
            // The same on a sample of keys chosen alike on both sides, with the model's budget once more (bounded by
            // what the pull request has left, which the caller passed).
            const Budget again(std::min(budget_ms - std::chrono::duration_cast<milliseconds>(Clock::now() - started),
                                        settings.sample_budget.value_or(settings.model_budget)));
            d.method = shape.key.empty() ? Method::sample_full_row : Method::sample_by_key;
            d.sample_percent = settings.sample_percent;
            d.note = "the budget (" + seconds_text(settings.model_budget) + ") was reached: compared a " +
                     std::to_string(static_cast<int>(settings.sample_percent)) + " % sample of " +
                     (shape.key.empty() ? "row hashes" : "keys") + ", the same on both sides";
            try {
                as_environment(conn, settings, again.left(), [&](Session& session) {
                    compare(session, shape, spec, sample_filter(shape, settings.sample_percent), settings.examples, d, found);
                    return 0;
                });
            } catch (const pqxx::sql_error& e) {
                if (!is_timeout(e)) throw;
                d.method = Method::not_compared;
                d.sample_percent.reset();
                d.note = "the budget (" + seconds_text(settings.model_budget) +
                         ") was reached, also by a sample: not compared";
                return finish(d);
            }
            if (d.duplicate_keys > 0) {
                d.note += "; " + std::to_string(d.duplicate_keys) + " keys are held by more than one row";
            }
            return finish(d);
        }
        if (d.duplicate_keys > 0) {
            d.note = std::to_string(d.duplicate_keys) + " keys are held by more than one row (" +
                     std::to_string(d.duplicate_rows_production) + " rows in production, " +
                     std::to_string(d.duplicate_rows_environment) +
                     " in the environment): the key is not unique, those rows are not compared";
        }
        // Examples and distinct counts with what is left of the budget; without them when it runs out.
        try {
            as_environment(conn, settings, budget.left(), [&](Session& session) {
                fill_examples(session, shape, spec, settings, found, d);
                return 0;
            });
            if (!budget.spent()) {
                as_environment(conn, settings, budget.left(), [&](Session& session) {
                    count_distinct(session, shape, spec, d);
                    return 0;
                });
            }
        } catch (const pqxx::sql_error& e) {
            if (!is_timeout(e)) throw;
        }
        return finish(d);
    } catch (const pqxx::sql_error& e) {
        throw pg::translate(e, "diffing " + spec.model + " (" + spec.environment.text() + ")");
    } catch (const pqxx::failure& e) {
        throw pg::translate(e, "diffing " + spec.model + " (" + spec.environment.text() + ")");
    }
}

DiffRun diff_models(pqxx::connection_base& conn, const std::vector<ModelSpec>& specs, const Settings& settings) {
    const auto started = Clock::now();
    const Budget budget(settings.budget);
    DiffRun run;
    for (const auto& spec : specs) {
        if (budget.spent()) {
            run.budget_reached = true;
            ModelDiff d;
            d.model = spec.model;
            d.environment_relation = spec.environment.text();
            if (spec.production) d.production_relation = spec.production->text();
            d.key_source = spec.key.source;
            d.method = Method::not_compared;
            d.note = "the pull request's diff budget (" + seconds_text(settings.budget) + ") was spent: not compared";
            run.models.push_back(std::move(d));
            continue;
        }
        try {
            run.models.push_back(diff_model(conn, spec, settings, budget.left()));
        } catch (const Error& e) {
            // One model that cannot be read (a privilege, a broken view) does not hide the others' diffs.
            ModelDiff d;
            d.model = spec.model;
            d.environment_relation = spec.environment.text();
            if (spec.production) d.production_relation = spec.production->text();
            d.key_source = spec.key.source;
            d.method = Method::not_compared;
            d.note = std::string("could not be compared: ") + e.what();
            run.models.push_back(std::move(d));
        }
    }
    std::stable_sort(run.models.begin(), run.models.end(),
                     [](const ModelDiff& a, const ModelDiff& b) { return a.affected() > b.affected(); });
    run.seconds = std::chrono::duration<double>(Clock::now() - started).count();
    return run;
}

}  // namespace ece::diff
