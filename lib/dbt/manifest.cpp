// The manifest reader: Boost.JSON's SAX parser with a handler that keeps only what the state comparison reads.
// The file is streamed in blocks and never held whole; skipped parts (parent_map, child_map, docs, compiled
// code, ...) cost parsing time only. The handler tracks the JSON path so every error can name where it is.
#include "dbt/manifest.hpp"

#include <time.h>

#include <algorithm>
#include <bitset>
#include <cstdio>
#include <cstring>
#include <future>
#include <memory>

#include <boost/json/basic_parser_impl.hpp>
#include <boost/json/value_stack.hpp>

#include "core/error.hpp"
#include "dbt/canonical.hpp"

namespace ece::dbt {

ResourceType resource_type_from(std::string_view name) {
    if (name == "model") return ResourceType::model;
    if (name == "seed") return ResourceType::seed;
    if (name == "snapshot") return ResourceType::snapshot;
    if (name == "test") return ResourceType::test;
    if (name == "analysis") return ResourceType::analysis;
    if (name == "operation") return ResourceType::operation;
    if (name == "source") return ResourceType::source;
    if (name == "exposure") return ResourceType::exposure;
    if (name == "unit_test") return ResourceType::unit_test;
    if (name == "metric") return ResourceType::metric;
    if (name == "semantic_model") return ResourceType::semantic_model;
    if (name == "saved_query") return ResourceType::saved_query;
    return ResourceType::other;
}

std::string_view to_string(ResourceType type) {
    switch (type) {
        case ResourceType::model: return "model";
        case ResourceType::seed: return "seed";
        case ResourceType::snapshot: return "snapshot";
        case ResourceType::test: return "test";
        case ResourceType::analysis: return "analysis";
        case ResourceType::operation: return "operation";
        case ResourceType::source: return "source";
        case ResourceType::exposure: return "exposure";
        case ResourceType::unit_test: return "unit_test";
        case ResourceType::metric: return "metric";
        case ResourceType::semantic_model: return "semantic_model";
        case ResourceType::saved_query: return "saved_query";
        case ResourceType::other: return "other";
    }
    return "other";
}

namespace {

const std::string_view* find_key(const std::vector<KeyValue>& sorted, std::string_view key) {
    auto it = std::lower_bound(sorted.begin(), sorted.end(), key,
                               [](const KeyValue& kv, std::string_view k) { return kv.key < k; });
    if (it == sorted.end() || it->key != key) return nullptr;
    return &it->value;
}

}  // namespace

const std::string_view* Node::unrendered(std::string_view key) const { return find_key(unrendered_config, key); }
const std::string_view* Node::extra(std::string_view key) const { return find_key(extras, key); }

std::uint32_t IdIndex::hash_of(std::string_view id) {
    const std::size_t h = std::hash<std::string_view>{}(id);
    return static_cast<std::uint32_t>(h ^ (h >> 32));
}

void IdIndex::reserve(std::size_t count) {
    std::size_t capacity = 16;
    while (capacity < 2 * count) capacity *= 2;
    if (capacity > slots_.size()) grow(capacity);
}

void IdIndex::grow(std::size_t capacity) {
    std::vector<Slot> old = std::move(slots_);
    slots_.assign(capacity, Slot{});
    const std::size_t mask = capacity - 1;
    for (const Slot& slot : old) {
        if (!slot.used) continue;
        std::size_t i = slot.hash & mask;
        while (slots_[i].used) i = (i + 1) & mask;
        slots_[i] = slot;
    }
}

void IdIndex::insert(std::string_view id, std::uint32_t position) {
    if (2 * (size_ + 1) > slots_.size()) grow(slots_.empty() ? 16 : 2 * slots_.size());
    const std::uint32_t hash = hash_of(id);
    const std::size_t mask = slots_.size() - 1;
    std::size_t i = hash & mask;
    for (; slots_[i].used; i = (i + 1) & mask)
        if (slots_[i].hash == hash && slots_[i].id == id) return;
    slots_[i] = Slot{id, hash, position, true};
    ++size_;
}

std::optional<std::uint32_t> IdIndex::find(std::string_view id) const {
    if (slots_.empty()) return std::nullopt;
    const std::uint32_t hash = hash_of(id);
    const std::size_t mask = slots_.size() - 1;
    for (std::size_t i = hash & mask; slots_[i].used; i = (i + 1) & mask)
        if (slots_[i].hash == hash && slots_[i].id == id) return slots_[i].position;
    return std::nullopt;
}

const Node* Manifest::find(std::string_view unique_id) const {
    auto position = node_index.find(unique_id);
    return position ? &nodes[*position] : nullptr;
}

const Macro* Manifest::find_macro(std::string_view unique_id) const {
    auto position = macro_index.find(unique_id);
    return position ? &macros[*position] : nullptr;
}

namespace {

// Where in the manifest a value sits, as far as the reader cares.
enum class Ctx : std::uint8_t {
    skip,
    root,
    metadata,
    node_map,
    macro_map,
    node,
    macro,
    checksum,
    fqn,
    tags,
    config,
    config_tags,
    persist_docs,
    unrendered_config,
    columns,
    column,
    contract,
    depends_on,
    depends_on_nodes,
    depends_on_macros,
    test_metadata,
    macro_depends_on,
    macro_depends_on_macros,
    capture,
};

// What a captured (canonicalized) value becomes.
enum class CaptureTarget : std::uint8_t { unrendered, extra, column_constraints, node_meta, column_meta };

// The keys the reader acts on. A key is recognised once, when the parser reports it, so the value callbacks
// switch on this instead of comparing strings (the same key means different things in different places:
// checksum.name, a node's name, a macro's name).
enum class Key : std::uint8_t {
    other,
    metadata, nodes, sources, exposures, macros, metrics, semantic_models, saved_queries, unit_tests,
    dbt_schema_version, dbt_version, adapter_type, project_name,
    resource_type, name, package_name, path, original_file_path, raw_code, database, schema, alias, relation_name,
    unrendered_schema, description, attached_node, column_name, source_name, checksum,
    fqn, tags, patch_path, config, unrendered_config, columns, contract, depends_on, test_metadata,
    materialized, enabled, persist_docs, relation, enforced, namespace_, data_type, macro_sql, meta,
    // Node fields dbt compares as whole values, kept as canonical JSON in Node::extras (keep these last).
    access, constraints, deprecation_date, latest_version, version,  // models
    identifier, quoting, freshness, loaded_at_field, external,       // sources
    type, owner, maturity, url, label,                               // exposures (metrics: type, label)
    model, defaults, entities, dimensions, measures, primary_entity, group,  // semantic models
    query_params, exports,                                                   // saved queries
};

bool is_extra(Key key) { return key >= Key::access; }

struct KeyName {
    std::string_view text;
    Key key;
};

constexpr KeyName key_names[] = {
    {"metadata", Key::metadata},
    {"nodes", Key::nodes},
    {"sources", Key::sources},
    {"exposures", Key::exposures},
    {"macros", Key::macros},
    {"metrics", Key::metrics},
    {"semantic_models", Key::semantic_models},
    {"saved_queries", Key::saved_queries},
    {"unit_tests", Key::unit_tests},
    {"dbt_schema_version", Key::dbt_schema_version},
    {"dbt_version", Key::dbt_version},
    {"adapter_type", Key::adapter_type},
    {"project_name", Key::project_name},
    {"resource_type", Key::resource_type},
    {"name", Key::name},
    {"package_name", Key::package_name},
    {"path", Key::path},
    {"original_file_path", Key::original_file_path},
    {"raw_code", Key::raw_code},
    {"raw_sql", Key::raw_code},  // manifests before raw_sql was renamed
    {"database", Key::database},
    {"schema", Key::schema},
    {"alias", Key::alias},
    {"relation_name", Key::relation_name},
    {"unrendered_schema", Key::unrendered_schema},
    {"description", Key::description},
    {"attached_node", Key::attached_node},
    {"column_name", Key::column_name},
    {"source_name", Key::source_name},
    {"checksum", Key::checksum},
    {"fqn", Key::fqn},
    {"tags", Key::tags},
    {"patch_path", Key::patch_path},
    {"config", Key::config},
    {"unrendered_config", Key::unrendered_config},
    {"columns", Key::columns},
    {"contract", Key::contract},
    {"depends_on", Key::depends_on},
    {"test_metadata", Key::test_metadata},
    {"materialized", Key::materialized},
    {"enabled", Key::enabled},
    {"persist_docs", Key::persist_docs},
    {"relation", Key::relation},
    {"enforced", Key::enforced},
    {"namespace", Key::namespace_},
    {"data_type", Key::data_type},
    {"macro_sql", Key::macro_sql},
    {"meta", Key::meta},
    {"access", Key::access},
    {"constraints", Key::constraints},
    {"deprecation_date", Key::deprecation_date},
    {"latest_version", Key::latest_version},
    {"version", Key::version},
    {"identifier", Key::identifier},
    {"quoting", Key::quoting},
    {"freshness", Key::freshness},
    {"loaded_at_field", Key::loaded_at_field},
    {"external", Key::external},
    {"type", Key::type},
    {"owner", Key::owner},
    {"maturity", Key::maturity},
    {"url", Key::url},
    {"label", Key::label},
    {"model", Key::model},
    {"defaults", Key::defaults},
    {"entities", Key::entities},
    {"dimensions", Key::dimensions},
    {"measures", Key::measures},
    {"primary_entity", Key::primary_entity},
    {"group", Key::group},
    {"query_params", Key::query_params},
    {"exports", Key::exports},
};

constexpr std::size_t longest_key_name = 18;
static_assert(std::all_of(std::begin(key_names), std::end(key_names),
                          [](const KeyName& name) { return name.text.size() <= longest_key_name; }));

// An open-addressing table over key_names, hashed on length and three characters: every key of every node,
// config and column is looked up, and std::hash over the whole key cost more than the rest of the handler.
class KeyTable {
public:
    KeyTable() {
        for (const KeyName& name : key_names) {
            std::size_t slot = hash(name.text);
            while (slots_[slot]) slot = (slot + 1) % size;
            slots_[slot] = &name;
        }
    }
    Key find(std::string_view text) const {
        if (text.empty() || text.size() > longest_key_name) return Key::other;
        for (std::size_t slot = hash(text); slots_[slot]; slot = (slot + 1) % size)
            if (slots_[slot]->text == text) return slots_[slot]->key;
        return Key::other;
    }

private:
    static constexpr std::size_t size = 512;  // a power of two well above the number of names
    static std::size_t hash(std::string_view text) {
        const auto at = [&](std::size_t i) { return static_cast<std::size_t>(static_cast<unsigned char>(text[i])); };
        return (text.size() * 97 + at(0) * 31 + at(text.size() / 2) * 7 + at(text.size() - 1)) % size;
    }
    const KeyName* slots_[size] = {};
};

Key key_of(std::string_view text) {
    static const KeyTable table;
    return table.find(text);
}

// Containers whose keys the reader acts on; elsewhere a key only names the JSON path, or is an id (node_map,
// columns) or a config key (unrendered_config) taken as text. A rendered config has some thirty keys of which
// only materialized, persist_docs (12 characters), enabled (7) and tags (4, a unit test's only tags) count: the
// length rules out the others.
bool reads_keys(Ctx ctx, std::size_t key_length) {
    switch (ctx) {
        case Ctx::config: return key_length == 12 || key_length == 7 || key_length == 4;
        case Ctx::root:
        case Ctx::metadata:
        case Ctx::node:
        case Ctx::checksum:
        case Ctx::persist_docs:
        case Ctx::column:
        case Ctx::contract:
        case Ctx::depends_on:
        case Ctx::test_metadata:
        case Ctx::macro:
        case Ctx::macro_depends_on: return true;
        default: return false;
    }
}

// One open object or array. Its current key is a view into the block being parsed (no copy per key); it is copied
// into owned_key only when it came in parts (escapes, block boundary) or its block is about to be reused.
struct Frame {
    Ctx ctx = Ctx::skip;
    bool array = false;
    bool owns_key = false;
    Key key_id = Key::other;
    std::string_view key_view;
    std::string owned_key;
    std::size_t index = 0;

