#pragma once
// Bounds an environment's sessions while ece runs its pull request's code (dbt during a build).
//
// An environment's role carries statement_timeout and idle_in_transaction_session_timeout (ALTER ROLE ... SET), but
// these are settings any role may change for itself: SET, or ALTER ROLE current_user SET for its next logins. So
// while dbt runs, this watchdog polls pg_stat_activity on its own thread and ends (pg_terminate_backend) every
// session of the role whose statement ran longer than the statement limit, or that sat idle in a transaction longer
// than the idle limit; when it stops (the build is over) it ends every session the role still has, so nothing the
// pull request started outlives the build (a query keeps running on the server after its client died).
// temp_file_limit is set on the role too, and only a superuser may change it: no watchdog needed for it.
#include <pqxx/pqxx>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <mutex>
#include <string>
#include <thread>

namespace ece::pg {

struct SessionLimits {
    std::chrono::milliseconds statement{std::chrono::minutes(15)};
    std::chrono::milliseconds idle_in_transaction{std::chrono::minutes(5)};
    std::chrono::milliseconds period{std::chrono::seconds(2)};  // how often it looks
};

class SessionWatchdog {
public:
    // conn: ece's admin connection, used only by the watchdog until it stops (the caller does not touch it
    // meanwhile). A role that is not a valid name or that the admin may not signal: the sweeps fail silently.
    SessionWatchdog(pqxx::connection_base& conn, std::string role, SessionLimits limits);
    ~SessionWatchdog();  // stop()
    SessionWatchdog(const SessionWatchdog&) = delete;
    SessionWatchdog& operator=(const SessionWatchdog&) = delete;

    // Stops polling and ends every remaining session of the role. Idempotent.
    void stop();
    // Sessions ended so far (over limit, and at stop).
    int ended() const { return ended_; }

private:
    void watch();
    int sweep(bool everything);

    pqxx::connection_base& conn_;
    std::string role_;
    SessionLimits limits_;
    std::mutex mutex_;
    std::condition_variable wake_;
    bool stopping_ = false;
    std::atomic<int> ended_{0};
    std::thread thread_;
};

}  // namespace ece::pg
