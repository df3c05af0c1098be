#include "cost/estimate.hpp"

#include <algorithm>

namespace json = boost::json;

namespace ece::cost {
namespace {

const json::value* attr(const json::value& attributes, std::string_view key) {
    if (!attributes.is_object()) return nullptr;
    const auto* v = attributes.get_object().if_contains(key);
    return v && !v->is_null() ? v : nullptr;
}

std::string text_attr(const json::value& attributes, std::string_view key) {
    const auto* v = attr(attributes, key);
    return v && v->is_string() ? std::string(v->get_string()) : std::string();
}

std::optional<std::int64_t> int_attr(const json::value& attributes, std::string_view key) {
    const auto* v = attr(attributes, key);
    if (!v || !v->is_number()) return std::nullopt;
    return static_cast<std::int64_t>(v->to_number<double>());
}

bool bool_attr(const json::value& attributes, std::string_view key) {
    const auto* v = attr(attributes, key);
    return v && v->is_bool() && v->get_bool();
}

PriceResult not_priced(std::string why) { return {std::nullopt, std::move(why)}; }

Money hourly_to_monthly(Money hourly) { return hourly.times(hours_per_month); }

PriceResult price_rds_instance(const json::value& a, const PriceCatalogue& prices) {
    auto engine = text_attr(a, "engine");
    auto instance_class = text_attr(a, "instance_class");
    if (instance_class.empty()) return not_priced("instance_class not known until apply");
    if (engine.starts_with("aurora")) {
        auto e = prices.aurora_instance_hourly.find(engine == "aurora" ? "aurora-mysql" : engine);
        if (e == prices.aurora_instance_hourly.end()) return not_priced("engine " + engine + " not in the catalogue");
        auto c = e->second.find(instance_class);
        if (c == e->second.end()) return not_priced(instance_class + " (" + engine + ") not in the catalogue");
        return {hourly_to_monthly(c->second), instance_class + ", " + engine};
    }
    if (engine.empty()) return not_priced("engine not known until apply");
    auto e = prices.rds_instance_hourly.find(engine);
    if (e == prices.rds_instance_hourly.end()) return not_priced("engine " + engine + " not in the catalogue");
    auto c = e->second.find(instance_class);
    if (c == e->second.end()) return not_priced(instance_class + " (" + engine + ") not in the catalogue");
    bool multi_az = bool_attr(a, "multi_az");
    Money monthly = hourly_to_monthly(c->second.rate(multi_az));
    std::string detail = instance_class + ", " + (multi_az ? "Multi-AZ" : "Single-AZ");

    auto storage_gb = int_attr(a, "allocated_storage").value_or(0);
    auto iops = int_attr(a, "iops").value_or(0);
    auto storage_type = text_attr(a, "storage_type");
    if (storage_type.empty()) storage_type = iops > 0 ? "io1" : "gp2";  // the provider's defaults
    if (storage_gb > 0) {
        auto rate = prices.rds_storage_gb_month.find(storage_type);
        if (rate == prices.rds_storage_gb_month.end()) return not_priced("storage type " + storage_type + " not in the catalogue");
        monthly += rate->second.rate(multi_az).times(storage_gb);
        detail += ", " + std::to_string(storage_gb) + " GB " + storage_type;
    }
    std::int64_t billed_iops = 0;
    if (storage_type == "io1") billed_iops = iops;
    if (storage_type == "gp3") {
        auto included = storage_gb >= 400 ? prices.gp3_included_iops_from_400_gb : prices.gp3_included_iops_below_400_gb;
        billed_iops = std::max<std::int64_t>(0, iops - included);
    }
    if (billed_iops > 0) {
        auto rate = prices.rds_iops_month.find(storage_type);
        if (rate == prices.rds_iops_month.end()) return not_priced("IOPS of " + storage_type + " not in the catalogue");
        monthly += rate->second.rate(multi_az).times(billed_iops);
        detail += ", " + std::to_string(billed_iops) + " IOPS";
    }
    return {monthly, detail};
}

PriceResult price_rds_cluster_instance(const json::value& a, const PriceCatalogue& prices) {
    auto engine = text_attr(a, "engine");
    auto instance_class = text_attr(a, "instance_class");
    if (instance_class.empty()) return not_priced("instance_class not known until apply");
    if (engine.empty() || engine == "aurora") engine = "aurora-mysql";  // the provider's default engine
    auto e = prices.aurora_instance_hourly.find(engine);
    if (e == prices.aurora_instance_hourly.end()) return not_priced("engine " + engine + " not in the catalogue");
    auto c = e->second.find(instance_class);
    if (c == e->second.end()) return not_priced(instance_class + " (" + engine + ") not in the catalogue");
    return {hourly_to_monthly(c->second), instance_class + ", " + engine};
}

PriceResult price_do_database(const json::value& a, const PriceCatalogue& prices) {
    auto engine = text_attr(a, "engine");
    auto size = text_attr(a, "size");
    if (size.empty()) return not_priced("size not known until apply");
    const auto& engines = prices.do_database_engines;
    if (!engine.empty() && std::find(engines.begin(), engines.end(), engine) == engines.end()) {
        return not_priced("engine " + engine + " not in the catalogue");
    }
    auto it = prices.do_database_sizes.find(size);
    if (it == prices.do_database_sizes.end()) return not_priced(size + " not in the catalogue");
    auto nodes = int_attr(a, "node_count").value_or(1);
    return {it->second.monthly_per_node.times(nodes),
            size + " x " + std::to_string(nodes) + (nodes == 1 ? " node" : " nodes")};
}

PriceResult price_droplet(const json::value& a, const PriceCatalogue& prices) {
    auto size = text_attr(a, "size");
    if (size.empty()) return not_priced("size not known until apply");
    auto it = prices.do_droplet_monthly.find(size);
    if (it == prices.do_droplet_monthly.end()) return not_priced(size + " not in the catalogue");
    return {it->second, size};
}

// A node pool's nodes: node_count, or min_nodes while auto-scaling leaves the count open.
PriceResult price_node_pool(const json::value& pool, const PriceCatalogue& prices) {
    auto size = text_attr(pool, "size");
    if (size.empty()) return not_priced("node size not known until apply");
    auto it = prices.do_kubernetes_node_monthly.find(size);
    if (it == prices.do_kubernetes_node_monthly.end()) return not_priced("node size " + size + " not in the catalogue");
    auto nodes = int_attr(pool, "node_count");
    std::string qualifier;
    if (!nodes && bool_attr(pool, "auto_scale")) {
        nodes = int_attr(pool, "min_nodes");
        qualifier = " (autoscaling minimum)";
    }
    if (!nodes) return not_priced("node count not known until apply");
    return {it->second.times(*nodes), size + " x " + std::to_string(*nodes) + qualifier};
}

PriceResult price_kubernetes_cluster(const json::value& a, const PriceCatalogue& prices) {
    const auto* pools = attr(a, "node_pool");
    if (!pools || !pools->is_array() || pools->get_array().empty()) return not_priced("node_pool not known until apply");
    auto pool = price_node_pool(pools->get_array().front(), prices);
    if (!pool.monthly) return pool;
    if (bool_attr(a, "ha")) {
        pool.monthly = *pool.monthly + prices.do_kubernetes_ha_control_plane_monthly;
        pool.detail += ", HA control plane";
    }
    return pool;
}

}  // namespace

PriceResult price_resource(const std::string& type, const json::value& attributes, const PriceCatalogue& prices) {
    if (type == "aws_db_instance") return price_rds_instance(attributes, prices);
    if (type == "aws_rds_cluster_instance") return price_rds_cluster_instance(attributes, prices);
    if (type == "digitalocean_database_cluster") return price_do_database(attributes, prices);
    if (type == "digitalocean_droplet") return price_droplet(attributes, prices);
    if (type == "digitalocean_kubernetes_cluster") return price_kubernetes_cluster(attributes, prices);
    if (type == "digitalocean_kubernetes_node_pool") return price_node_pool(attributes, prices);
    return not_priced("no price for resource type " + type);
}

CostEstimate estimate_plan_cost(const plan::Plan& plan, const PriceCatalogue& prices) {
    CostEstimate estimate;
    for (const auto& r : plan.resource_changes) {
        if (r.mode == "data" || r.action == plan::Action::read) continue;
        ResourceCost cost{r.address, r.type, r.action, std::nullopt, std::nullopt, {}, {}};
        std::string problem;
        if (!r.before.is_null()) {
            auto p = price_resource(r.type, r.before, prices);
            if (p.monthly) cost.before = p.monthly;
            else problem = p.detail;
            cost.before_detail = p.detail;
        }
        if (!r.after.is_null() && r.action != plan::Action::destroy) {
            auto p = price_resource(r.type, r.after, prices);
            if (p.monthly) cost.after = p.monthly;
            else problem = p.detail;
            cost.after_detail = p.detail;
        }
        if (!problem.empty()) {
            estimate.not_priced.push_back({r.address, r.type, r.action, problem});
            continue;
        }
        if (!cost.before && !cost.after) continue;
        estimate.total_before += cost.before.value_or(Money{});
        estimate.total_after += cost.after.value_or(Money{});
        estimate.resources.push_back(std::move(cost));
    }
    return estimate;
}

}  // namespace ece::cost