    std::string_view key() const { return owns_key ? std::string_view(owned_key) : key_view; }
};

bool is_identifier(std::string_view key) {
    if (key.empty()) return false;
    return std::all_of(key.begin(), key.end(), [](char c) {
        return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_';
    });
}

}  // namespace

int schema_version_of(std::string_view url) {
    auto slash = url.rfind("/v");
    if (slash == std::string_view::npos) return 0;
    int version = 0;
    for (std::size_t i = slash + 2; i < url.size() && url[i] >= '0' && url[i] <= '9'; ++i) {
        if (version > 100000) return 0;  // no real schema version is this long; stop before int overflows
        version = version * 10 + (url[i] - '0');
    }
    return version;
}

namespace {

class ManifestHandler {
public:
    static constexpr std::size_t max_object_size = std::size_t(-1);
    static constexpr std::size_t max_array_size = std::size_t(-1);
    static constexpr std::size_t max_key_size = std::size_t(-1);
    static constexpr std::size_t max_string_size = std::size_t(-1);

    // trace_skipped: keep a frame (key and index) for every container, also inside the parts the reader skips,
    // so that any error names its full path; otherwise skipped parts only count their depth (much faster).
    ManifestHandler(Manifest& manifest, bool trace_skipped) : m_(manifest), trace_skipped_(trace_skipped) {}

