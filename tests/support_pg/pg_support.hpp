#pragma once
// Real PostgreSQL for tests. Link ece_testsupport_pg (automatic for ece_test(... LABELS db)).
//
// Every test binary of one CTest run shares one throw-away cluster in <build>/test-pg, started lazily by the first
// test that asks (with the same ensure_embedded() code ece uses, fsync off) and removed by the CTest cleanup
// fixture pg_cluster_stop after the run. ECE_TEST_DATABASE_URL (an admin URL) replaces it with your own server.
//
// Isolation: take a fresh_database() per test. Roles are cluster-wide, so name them with unique_name().
#include <string>
#include <string_view>

namespace ece::test {

// Admin (superuser) URL of the test cluster, database "postgres". Starts the cluster on first use.
std::string admin_url();

// Creates a new, uniquely named database and returns an admin URL to it.
std::string fresh_database(std::string_view hint = "t");

// "<prefix>_<pid>_<counter>_<random>": unique across processes and runs; lowercase [a-z0-9_], at most 63 bytes
// (prefix is cut to fit). For roles and anything else cluster-wide.
std::string unique_name(std::string_view prefix);

// Where the shared test cluster lives (<build>/test-pg).
std::string test_cluster_dir();

}  // namespace ece::test
