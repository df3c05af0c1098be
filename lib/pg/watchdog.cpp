#include "pg/watchdog.hpp"

namespace ece::pg {

SessionWatchdog::SessionWatchdog(pqxx::connection_base& conn, std::string role, SessionLimits limits)
    : conn_(conn), role_(std::move(role)), limits_(limits), thread_([this] { watch(); }) {}

SessionWatchdog::~SessionWatchdog() { stop(); }

void SessionWatchdog::stop() {
    {
        std::lock_guard<std::mutex> lock(mutex_);
        if (stopping_) return;
        stopping_ = true;
    }
    wake_.notify_all();
    thread_.join();
    sweep(true);
}

void SessionWatchdog::watch() {
    std::unique_lock<std::mutex> lock(mutex_);
    while (!wake_.wait_for(lock, limits_.period, [this] { return stopping_; })) {
        lock.unlock();
        sweep(false);
        lock.lock();
    }
}

int SessionWatchdog::sweep(bool everything) {
    try {
        pqxx::nontransaction tx(conn_, "session watchdog");
        auto ended = tx.exec_params(
            "SELECT pg_catalog.pg_terminate_backend(pid) FROM pg_catalog.pg_stat_activity "
            "WHERE usename = $1 AND pid <> pg_catalog.pg_backend_pid() AND ($2 "
            " OR (state = 'active' AND query_start < pg_catalog.clock_timestamp() - $3::pg_catalog.interval) "
            " OR (state LIKE 'idle in transaction%' "
            "     AND state_change < pg_catalog.clock_timestamp() - $4::pg_catalog.interval))",
            role_, everything, std::to_string(limits_.statement.count()) + " ms",
            std::to_string(limits_.idle_in_transaction.count()) + " ms");
        ended_ += static_cast<int>(ended.size());
        return static_cast<int>(ended.size());
    } catch (const std::exception&) {
        return 0;  // the next sweep tries again; a lost connection is the caller's to report
    }
}

}  // namespace ece::pg
