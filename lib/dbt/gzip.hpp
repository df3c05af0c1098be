#pragma once
// gzip (RFC 1952) through zlib, for manifests stored in the catalog: `gunzip` reads what this writes.
#include <string>
#include <string_view>

namespace ece::dbt {

std::string gzip_compress(std::string_view data);
// Accepts gzip or zlib streams. Throws ece::Error(input) naming what (e.g. "ece.state_manifests #3") on bad data.
std::string gzip_decompress(std::string_view data, std::string_view what);

}  // namespace ece::dbt
