#include "cost/catalogue.hpp"

#include "core/error.hpp"
#include "plan/json_input.hpp"

#include <algorithm>
#include <cstdlib>
#include <fstream>
#include <sstream>

namespace json = boost::json;

namespace ece::cost {
namespace {

class Reader {
public:
    explicit Reader(std::string file) : file_(std::move(file)) {}

    [[noreturn]] void fail(const std::string& path, const std::string& message) const {
        throw Error(ErrorKind::input, message, {.file = file_, .field = path});
    }

    const json::object& object(const json::value& v, const std::string& path) const {
        if (!v.is_object()) fail(path, "expected an object");
        return v.get_object();
    }

    Money price(const json::value& v, const std::string& path) const {
        if (!v.is_number()) fail(path, "expected a price as a number of dollars");
        auto dollars = v.to_number<double>();
        if (dollars < 0) fail(path, "a price cannot be negative");
        return Money::from_dollars(dollars);
    }

    std::int64_t integer(const json::value& v, const std::string& path) const {
        if (!v.is_int64() && !v.is_uint64()) fail(path, "expected an integer");
        return v.to_number<std::int64_t>();
    }

    std::string text(const json::object& o, std::string_view key, const std::string& path, bool required) const {
        const auto* v = o.if_contains(key);
        if (!v) {
            if (required) fail(path + "." + std::string(key), "missing (every section names its as_of and source)");
            return {};
        }
        if (!v->is_string()) fail(path + "." + std::string(key), "expected a string");
        return std::string(v->get_string());
    }

    const json::object* section(const json::object& root, std::string_view name, PriceCatalogue& out) const {
        const auto* v = root.if_contains(name);
        if (!v) return nullptr;
        std::string path = "$." + std::string(name);
        const auto& o = object(*v, path);
        out.sources.push_back({std::string(name), text(o, "as_of", path, true), text(o, "source", path, true),
                               text(o, "note", path, false)});
        return &o;
    }

    AzRate az_rate(const json::value& v, const std::string& path) const {
        const auto& o = object(v, path);
        const auto* single = o.if_contains("single_az");
        const auto* multi = o.if_contains("multi_az");
        if (!single || !multi) fail(path, "expected single_az and multi_az");
        return {price(*single, path + ".single_az"), price(*multi, path + ".multi_az")};
    }

    std::map<std::string, AzRate> az_rates(const json::object& o, std::string_view key, const std::string& path) const {
        std::map<std::string, AzRate> out;
        const auto* v = o.if_contains(key);
        if (!v) return out;
        std::string here = path + "." + std::string(key);
        for (const auto& kv : object(*v, here)) {
            out[std::string(kv.key())] = az_rate(kv.value(), here + "[\"" + std::string(kv.key()) + "\"]");
        }
        return out;
    }

