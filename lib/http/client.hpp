#pragma once
// A synchronous HTTPS client (Boost.Beast over OpenSSL) with the behaviour every external call of ece needs:
// verified TLS, timeouts, proxies, keep-alive, retries with backoff that honour rate limits, pagination and
// streaming of large bodies. Failures become ece::Error naming method, URL (credentials removed) and status.
#include "http/url.hpp"

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace ece::http {

// Header fields in order; names compare case-insensitively.
struct Headers {
    std::vector<std::pair<std::string, std::string>> fields;

    std::optional<std::string> get(std::string_view name) const;
    bool has(std::string_view name) const { return get(name).has_value(); }
    // Replaces every field of that name.
    void set(std::string_view name, std::string_view value);
    void erase(std::string_view name);
};

struct Request {
    std::string method = "GET";
    std::string url;
    Headers headers{};
    std::string body{};
};

struct Response {
    int status = 0;
    Headers headers{};
    std::string body{};  // empty when the body went to a sink
    std::string url{};   // the URL that answered (after redirects)

    std::optional<std::string> header(std::string_view name) const { return headers.get(name); }
};

struct RetryPolicy {
    int max_attempts = 5;                                    // tries in total, first one included
    std::chrono::milliseconds initial_backoff{500};          // doubled per retry, before jitter
    std::chrono::milliseconds max_backoff{30'000};           // cap of one computed backoff
    std::chrono::milliseconds max_total_wait{120'000};       // never sleep longer than this in all
};

struct ClientOptions {
    // Trust: the system store (OpenSSL's default paths, which honour SSL_CERT_FILE / SSL_CERT_DIR) plus ca_file.
    std::optional<std::filesystem::path> ca_file{};
    bool use_system_trust_store = true;
    bool allow_plain_http = false;  // http:// URLs are refused unless set (tests, local proxies)

    std::chrono::milliseconds connect_timeout{10'000};  // resolve + TCP connect + proxy CONNECT + TLS handshake
    std::chrono::milliseconds read_timeout{60'000};     // each write and each read of the response

    // Proxy for https:// URLs ("http://[user:pass@]host:port"). Unset: HTTPS_PROXY / https_proxy, minus NO_PROXY.
    std::optional<std::string> proxy{};
    std::optional<std::string> no_proxy{};
    bool proxy_from_environment = true;

    RetryPolicy retry{};
    int max_redirects = 5;  // 301/302/303/307/308 followed; Authorization is dropped when the origin changes

    // Injectable for tests: how to wait, what time it is (for x-ratelimit-reset), and a jitter source in [0, 1).
    std::function<void(std::chrono::milliseconds)> sleep{};
    std::function<std::chrono::system_clock::time_point()> now{};
    std::function<double()> jitter{};

    // Largest body kept in memory; bigger ones need a sink (download_to_file, on_body).
    std::uint64_t max_body_bytes = 256ull << 20;
};

// Receives a 2xx body piece by piece. reset() is called before a retry starts the body over.
struct BodySink {
    std::function<void(std::string_view)> write;
    std::function<void()> reset{};
};

// Not thread-safe: one Client per thread (it holds one kept-alive connection and its own I/O context).
class Client {
public:
    explicit Client(ClientOptions options = {});
    ~Client();
    Client(Client&&) noexcept;
    Client& operator=(Client&&) noexcept;

    // Sends with retries and redirects; returns a 2xx/3xx response, throws ece::Error otherwise
    // (network, or auth for 401/403) naming method, URL and status and quoting the response's "message".
    Response send(const Request& request);
    // Like send, but returns the final response whatever its status; throws only when no response came.
    Response send_unchecked(const Request& request);
    // Streams a 2xx body into sink instead of memory (error bodies are still read to quote them).
    Response send_to(const Request& request, const BodySink& sink);
    // Writes a 2xx body to file (truncated on every attempt); returns the response without body.
    Response download_to_file(const Request& request, const std::filesystem::path& file);

    // GETs request.url and every page its Link: rel="next" chain names (at most max_pages), in order.
    std::vector<Response> get_all_pages(const Request& first, std::size_t max_pages = 1000);

    const ClientOptions& options() const;

    // Connections opened so far (for tests of keep-alive reuse).
    std::size_t connections_opened() const;

private:
    struct Impl;
    std::unique_ptr<Impl> impl_;
};

// Proxy to use for url under the given settings ("" = direct). Pure, for tests and diagnostics.
std::string choose_proxy(const Url& url, const std::string& https_proxy, const std::string& no_proxy);

// The wait a response asks for before retrying, if it is retryable at all:
// Retry-After (seconds or HTTP date), else the end of the rate-limit window: GitHub's x-ratelimit-reset or
// DigitalOcean's ratelimit-reset (epoch seconds; small numbers are seconds from now) when its remaining count is 0
// or the status is 429. The client gives up at once when the wait exceeds what is left of max_total_wait. Pure.
std::optional<std::chrono::milliseconds> requested_wait(const Response& response,
                                                        std::chrono::system_clock::time_point now);
// Whether a response is worth retrying: 5xx (but 501, 505), 429, and GitHub's rate limits (403 with retry-after or
// x-ratelimit-remaining: 0, or a message saying "rate limit"; one naming no wait is retried after at least 60 s).
bool retryable_status(const Response& response);

}  // namespace ece::http