    // Inside a skipped part (only when not tracing them): an error here has no full path.
    bool in_skipped_part() const { return skip_depth_ != 0; }

    // The parser reads [data, data + size) now: keys inside it can be kept as views.
    void begin_block(const char* data, std::size_t size) {
        block_begin_ = reinterpret_cast<std::uintptr_t>(data);
        block_end_ = block_begin_ + size;
    }
    // The block's memory is about to be reused: the keys of open containers that point into it are copied.
    void end_block() {
        for (std::size_t i = 0; i < depth_; ++i) {
            Frame& f = frames_[i];
            if (!f.owns_key && in_block(f.key_view)) own_key(f, f.key_view);
        }
        block_begin_ = block_end_ = 0;
    }

    std::string json_path() const {
        std::string path = "$";
        for (std::size_t i = 0; i < depth_; ++i) {
            const Frame& f = frames_[i];
            const std::string_view key = f.key();
            if (f.array) {
                path += "[" + std::to_string(f.index) + "]";
            } else if (!key.empty()) {
                if (is_identifier(key)) path.append(".").append(key);
                else path.append("[\"").append(key).append("\"]");
            }
        }
        return path;
    }
    const std::string& message() const { return message_; }
    bool saw_metadata() const { return saw_metadata_; }
    // The names of the fields read that appeared in some node (and the top-level maps), sorted.
    std::vector<std::string> fields_seen() const {
        std::vector<std::string> names;
        std::bitset<128> named;  // raw_sql and raw_code are one field
        for (const KeyName& name : key_names) {
            const auto key = static_cast<std::size_t>(name.key);
            if (name.key != Key::other && fields_seen_.test(key) && !named.test(key)) {
                named.set(key);
                names.emplace_back(name.text);
            }
        }
        std::sort(names.begin(), names.end());
        names.erase(std::unique(names.begin(), names.end()), names.end());
        return names;
    }

