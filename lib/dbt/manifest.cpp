// The manifest reader: Boost.JSON's SAX parser with a handler that keeps only what the state comparison reads.
// The file is streamed in blocks and never held whole; skipped parts (parent_map, child_map, docs, compiled
// code, ...) cost parsing time only. The handler tracks the JSON path so every error can name where it is.
#include "dbt/manifest.hpp"

#include <algorithm>
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

const Node* Manifest::find(std::string_view unique_id) const {
    auto it = node_index.find(unique_id);
    return it == node_index.end() ? nullptr : &nodes[it->second];
}

const Macro* Manifest::find_macro(std::string_view unique_id) const {
    auto it = macro_index.find(unique_id);
    return it == macro_index.end() ? nullptr : &macros[it->second];
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
    persist_docs,
    config_contract,
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
enum class CaptureTarget : std::uint8_t { unrendered, extra, column_constraints };

struct Frame {
    Ctx ctx = Ctx::skip;
    bool array = false;
    std::string key;
    std::size_t index = 0;
};

// Node fields dbt compares as whole values; kept as canonical JSON in Node::extras.
bool is_extra_key(std::string_view key) {
    static constexpr std::string_view keys[] = {
        "access", "constraints", "deprecation_date", "latest_version", "version",  // models
        "identifier", "quoting", "freshness", "loaded_at_field", "external",       // sources
        "type", "owner", "maturity", "url", "label",                               // exposures
    };
    return std::find(std::begin(keys), std::end(keys), key) != std::end(keys);
}

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

    explicit ManifestHandler(Manifest& manifest) : m_(manifest) {}

    std::string json_path() const {
        std::string path = "$";
        for (std::size_t i = 0; i < depth_; ++i) {
            const Frame& f = frames_[i];
            if (f.array) {
                path += "[" + std::to_string(f.index) + "]";
            } else if (!f.key.empty()) {
                if (is_identifier(f.key)) path += "." + f.key;
                else path += "[\"" + f.key + "\"]";
            }
        }
        return path;
    }
    const std::string& message() const { return message_; }
    bool saw_metadata() const { return saw_metadata_; }

    bool on_document_begin(boost::system::error_code&) { return true; }
    bool on_document_end(boost::system::error_code&) { return true; }

    bool on_object_begin(boost::system::error_code& ec) { return open(false, ec); }
    bool on_array_begin(boost::system::error_code& ec) { return open(true, ec); }

    bool on_object_end(std::size_t n, boost::system::error_code&) {
        if (capturing()) stack_.push_object(n);
        close();
        return true;
    }
    bool on_array_end(std::size_t n, boost::system::error_code&) {
        if (capturing()) stack_.push_array(n);
        close();
        return true;
    }

    bool on_key_part(boost::json::string_view s, std::size_t, boost::system::error_code&) {
        if (capturing()) stack_.push_chars(s);
        key_scratch_.append(s.data(), s.size());
        return true;
    }
    bool on_key(boost::json::string_view s, std::size_t, boost::system::error_code&) {
        if (capturing()) stack_.push_key(s);
        Frame& f = frames_[depth_ - 1];
        if (key_scratch_.empty()) {
            f.key.assign(s.data(), s.size());
        } else {
            key_scratch_.append(s.data(), s.size());
            f.key.swap(key_scratch_);
            key_scratch_.clear();
        }
        return true;
    }

    bool on_string_part(boost::json::string_view s, std::size_t, boost::system::error_code&) {
        if (capturing()) stack_.push_chars(s);
        else if (parent() != Ctx::skip) string_scratch_.append(s.data(), s.size());
        return true;
    }
    bool on_string(boost::json::string_view s, std::size_t, boost::system::error_code& ec) {
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
        if (capturing()) stack_.push_int64(i);
        else if (parent() != Ctx::skip) other_value(std::to_string(i), i != 0, false);
        value_done();
        return true;
    }
    bool on_uint64(std::uint64_t u, boost::json::string_view, boost::system::error_code&) {
        if (capturing()) stack_.push_uint64(u);
        else if (parent() != Ctx::skip) other_value(std::to_string(u), u != 0, false);
        value_done();
        return true;
    }
    bool on_double(double d, boost::json::string_view, boost::system::error_code&) {
        if (capturing()) {
            stack_.push_double(d);
        } else if (parent() != Ctx::skip) {
            std::string text;
            append_double(text, d);
            other_value(text, d != 0, false);
        }
        value_done();
        return true;
    }
    bool on_bool(bool b, boost::system::error_code&) {
        if (capturing()) stack_.push_bool(b);
        else if (parent() != Ctx::skip) other_value(b ? "true" : "false", b, true);
        value_done();
        return true;
    }
    bool on_null(boost::system::error_code&) {
        if (capturing()) stack_.push_null();
        else if (parent() != Ctx::skip) other_value("null", false, false);
        value_done();
        return true;
    }
    bool on_comment_part(boost::json::string_view, boost::system::error_code&) { return true; }
    bool on_comment(boost::json::string_view, boost::system::error_code&) { return true; }

private:
    bool capturing() const { return capture_depth_ != 0; }
    Ctx parent() const { return depth_ == 0 ? Ctx::root : frames_[depth_ - 1].ctx; }
    std::string_view key() const { return depth_ == 0 ? std::string_view() : std::string_view(frames_[depth_ - 1].key); }
    Node& node() { return m_.nodes.back(); }
    Macro& macro() { return m_.macros.back(); }

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
        f.key.clear();
        f.index = 0;
        return f;
    }

    // A container starts: decide what it is from where it sits.
    bool open(bool array, boost::system::error_code& ec) {
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
        const Ctx p = parent();
        const std::string_view k = key();
        switch (p) {
            case Ctx::root:
                if (array) return Ctx::skip;
                if (k == "metadata") {
                    saw_metadata_ = true;
                    return Ctx::metadata;
                }
                if (k == "nodes" || k == "sources" || k == "exposures") return Ctx::node_map;
                if (k == "macros") return Ctx::macro_map;
                return Ctx::skip;
            case Ctx::node_map:
                if (array) return Ctx::skip;
                start_node(k);
                return Ctx::node;
            case Ctx::macro_map:
                if (array) return Ctx::skip;
                start_macro(k);
                return Ctx::macro;
            case Ctx::node:
                if (k == "checksum" && !array) return Ctx::checksum;
                if (k == "fqn" && array) return Ctx::fqn;
                if (k == "tags" && array) return Ctx::tags;
                if (k == "config" && !array) return Ctx::config;
                if (k == "unrendered_config" && !array) return Ctx::unrendered_config;
                if (k == "columns" && !array) return Ctx::columns;
                if (k == "contract" && !array) return Ctx::contract;
                if (k == "depends_on" && !array) return Ctx::depends_on;
                if (k == "test_metadata" && !array) return Ctx::test_metadata;
                if (is_extra_key(k)) return begin_capture(CaptureTarget::extra, k);
                return Ctx::skip;
            case Ctx::config:
                if (k == "persist_docs" && !array) return Ctx::persist_docs;
                if (k == "contract" && !array) return Ctx::config_contract;
                return Ctx::skip;
            case Ctx::unrendered_config: return begin_capture(CaptureTarget::unrendered, k);
            case Ctx::columns:
                if (array) return Ctx::skip;
                node().columns.push_back(Column{m_.arena.store(k), {}, {}, {}});
                return Ctx::column;
            case Ctx::column:
                if (k == "constraints") return begin_capture(CaptureTarget::column_constraints, k);
                return Ctx::skip;
            case Ctx::depends_on:
                if (k == "nodes" && array) return Ctx::depends_on_nodes;
                if (k == "macros" && array) return Ctx::depends_on_macros;
                return Ctx::skip;
            case Ctx::macro:
                if (k == "depends_on" && !array) return Ctx::macro_depends_on;
                return Ctx::skip;
            case Ctx::macro_depends_on:
                if (k == "macros" && array) return Ctx::macro_depends_on_macros;
                return Ctx::skip;
            default: return Ctx::skip;
        }
    }

    Ctx begin_capture(CaptureTarget target, std::string_view k) {
        capture_target_ = target;
        capture_key_.assign(k);
        return Ctx::capture;
    }

    void close() {
        const bool was_node = frames_[depth_ - 1].ctx == Ctx::node;
        --depth_;
        if (capturing() && depth_ < capture_depth_) {
            capture_depth_ = 0;
            boost::json::value value = stack_.release();
            store_captured(canonical(value));
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
        m_.node_index.emplace(n.unique_id, static_cast<std::uint32_t>(m_.nodes.size()));
        m_.nodes.push_back(std::move(n));
    }

    void finish_node() {
        Node& n = node();
        auto by_key = [](const KeyValue& a, const KeyValue& b) { return a.key < b.key; };
        std::sort(n.unrendered_config.begin(), n.unrendered_config.end(), by_key);
        std::sort(n.extras.begin(), n.extras.end(), by_key);
        n.type = resource_type_from(n.resource_type_name);
    }

    void start_macro(std::string_view unique_id) {
        Macro mac;
        mac.unique_id = m_.arena.store(unique_id);
        m_.macro_index.emplace(mac.unique_id, static_cast<std::uint32_t>(m_.macros.size()));
        m_.macros.push_back(std::move(mac));
    }

    // Stores a canonical value at the key being captured (or the current key for scalars).
    void store_captured(std::string_view text) {
        std::string_view stored = m_.arena.store(text);
        switch (capture_target_) {
            case CaptureTarget::unrendered:
                node().unrendered_config.push_back({m_.arena.store(capture_key_), stored});
                break;
            case CaptureTarget::extra: node().extras.push_back({m_.arena.store(capture_key_), stored}); break;
            case CaptureTarget::column_constraints: node().columns.back().constraints = stored; break;
        }
    }

    void store_scalar_capture(CaptureTarget target, std::string_view text) {
        capture_target_ = target;
        capture_key_.assign(key());
        store_captured(text);
    }

    bool string_value(std::string_view text, boost::system::error_code& ec) {
        const std::string_view k = key();
        switch (parent()) {
            case Ctx::metadata:
                if (k == "dbt_schema_version") m_.schema_version_url.assign(text);
                else if (k == "dbt_version") m_.dbt_version.assign(text);
                else if (k == "adapter_type") m_.adapter_type.assign(text);
                else if (k == "project_name") m_.project_name.assign(text);
                return true;
            case Ctx::node: return node_string(k, text);
            case Ctx::checksum:
                if (k == "name") node().checksum_name = m_.arena.store(text);
                else if (k == "checksum") node().checksum = m_.arena.store(text);
                return true;
            case Ctx::fqn: node().fqn.push_back(m_.arena.store(text)); return true;
            case Ctx::tags: node().tags.push_back(m_.arena.store(text)); return true;
            case Ctx::config:
                if (k == "materialized") node().materialized = m_.arena.store(text);
                return true;
            case Ctx::persist_docs: set_persist(k, !text.empty()); return true;
            case Ctx::unrendered_config: {
                std::string quoted;
                append_quoted(quoted, text);
                store_scalar_capture(CaptureTarget::unrendered, quoted);
                return true;
            }
            case Ctx::column:
                if (k == "description") node().columns.back().description = m_.arena.store(text);
                else if (k == "data_type") node().columns.back().data_type = m_.arena.store(text);
                return true;
            case Ctx::contract:
                if (k == "checksum") node().contract_checksum = m_.arena.store(text);
                return true;
            case Ctx::depends_on_nodes: node().depends_on_nodes.push_back(m_.arena.store(text)); return true;
            case Ctx::depends_on_macros: node().depends_on_macros.push_back(m_.arena.store(text)); return true;
            case Ctx::test_metadata:
                if (k == "name") node().test_name = m_.arena.store(text);
                else if (k == "namespace") node().test_namespace = m_.arena.store(text);
                return true;
            case Ctx::macro:
                if (k == "name") macro().name = m_.arena.store(text);
                else if (k == "package_name") macro().package_name = m_.arena.store(text);
                else if (k == "macro_sql") macro().macro_sql = m_.arena.store(text);
                return true;
            case Ctx::macro_depends_on_macros: macro().depends_on_macros.push_back(m_.arena.store(text)); return true;
            case Ctx::root:
                if (depth_ == 0) return fail("a dbt manifest is a JSON object, not a string", ec);
                return true;
            default: return true;
        }
    }

    bool node_string(std::string_view k, std::string_view text) {
        Node& n = node();
        auto keep = [&](std::string_view& field) { field = m_.arena.store(text); };
        if (k == "resource_type") keep(n.resource_type_name);
        else if (k == "name") keep(n.name);
        else if (k == "package_name") keep(n.package_name);
        else if (k == "path") keep(n.path);
        else if (k == "original_file_path") keep(n.original_file_path);
        else if (k == "patch_path") keep(n.patch_path);
        else if (k == "raw_code" || k == "raw_sql") keep(n.raw_code);
        else if (k == "database") keep(n.database);
        else if (k == "schema") keep(n.schema);
        else if (k == "alias") keep(n.alias);
        else if (k == "relation_name") keep(n.relation_name);
        else if (k == "unrendered_schema") keep(n.unrendered_schema);
        else if (k == "description") keep(n.description);
        else if (k == "attached_node") keep(n.attached_node);
        else if (k == "column_name") keep(n.column_name);
        else if (k == "source_name") keep(n.source_name);
        else if (k == "checksum") keep(n.checksum);  // unit tests: a plain string
        if (is_extra_key(k)) {
            std::string quoted;
            append_quoted(quoted, text);
            store_scalar_capture(CaptureTarget::extra, quoted);
        }
        return true;
    }

    void set_persist(std::string_view k, bool truthy) {
        if (k == "relation") node().persist_relation_docs = truthy;
        else if (k == "columns") node().persist_column_docs = truthy;
    }

    // A number, bool or null outside a capture.
    void other_value(const std::string& text, bool truthy, bool is_bool) {
        const std::string_view k = key();
        switch (parent()) {
            case Ctx::node:
                if (is_extra_key(k)) store_scalar_capture(CaptureTarget::extra, text);
                return;
            case Ctx::unrendered_config: store_scalar_capture(CaptureTarget::unrendered, text); return;
            case Ctx::config:
                if (k == "enabled" && is_bool) node().enabled = truthy;
                return;
            case Ctx::persist_docs: set_persist(k, truthy); return;
            case Ctx::contract:
                if (k == "enforced") node().contract_enforced = truthy;
                return;
            default: return;
        }
    }

    Manifest& m_;
    std::vector<Frame> frames_;
    std::size_t depth_ = 0;
    std::string key_scratch_;
    std::string string_scratch_;
    std::size_t capture_depth_ = 0;
    CaptureTarget capture_target_ = CaptureTarget::extra;
    std::string capture_key_;
    boost::json::value_stack stack_;
    std::string message_;
    bool saw_metadata_ = false;
};

