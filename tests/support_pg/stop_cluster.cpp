// CTest cleanup fixture pg_cluster_stop: removes the shared throw-away test cluster after a test run.
#include "core/main.hpp"
#include "pg/embedded.hpp"

int main() {
    return ece::guarded_main("ece_test_pg_cluster", [] {
        ece::pg::destroy_embedded(ECE_TEST_PG_DIR);
        return 0;
    });
}