    bool on_document_begin(boost::system::error_code&) { return true; }
    bool on_document_end(boost::system::error_code&) { return true; }

    bool on_object_begin(boost::system::error_code& ec) { return open(false, ec); }
    bool on_array_begin(boost::system::error_code& ec) { return open(true, ec); }

    // Every callback first checks whether it is inside a skipped part: that is most of a manifest, and the
    // check is all the work there.
    bool on_object_end(std::size_t n, boost::system::error_code&) {
        if (skip_depth_ != 0) return close_skipped();
        if (capturing()) stack_.push_object(n);
        close();
        return true;
    }
    bool on_array_end(std::size_t n, boost::system::error_code&) {
        if (skip_depth_ != 0) return close_skipped();
        if (capturing()) stack_.push_array(n);
        close();
        return true;
    }

    bool on_key_part(boost::json::string_view s, std::size_t, boost::system::error_code&) {
        if (skip_depth_ != 0) return true;
        if (capturing()) stack_.push_chars(s);
        key_scratch_.append(s.data(), s.size());
        return true;
    }
    bool on_key(boost::json::string_view s, std::size_t, boost::system::error_code&) {
        if (skip_depth_ != 0) return true;
        if (capturing()) stack_.push_key(s);
        Frame& f = frames_[depth_ - 1];
        const std::string_view last(s.data(), s.size());
        if (key_scratch_.empty() && in_block(last)) {
            f.owns_key = false;
            f.key_view = last;
        } else {
            // In parts, or unescaped into the parser's own buffer: copy.
            key_scratch_.append(last);
            own_key(f, key_scratch_);
            key_scratch_.clear();
        }
        f.key_id = reads_keys(f.ctx, f.key().size()) ? key_of(f.key()) : Key::other;
        if (f.ctx == Ctx::node || f.ctx == Ctx::root) fields_seen_.set(static_cast<std::size_t>(f.key_id));
        return true;
    }

    bool on_string_part(boost::json::string_view s, std::size_t, boost::system::error_code&) {
        if (skip_depth_ != 0) return true;
        if (capturing()) stack_.push_chars(s);
        else if (parent() != Ctx::skip) string_scratch_.append(s.data(), s.size());
        return true;
    }
    bool on_string(boost::json::string_view s, std::size_t, boost::system::error_code& ec) {
        if (skip_depth_ != 0) return true;
        if (capturing()) {
            stack_.push_string(s);
        } else if (parent() != Ctx::skip) {
            std::string_view text(s.data(), s.size());
            if (!string_scratch_.empty()) {
                string_scratch_.append(s.data(), s.size());
                text = string_scratch_;
            }
            bool ok = string_value(text, ec);
            string_scratch_.clear();
            if (!ok) return false;
        }
        value_done();
        return true;
    }

    bool on_number_part(boost::json::string_view, boost::system::error_code&) { return true; }
    bool on_int64(std::int64_t i, boost::json::string_view, boost::system::error_code&) {
        if (skip_depth_ != 0) return true;
        if (capturing()) stack_.push_int64(i);
        else if (parent() != Ctx::skip) scalar_value([i] { return std::to_string(i); }, i != 0, false);
        value_done();
        return true;
    }
    bool on_uint64(std::uint64_t u, boost::json::string_view, boost::system::error_code&) {
        if (skip_depth_ != 0) return true;
        if (capturing()) stack_.push_uint64(u);
        else if (parent() != Ctx::skip) scalar_value([u] { return std::to_string(u); }, u != 0, false);
        value_done();
        return true;
    }
    bool on_double(double d, boost::json::string_view, boost::system::error_code&) {
        if (skip_depth_ != 0) return true;
        if (capturing()) {
            stack_.push_double(d);
        } else if (parent() != Ctx::skip) {
            auto text = [d] {
                std::string out;
                append_double(out, d);
                return out;
            };
            scalar_value(text, d != 0, false);
        }
        value_done();
        return true;
    }
    bool on_bool(bool b, boost::system::error_code&) {
        if (skip_depth_ != 0) return true;
        if (capturing()) stack_.push_bool(b);
        else if (parent() != Ctx::skip) scalar_value([b] { return std::string_view(b ? "true" : "false"); }, b, true);
        value_done();
        return true;
    }
    bool on_null(boost::system::error_code&) {
        if (skip_depth_ != 0) return true;
        if (capturing()) stack_.push_null();
        else if (parent() != Ctx::skip) scalar_value([] { return std::string_view("null"); }, false, false);
        value_done();
        return true;
    }
    bool on_comment_part(boost::json::string_view, boost::system::error_code&) { return true; }
    bool on_comment(boost::json::string_view, boost::system::error_code&) { return true; }

private:
    bool capturing() const { return capture_depth_ != 0; }
    Ctx parent() const { return depth_ == 0 ? Ctx::root : frames_[depth_ - 1].ctx; }
    std::string_view key() const { return depth_ == 0 ? std::string_view() : frames_[depth_ - 1].key(); }
    Key key_id() const { return depth_ == 0 ? Key::other : frames_[depth_ - 1].key_id; }
    Node& node() { return m_.nodes.back(); }
    Macro& macro() { return m_.macros.back(); }

