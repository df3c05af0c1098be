#pragma once
// The price catalogue: data/prices.json (shipped), or any file of the same format given with --prices FILE.
#include "cost/money.hpp"

#include <cstdint>
#include <filesystem>
#include <map>
#include <string>
#include <string_view>
#include <vector>

namespace ece::cost {

inline constexpr std::int64_t hours_per_month = 730;  // as Infracost and the providers' calculators

// Where a section's prices come from; every section carries one.
struct PriceSource {
    std::string section;  // "aws_rds"
    std::string as_of;    // "2024-06"
    std::string source;   // URLs or files
    std::string note;
};

struct AzRate {
    Money single_az;
    Money multi_az;
    Money rate(bool multi) const { return multi ? multi_az : single_az; }
};

struct DatabaseClusterSize {
    Money monthly_per_node;
    std::vector<int> node_counts;  // allowed node counts
};

struct PriceCatalogue {
    std::string file;  // where it was read from
    std::vector<PriceSource> sources;

    // digitalocean_database: engine list and per-node monthly price by size slug.
    std::vector<std::string> do_database_engines;
    std::map<std::string, DatabaseClusterSize> do_database_sizes;
    // digitalocean_droplet and digitalocean_kubernetes: monthly price by size slug.
    std::map<std::string, Money> do_droplet_monthly;
    std::map<std::string, Money> do_kubernetes_node_monthly;
    Money do_kubernetes_ha_control_plane_monthly;
    // aws_rds: hourly by engine then instance class; storage per GB-month and IOPS per month by storage type.
    std::map<std::string, std::map<std::string, AzRate>> rds_instance_hourly;
    std::map<std::string, AzRate> rds_storage_gb_month;
    std::map<std::string, AzRate> rds_iops_month;
    std::int64_t gp3_included_iops_below_400_gb = 3000;
    std::int64_t gp3_included_iops_from_400_gb = 12000;
    // aws_rds_aurora: hourly by engine then instance class.
    std::map<std::string, std::map<std::string, Money>> aurora_instance_hourly;
    // shared_server: $ per GB-month of an environment's size on disk.
    Money shared_server_gb_month;

    const PriceSource* source_of(std::string_view section) const;
    // Monthly price of a DigitalOcean managed database cluster; throws ece::Error(usage) for an unknown size
    // or a node count the size does not allow.
    Money do_database_cluster_monthly(const std::string& size, int nodes) const;
};

// Parses a catalogue; every section is optional (a missing section prices nothing). Throws ece::Error(input)
// naming source_name and the JSON path of a bad value.
PriceCatalogue parse_catalogue(std::string_view text, const std::string& source_name);
PriceCatalogue load_catalogue(const std::filesystem::path& path);

// $ECE_PRICES when set, else the installed share/ece/prices.json, else the source tree's data/prices.json.
std::filesystem::path default_catalogue_path();

}  // namespace ece::cost