boost::json::parse_options manifest_parse_options() {
    boost::json::parse_options options;
    options.max_depth = 1000;  // test kwargs and meta can nest deeply; the default of 32 is too tight
    // dbt writes UTF-8 through Python's json module; validating it again costs a tenth of the parse.
    options.allow_invalid_utf8 = true;
    return options;
}

class ManifestReader {
public:
    explicit ManifestReader(Manifest& manifest)
        : manifest_(manifest), parser_(manifest_parse_options(), manifest) {}

    // Feeds one block; returns false once the document is complete.
    void feed(const char* data, std::size_t size, bool more) {
        boost::system::error_code ec;
        std::size_t consumed = 0;
        if (!parser_.done()) consumed = parser_.write_some(more, data, size, ec);
        if (ec) fail(ec, offset_ + consumed);
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
        manifest_.size_bytes = offset_;
    }

private:
    [[noreturn]] void fail(const boost::system::error_code& ec, std::uint64_t offset) {
        const auto& h = parser_.handler();
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

Manifest parse_manifest(std::string_view json, const std::filesystem::path& file) {
    Manifest manifest;
    manifest.file = file;
    reserve_for(manifest, json.size());
    ManifestReader reader(manifest);
    reader.feed(json.data(), json.size(), true);
    reader.finish();
    return manifest;
}

Manifest load_manifest(const std::filesystem::path& file) {
    Manifest manifest;
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
    ManifestReader reader(manifest);
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
    return manifest;
}

ManifestPair load_manifest_pair(const std::filesystem::path& branch, const std::filesystem::path& production) {
    // One thread each: parsing is CPU-bound and the two files are independent.
    auto production_future = std::async(std::launch::async, [&] { return load_manifest(production); });
    Manifest branch_manifest = load_manifest(branch);
    return ManifestPair{std::move(branch_manifest), production_future.get()};
}

}  // namespace ece::dbt