    bool in_block(std::string_view text) const {
        const auto begin = reinterpret_cast<std::uintptr_t>(text.data());
        return begin >= block_begin_ && begin + text.size() <= block_end_;
    }
    static void own_key(Frame& f, std::string_view text) {
        f.owned_key.assign(text);
        f.owns_key = true;
    }

    bool fail(std::string message, boost::system::error_code& ec) {
        message_ = std::move(message);
        ec = boost::json::error::syntax;
        return false;
    }

    Frame& push(Ctx ctx, bool array) {
        if (frames_.size() <= depth_) frames_.emplace_back();
        Frame& f = frames_[depth_++];
        f.ctx = ctx;
        f.array = array;
        f.owns_key = false;
        f.key_view = {};
        f.key_id = Key::other;
        f.index = 0;
        return f;
    }

    // A container starts: decide what it is from where it sits.
    bool open(bool array, boost::system::error_code& ec) {
        if (skip_depth_ != 0) {
            ++skip_depth_;
            return true;
        }
        if (capturing()) {
            push(Ctx::capture, array);
            return true;
        }
        if (depth_ == 0) {
            if (array) return fail("a dbt manifest is a JSON object, not an array", ec);
            push(Ctx::root, false);
            return true;
        }
        Ctx child = child_container(array);
        if (child == Ctx::skip && !trace_skipped_) {
            skip_depth_ = 1;
            return true;
        }
        if (child == Ctx::capture) {
            stack_.reset();
            push(Ctx::capture, array);
            capture_depth_ = depth_;
            return true;
        }
        push(child, array);
        return true;
    }

    Ctx child_container(bool array) {
        const Key k = key_id();
        switch (parent()) {
            case Ctx::root:
                if (array) return Ctx::skip;
                if (k == Key::metadata) {
                    saw_metadata_ = true;
                    return Ctx::metadata;
                }
                if (k == Key::nodes || k == Key::sources || k == Key::exposures || k == Key::metrics ||
                    k == Key::semantic_models || k == Key::saved_queries || k == Key::unit_tests) {
                    whole_config_ = k == Key::semantic_models || k == Key::saved_queries;
                    return Ctx::node_map;
                }
                if (k == Key::macros) return Ctx::macro_map;
                return Ctx::skip;
            case Ctx::node_map:
                if (array) return Ctx::skip;
                start_node(key());
                return Ctx::node;
            case Ctx::macro_map:
                if (array) return Ctx::skip;
                start_macro(key());
                return Ctx::macro;
            case Ctx::node: return node_container(k, array);
            case Ctx::config:
                if (k == Key::persist_docs && !array) return Ctx::persist_docs;
                if (k == Key::tags && array) return Ctx::config_tags;
                return Ctx::skip;
            case Ctx::unrendered_config: return begin_capture(CaptureTarget::unrendered);
            case Ctx::columns:
                if (array) return Ctx::skip;
                lists_.columns.push_back(Column{m_.arena.store(key()), {}, {}, {}, {}});
                return Ctx::column;
            case Ctx::column:
                if (k == Key::constraints) return begin_capture(CaptureTarget::column_constraints);
                if (k == Key::meta && !array) return begin_capture(CaptureTarget::column_meta);
                return Ctx::skip;
            case Ctx::depends_on:
                if (k == Key::nodes && array) return Ctx::depends_on_nodes;
                if (k == Key::macros && array) return Ctx::depends_on_macros;
                return Ctx::skip;
            case Ctx::macro:
                if (k == Key::depends_on && !array) return Ctx::macro_depends_on;
                return Ctx::skip;
            case Ctx::macro_depends_on:
                if (k == Key::macros && array) return Ctx::macro_depends_on_macros;
                return Ctx::skip;
            default: return Ctx::skip;
        }
    }

    Ctx node_container(Key k, bool array) {
        if (array) {
            if (k == Key::fqn) return Ctx::fqn;
            if (k == Key::tags) return Ctx::tags;
        } else {
            switch (k) {
                case Key::checksum: return Ctx::checksum;
                case Key::config:
                    // Semantic models and saved queries: dbt compares the rendered config whole.
                    if (whole_config_) return begin_capture(CaptureTarget::extra);
                    return Ctx::config;
                case Key::unrendered_config: return Ctx::unrendered_config;
                case Key::columns: return Ctx::columns;
                case Key::contract: return Ctx::contract;
                case Key::depends_on: return Ctx::depends_on;
                case Key::test_metadata: return Ctx::test_metadata;
                case Key::meta: return begin_capture(CaptureTarget::node_meta);
                default: break;
            }
        }
        if (is_extra(k)) return begin_capture(CaptureTarget::extra);
        return Ctx::skip;
    }

    Ctx begin_capture(CaptureTarget target) {
        capture_target_ = target;
        return Ctx::capture;
    }

    bool close_skipped() {
        if (--skip_depth_ == 0) value_done();  // the skipped container was one value of the open one
        return true;
    }

