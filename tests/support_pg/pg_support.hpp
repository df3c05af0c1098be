#pragma once
// Real PostgreSQL for tests. Link ece_testsupport_pg (automatic for ece_test(... LABELS db)).
//
// Every test binary of one CTest run shares one throw-away cluster in <build>/test-pg, started lazily by the first
// test that asks (with the same ensure_embedded() code ece uses, fsync off) and removed by the CTest cleanup
// fixture pg_cluster_stop after the run. ECE_TEST_DATABASE_URL (an admin URL) replaces it with your own server.
//
// Isolation: take a fresh_database() per test. Roles are cluster-wide, so name them with unique_name().
#include <pqxx/connection_base>

#include <set>
#include <string>
#include <string_view>
#include <vector>

namespace ece::test {

// Admin (superuser) URL of the test cluster, database "postgres". Starts the cluster on first use.
std::string admin_url();

// Creates a new, uniquely named database and returns an admin URL to it.
std::string fresh_database(std::string_view hint = "t");

// "<prefix>_<pid>_<counter>_<random>": unique across processes and runs; lowercase [a-z0-9_], at most 63 bytes
// (prefix is cut to fit). For roles and anything else cluster-wide.
std::string unique_name(std::string_view prefix);

// The example project's four raw sources (schema raw) with a few rows each, for tests that build it with dbt.
inline constexpr const char* demo_raw_data_sql = R"SQL(
create schema raw;
create table raw.patients(patid bigint, sex text, birth_year int);
create table raw.diagnoses(patid bigint, npi bigint, dx_code text);
create table raw.providers(npi bigint);
create table raw.icd10(code text);
insert into raw.patients values (1,'f',1950),(2,'m',1960),(3,'F',1970),(4,'u',1980),(5,'m',1890),(6,'m',1999);
insert into raw.providers values (10),(11),(12);
insert into raw.icd10 values ('A01'),('B02'),('C03');
insert into raw.diagnoses values (1,10,'a01'),(2,10,'b02'),(3,11,'a01'),(9,99,'Z99');
)SQL";

// Runs sql outside a transaction block (one statement or several).
void execute(pqxx::connection_base& conn, const std::string& sql);
// The one row's first column as text, "" when it is NULL; a query without exactly one row fails the test's call.
std::string scalar(pqxx::connection_base& conn, const std::string& sql);
// The column names of schema.table (empty when there is no such relation).
std::set<std::string> column_names(pqxx::connection_base& conn, const std::string& schema, const std::string& table);
// The schemas whose name starts with prefix.
std::set<std::string> schemas_starting_with(pqxx::connection_base& conn, const std::string& prefix);
// Every table in ece's content schema (ece_content), staged and loading ones, sorted.
std::vector<std::string> content_tables(pqxx::connection_base& conn);

// Where the shared test cluster lives (<build>/test-pg).
std::string test_cluster_dir();

}  // namespace ece::test