    // {"slug": {"monthly": 6.0, ...}} -> slug -> monthly
    std::map<std::string, Money> monthly_by_slug(const json::object& o, std::string_view key,
                                                 const std::string& path) const {
        std::map<std::string, Money> out;
        const auto* v = o.if_contains(key);
        if (!v) return out;
        std::string here = path + "." + std::string(key);
        for (const auto& kv : object(*v, here)) {
            std::string entry = here + "[\"" + std::string(kv.key()) + "\"]";
            const auto* monthly = object(kv.value(), entry).if_contains("monthly");
            if (!monthly) fail(entry, "missing monthly");
            out[std::string(kv.key())] = price(*monthly, entry + ".monthly");
        }
        return out;
    }

private:
    std::string file_;
};

void read_do_database(const Reader& r, const json::object& s, PriceCatalogue& out) {
    if (const auto* engines = s.if_contains("engines")) {
        if (!engines->is_array()) r.fail("$.digitalocean_database.engines", "expected an array");
        for (const auto& e : engines->get_array()) {
            if (e.is_string()) out.do_database_engines.emplace_back(e.get_string());
        }
    }
    const auto* sizes = s.if_contains("sizes");
    if (!sizes) return;
    for (const auto& kv : r.object(*sizes, "$.digitalocean_database.sizes")) {
        std::string path = "$.digitalocean_database.sizes[\"" + std::string(kv.key()) + "\"]";
        const auto& o = r.object(kv.value(), path);
        DatabaseClusterSize size;
        const auto* monthly = o.if_contains("monthly");
        if (!monthly) r.fail(path, "missing monthly");
        size.monthly_per_node = r.price(*monthly, path + ".monthly");
        if (const auto* counts = o.if_contains("node_counts"); counts && counts->is_array()) {
            for (const auto& n : counts->get_array()) {
                size.node_counts.push_back(static_cast<int>(r.integer(n, path + ".node_counts")));
            }
        }
        out.do_database_sizes[std::string(kv.key())] = size;
    }
}

void read_rds(const Reader& r, const json::object& s, PriceCatalogue& out) {
    if (const auto* engines = s.if_contains("instance_hourly")) {
        for (const auto& engine : r.object(*engines, "$.aws_rds.instance_hourly")) {
            std::string path = "$.aws_rds.instance_hourly[\"" + std::string(engine.key()) + "\"]";
            auto& classes = out.rds_instance_hourly[std::string(engine.key())];
            for (const auto& kv : r.object(engine.value(), path)) {
                classes[std::string(kv.key())] = r.az_rate(kv.value(), path + "[\"" + std::string(kv.key()) + "\"]");
            }
        }
    }
    out.rds_storage_gb_month = r.az_rates(s, "storage_gb_month", "$.aws_rds");
    out.rds_iops_month = r.az_rates(s, "iops_month", "$.aws_rds");
    if (const auto* included = s.if_contains("gp3_included_iops")) {
        const auto& o = r.object(*included, "$.aws_rds.gp3_included_iops");
        if (const auto* v = o.if_contains("below_400_gb")) out.gp3_included_iops_below_400_gb = r.integer(*v, "$.aws_rds.gp3_included_iops.below_400_gb");
        if (const auto* v = o.if_contains("from_400_gb")) out.gp3_included_iops_from_400_gb = r.integer(*v, "$.aws_rds.gp3_included_iops.from_400_gb");
    }
}

void read_aurora(const Reader& r, const json::object& s, PriceCatalogue& out) {
    const auto* engines = s.if_contains("instance_hourly");
    if (!engines) return;
    for (const auto& engine : r.object(*engines, "$.aws_rds_aurora.instance_hourly")) {
        std::string path = "$.aws_rds_aurora.instance_hourly[\"" + std::string(engine.key()) + "\"]";
        auto& classes = out.aurora_instance_hourly[std::string(engine.key())];
        for (const auto& kv : r.object(engine.value(), path)) {
            classes[std::string(kv.key())] = r.price(kv.value(), path + "[\"" + std::string(kv.key()) + "\"]");
        }
    }
}

std::string read_text(const std::filesystem::path& path) {
    std::ifstream in(path, std::ios::binary);
    if (!in) throw Error(ErrorKind::input, "cannot read the price catalogue", {.file = path.string()});
    std::ostringstream text;
    text << in.rdbuf();
    return text.str();
}

}  // namespace

const PriceSource* PriceCatalogue::source_of(std::string_view section) const {
    for (const auto& s : sources) {
        if (s.section == section) return &s;
    }
    return nullptr;
}

Money PriceCatalogue::do_database_cluster_monthly(const std::string& size, int nodes) const {
    auto it = do_database_sizes.find(size);
    if (it == do_database_sizes.end()) {
        throw Error(ErrorKind::usage, "no price for DigitalOcean database size " + size, {.file = file});
    }
    const auto& allowed = it->second.node_counts;
    if (nodes < 1 || (!allowed.empty() && std::find(allowed.begin(), allowed.end(), nodes) == allowed.end())) {
        throw Error(ErrorKind::usage,
                    "DigitalOcean database size " + size + " does not come with " + std::to_string(nodes) + " nodes",
                    {.file = file});
    }
    return it->second.monthly_per_node.times(nodes);
}

PriceCatalogue parse_catalogue(std::string_view text, const std::string& source_name) {
    auto doc = plan::parse_json_document(text, source_name);
    Reader r(source_name);
    const auto& root = r.object(doc, "$");
    PriceCatalogue out;
    out.file = source_name;
    if (const auto* hours = root.if_contains("hours_per_month")) {
        if (r.integer(*hours, "$.hours_per_month") != hours_per_month) {
            r.fail("$.hours_per_month", "ece prices a month as 730 hours");
        }
    }
    if (const auto* s = r.section(root, "digitalocean_database", out)) read_do_database(r, *s, out);
    if (const auto* s = r.section(root, "digitalocean_droplet", out)) {
        out.do_droplet_monthly = r.monthly_by_slug(*s, "sizes", "$.digitalocean_droplet");
    }
    if (const auto* s = r.section(root, "digitalocean_kubernetes", out)) {
        out.do_kubernetes_node_monthly = r.monthly_by_slug(*s, "node_sizes", "$.digitalocean_kubernetes");
        if (const auto* ha = s->if_contains("ha_control_plane_monthly")) {
            out.do_kubernetes_ha_control_plane_monthly =
                r.price(*ha, "$.digitalocean_kubernetes.ha_control_plane_monthly");
        }
    }
    if (const auto* s = r.section(root, "aws_rds", out)) read_rds(r, *s, out);
    if (const auto* s = r.section(root, "aws_rds_aurora", out)) read_aurora(r, *s, out);
    if (const auto* s = r.section(root, "shared_server", out)) {
        const auto* rate = s->if_contains("gb_month");
        if (!rate) r.fail("$.shared_server.gb_month", "missing");
        out.shared_server_gb_month = r.price(*rate, "$.shared_server.gb_month");
    }
    if (out.sources.empty()) r.fail("$", "no price section found (not an ece price catalogue?)");
    return out;
}

PriceCatalogue load_catalogue(const std::filesystem::path& path) { return parse_catalogue(read_text(path), path.string()); }

std::filesystem::path default_catalogue_path() {
    if (const char* env = std::getenv("ECE_PRICES"); env && *env) return env;
    std::filesystem::path installed = ECE_INSTALLED_PRICES;
    if (std::filesystem::exists(installed)) return installed;
    return ECE_SOURCE_PRICES;
}

}  // namespace ece::cost