    void close() {
        const bool was_node = frames_[depth_ - 1].ctx == Ctx::node;
        --depth_;
        if (capturing() && depth_ < capture_depth_) {
            capture_depth_ = 0;
            boost::json::value value = stack_.release();
            store_captured(canonical(value));  // the parent's current key is the captured value's key
        }
        if (was_node) finish_node();
        value_done();
    }

    void value_done() {
        if (depth_ > 0 && frames_[depth_ - 1].array) ++frames_[depth_ - 1].index;
    }

    void start_node(std::string_view unique_id) {
        Node n;
        n.unique_id = m_.arena.store(unique_id);
        m_.node_index.insert(n.unique_id, static_cast<std::uint32_t>(m_.nodes.size()));
        m_.nodes.push_back(std::move(n));
        lists_.clear();
    }

    void finish_node() {
        Node& n = node();
        auto by_key = [](const KeyValue& a, const KeyValue& b) { return a.key < b.key; };
        std::sort(lists_.unrendered_config.begin(), lists_.unrendered_config.end(), by_key);
        std::sort(lists_.extras.begin(), lists_.extras.end(), by_key);
        lists_.copy_to(n);
        n.type = resource_type_from(n.resource_type_name);
    }

    void start_macro(std::string_view unique_id) {
        Macro mac;
        mac.unique_id = m_.arena.store(unique_id);
        m_.macro_index.insert(mac.unique_id, static_cast<std::uint32_t>(m_.macros.size()));
        m_.macros.push_back(std::move(mac));
    }

    std::string_view store(std::string_view text) { return m_.arena.store(text); }

    // Canonical values at the current key.
    void keep_unrendered(std::string_view value) { lists_.unrendered_config.push_back({store(key()), store(value)}); }
    void keep_extra(std::string_view value) { lists_.extras.push_back({store(key()), store(value)}); }

    void store_captured(std::string_view text) {
        switch (capture_target_) {
            case CaptureTarget::unrendered: keep_unrendered(text); break;
            case CaptureTarget::extra: keep_extra(text); break;
            case CaptureTarget::column_constraints: lists_.columns.back().constraints = store(text); break;
            case CaptureTarget::node_meta: node().meta = store(text); break;
            case CaptureTarget::column_meta: lists_.columns.back().meta = store(text); break;
        }
    }

    // A string as canonical JSON (valid until the next call).
    std::string_view quoted(std::string_view text) {
        quoted_.clear();
        append_quoted(quoted_, text);
        return quoted_;
    }

    bool string_value(std::string_view text, boost::system::error_code& ec) {
        const Key k = key_id();
        switch (parent()) {
            case Ctx::metadata:
                if (k == Key::dbt_schema_version) m_.schema_version_url.assign(text);
                else if (k == Key::dbt_version) m_.dbt_version.assign(text);
                else if (k == Key::adapter_type) m_.adapter_type.assign(text);
                else if (k == Key::project_name) m_.project_name.assign(text);
                return true;
            case Ctx::node: node_string(k, text); return true;
            case Ctx::checksum:
                if (k == Key::name) node().checksum_name = store(text);
                else if (k == Key::checksum) node().checksum = store(text);
                return true;
            case Ctx::fqn: lists_.fqn.push_back(store(text)); return true;
            case Ctx::tags: lists_.tags.push_back(store(text)); return true;
            case Ctx::config:
                if (k == Key::materialized) node().materialized = store(text);
                else if (k == Key::tags) lists_.config_tags.push_back(store(text));  // tags: "skip"
                return true;
            case Ctx::config_tags: lists_.config_tags.push_back(store(text)); return true;
            case Ctx::persist_docs: set_persist(k, !text.empty()); return true;
            case Ctx::unrendered_config: keep_unrendered(quoted(text)); return true;
            case Ctx::column:
                if (k == Key::description) lists_.columns.back().description = store(text);
                else if (k == Key::data_type) lists_.columns.back().data_type = store(text);
                return true;
            case Ctx::contract:
                if (k == Key::checksum) node().contract_checksum = store(text);
                return true;
            case Ctx::depends_on_nodes: lists_.depends_on_nodes.push_back(store(text)); return true;
            case Ctx::depends_on_macros: lists_.depends_on_macros.push_back(store(text)); return true;
            case Ctx::test_metadata:
                if (k == Key::name) node().test_name = store(text);
                else if (k == Key::namespace_) node().test_namespace = store(text);
                return true;
            case Ctx::macro:
                if (k == Key::name) macro().name = store(text);
                else if (k == Key::package_name) macro().package_name = store(text);
                else if (k == Key::macro_sql) macro().macro_sql = store(text);
                return true;
            case Ctx::macro_depends_on_macros: macro().depends_on_macros.push_back(store(text)); return true;
            case Ctx::root:
                if (depth_ == 0) return fail("a dbt manifest is a JSON object, not a string", ec);
                return true;
            default: return true;
        }
    }

    void node_string(Key k, std::string_view text) {
        Node& n = node();
        std::string_view* field = nullptr;
        switch (k) {
            case Key::resource_type: field = &n.resource_type_name; break;
            case Key::name: field = &n.name; break;
            case Key::package_name: field = &n.package_name; break;
            case Key::path: field = &n.path; break;
            case Key::original_file_path: field = &n.original_file_path; break;
            case Key::patch_path: field = &n.patch_path; break;
            case Key::raw_code: field = &n.raw_code; break;
            case Key::database: field = &n.database; break;
            case Key::schema: field = &n.schema; break;
            case Key::alias: field = &n.alias; break;
            case Key::relation_name: field = &n.relation_name; break;
            case Key::unrendered_schema: field = &n.unrendered_schema; break;
            case Key::description: field = &n.description; break;
            case Key::attached_node: field = &n.attached_node; break;
            case Key::column_name: field = &n.column_name; break;
            case Key::source_name: field = &n.source_name; break;
            case Key::checksum: field = &n.checksum; break;  // unit tests: a plain string
            default: break;
        }
        if (field) *field = store(text);
        if (is_extra(k)) keep_extra(quoted(text));
    }

    void set_persist(Key k, bool truthy) {
        if (k == Key::relation) node().persist_relation_docs = truthy;
        else if (k == Key::columns) node().persist_column_docs = truthy;
    }

    // A number, bool or null outside a capture; text() spells it canonically and runs only when it is kept.
    template <class Text>
    void scalar_value(const Text& text, bool truthy, bool is_bool) {
        const Key k = key_id();
        switch (parent()) {
            case Ctx::node:
                if (is_extra(k)) keep_extra(text());
                return;
            case Ctx::unrendered_config: keep_unrendered(text()); return;
            case Ctx::config:
                if (k == Key::enabled && is_bool) node().enabled = truthy;
                return;
            case Ctx::persist_docs: set_persist(k, truthy); return;
            case Ctx::contract:
                if (k == Key::enforced) node().contract_enforced = truthy;
                return;
            default: return;
        }
    }

    // The lists of the node being read, collected here and copied into the node at its end: one exact allocation
    // per list instead of a reallocation per doubling, and no slack kept.
    struct NodeLists {
        // config_tags: a unit test has no node-level tags; dbt's tag: method reads its config's.
        std::vector<std::string_view> fqn, tags, config_tags, depends_on_nodes, depends_on_macros;
        std::vector<KeyValue> unrendered_config, extras;
        std::vector<Column> columns;

        void clear() {
            fqn.clear();
            tags.clear();
            config_tags.clear();
            depends_on_nodes.clear();
            depends_on_macros.clear();
            unrendered_config.clear();
            extras.clear();
            columns.clear();
        }
        void copy_to(Node& n) const {
            n.fqn.assign(fqn.begin(), fqn.end());
            if (tags.empty()) n.tags.assign(config_tags.begin(), config_tags.end());
            else n.tags.assign(tags.begin(), tags.end());
            n.depends_on_nodes.assign(depends_on_nodes.begin(), depends_on_nodes.end());
            n.depends_on_macros.assign(depends_on_macros.begin(), depends_on_macros.end());
            n.unrendered_config.assign(unrendered_config.begin(), unrendered_config.end());
            n.extras.assign(extras.begin(), extras.end());
            n.columns.assign(columns.begin(), columns.end());
        }
    };

    Manifest& m_;
    NodeLists lists_;
    std::vector<Frame> frames_;
    std::size_t depth_ = 0;
    std::uintptr_t block_begin_ = 0;
    std::uintptr_t block_end_ = 0;
    std::string key_scratch_;
    std::string string_scratch_;
    std::string quoted_;
    std::size_t capture_depth_ = 0;
    const bool trace_skipped_;
    std::size_t skip_depth_ = 0;  // containers open inside (and including) the skipped one
    CaptureTarget capture_target_ = CaptureTarget::extra;
    boost::json::value_stack stack_;
    std::string message_;
    bool saw_metadata_ = false;
    bool whole_config_ = false;  // in a map whose nodes' config is kept whole, as an extra
    std::bitset<128> fields_seen_;  // by Key
};

boost::json::parse_options manifest_parse_options() {
    boost::json::parse_options options;
    options.max_depth = 1000;  // test kwargs and meta can nest deeply; the default of 32 is too tight
    // dbt writes UTF-8 through Python's json module; validating it again costs a tenth of the parse.
    options.allow_invalid_utf8 = true;
    return options;
}

// A syntax error inside a part the fast pass skipped: that pass does not know the error's full path, a second
// pass that traces every container does. Errors are rare, so the common case pays nothing for the second pass.
struct ErrorInSkippedPart {};

class ManifestReader {
public:
    ManifestReader(Manifest& manifest, bool trace_skipped)
        : manifest_(manifest), parser_(manifest_parse_options(), manifest, trace_skipped) {}

    // Feeds one block; returns false once the document is complete.
    void feed(const char* data, std::size_t size, bool more) {
        boost::system::error_code ec;
        std::size_t consumed = 0;
        if (!parser_.done()) {
            parser_.handler().begin_block(data, size);
            consumed = parser_.write_some(more, data, size, ec);
            if (ec) fail(ec, offset_ + consumed);  // names the path while its keys still point into data
            parser_.handler().end_block();
        }
        // Anything after the document other than whitespace is an error.
        for (std::size_t i = consumed; i < size; ++i) {
            char c = data[i];
            if (c != ' ' && c != '\n' && c != '\r' && c != '\t')
                throw Error(ErrorKind::input, "unexpected data after the end of the JSON document",
                            {manifest_.file.string(), {}, offset_ + i, {}, {}});
        }
        offset_ += size;
    }

    void finish() {
        if (!parser_.done()) feed(nullptr, 0, false);
        const auto& h = parser_.handler();
        if (!h.saw_metadata() || manifest_.schema_version_url.empty())
            throw Error(ErrorKind::input, "not a dbt manifest: no metadata.dbt_schema_version",
                        {manifest_.file.string(), {}, offset_, "$.metadata.dbt_schema_version", {}});
        manifest_.schema_version = schema_version_of(manifest_.schema_version_url);
        manifest_.fields = h.fields_seen();
        manifest_.size_bytes = offset_;
    }

private:
    [[noreturn]] void fail(const boost::system::error_code& ec, std::uint64_t offset) {
        const auto& h = parser_.handler();
        if (h.in_skipped_part()) throw ErrorInSkippedPart{};
        std::string message;
        if (!h.message().empty()) message = h.message();
        else if (ec == boost::json::error::incomplete) message = "truncated JSON: the file ends inside the document";
        else message = "malformed JSON: " + ec.message();
        throw Error(ErrorKind::input, message, {manifest_.file.string(), {}, offset, h.json_path(), {}});
    }

    Manifest& manifest_;
    boost::json::basic_parser<ManifestHandler> parser_;
    std::uint64_t offset_ = 0;
};

// Real manifests hold one node per 2 to 3 KB: reserving from the size avoids rehashing and reallocating.
void reserve_for(Manifest& manifest, std::uint64_t bytes) {
    const std::size_t expected_nodes = static_cast<std::size_t>(bytes / 2000) + 64;
    manifest.nodes.reserve(expected_nodes);
    manifest.node_index.reserve(expected_nodes);
}

}  // namespace

namespace {

// Reads with the fast pass; when it meets an error in a skipped part, reads again tracing every container, which
// fails at the same byte and names the full path.
template <class Read>
Manifest with_full_error_paths(const Read& read) {
    try {
        return read(false);
    } catch (const ErrorInSkippedPart&) {
        return read(true);
    }
}

Manifest parse_text(std::string_view json, const std::filesystem::path& file, bool trace_skipped) {
    Manifest manifest;
    manifest.file = file;
    reserve_for(manifest, json.size());
    ManifestReader reader(manifest, trace_skipped);
    reader.feed(json.data(), json.size(), true);
    reader.finish();
    return manifest;
}

double thread_cpu_seconds() {
    timespec now{};
    ::clock_gettime(CLOCK_THREAD_CPUTIME_ID, &now);
    return static_cast<double>(now.tv_sec) + static_cast<double>(now.tv_nsec) / 1e9;
}

Manifest read_file(const std::filesystem::path& file, bool trace_skipped) {
    const double cpu_at_start = thread_cpu_seconds();
    Manifest manifest;
    manifest.load_started = std::chrono::steady_clock::now();
    manifest.file = file;
    std::error_code size_error;
    const auto bytes = std::filesystem::file_size(file, size_error);
    if (!size_error) reserve_for(manifest, bytes);
    std::unique_ptr<std::FILE, int (*)(std::FILE*)> in(std::fopen(file.c_str(), "rb"), &std::fclose);
    if (!in)
        throw Error(ErrorKind::input, std::string("cannot open manifest: ") + std::strerror(errno),
                    {file.string(), {}, {}, {}, {}});
    constexpr std::size_t block = 1 << 20;
    std::unique_ptr<char[]> buffer(new char[block]);
    ManifestReader reader(manifest, trace_skipped);
    for (;;) {
        std::size_t n = std::fread(buffer.get(), 1, block, in.get());
        if (n == 0) {
            if (std::ferror(in.get()))
                throw Error(ErrorKind::input, "cannot read manifest", {file.string(), {}, {}, {}, {}});
            break;
        }
        reader.feed(buffer.get(), n, true);
    }
    reader.finish();
    manifest.load_finished = std::chrono::steady_clock::now();
    manifest.load_cpu_seconds = thread_cpu_seconds() - cpu_at_start;
    return manifest;
}

}  // namespace

Manifest parse_manifest(std::string_view json, const std::filesystem::path& file) {
    return with_full_error_paths([&](bool trace_skipped) { return parse_text(json, file, trace_skipped); });
}

Manifest load_manifest(const std::filesystem::path& file) {
    return with_full_error_paths([&](bool trace_skipped) { return read_file(file, trace_skipped); });
}

ManifestPair load_manifest_pair(const std::filesystem::path& branch, const std::filesystem::path& production) {
    // One thread each: parsing is CPU-bound and the two files are independent.
    auto production_future = std::async(std::launch::async, [&] { return load_manifest(production); });
    Manifest branch_manifest = load_manifest(branch);
    return ManifestPair{std::move(branch_manifest), production_future.get()};
}

}  // namespace ece::dbt
