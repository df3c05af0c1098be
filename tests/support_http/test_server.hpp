#pragma once
// A real HTTPS (or plain HTTP) server on 127.0.0.1 for tests: random free port, a certificate made at test time,
// routes by method + path pattern, a request log, and scripted faults (status sequences, Retry-After, hangs, bodies
// cut short). Generic on purpose: FakeGitHub and other fake APIs (DigitalOcean) are built on top of it.
#include "http/client.hpp"
#include "test_pki.hpp"

#include <chrono>
#include <filesystem>
#include <functional>
#include <future>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace ece::test {

struct ServerRequest {
    std::string method;
    std::string target;  // as sent: path + query
    std::string path;    // without the query
    std::string query;   // without '?'
    http::Headers headers;
    std::string body;
    std::map<std::string, std::string> params;  // {name} segments of the matched route pattern

    std::optional<std::string> header(std::string_view name) const { return headers.get(name); }
    // Percent-decoded value of a query parameter, if present.
    std::optional<std::string> query_param(std::string_view name) const;
    // Names of every query parameter, in order.
    std::vector<std::string> query_names() const;
};

enum class Fault {
    none,
    hang,              // read the request, never answer (until the server stops)
    cut_body,          // send headers announcing the whole body, half of it, then close the connection
    close_connection,  // close without answering
};

struct ServerResponse {
    int status = 200;
    http::Headers headers{};
    std::string body{};
    Fault fault = Fault::none;
    std::chrono::milliseconds delay{0};  // wait before answering
    // When valid, the answer waits until it is ready: a test holds requests until the ones it races have arrived.
    std::shared_future<void> hold{};

    static ServerResponse json(int status, std::string body);
    // GitHub's error shape: {"message": ..., "documentation_url": ...}
    static ServerResponse error(int status, std::string_view message);
};

using Handler = std::function<ServerResponse(const ServerRequest&)>;
// Sees every request first (on the server's thread, unlocked); an answer it returns is served instead.
using Interceptor = std::function<std::optional<ServerResponse>(const ServerRequest&)>;

// The {name} parameters of path (percent-decoded) when it matches pattern ("/repos/{owner}/{repo}/pulls"), segment
// by segment; nullopt when it does not.
std::optional<std::map<std::string, std::string>> match_path(const std::string& pattern, const std::string& path);

enum class ServerCertificate {
    localhost,    // signed by the server's CA, valid for 127.0.0.1 and localhost
    wrong_host,   // signed by the server's CA, valid only for wrong.example
    self_signed,  // valid for 127.0.0.1 and localhost but signed by no CA
};

struct ServerOptions {
    bool tls = true;
    ServerCertificate certificate = ServerCertificate::localhost;
};

class TestServer {
public:
    explicit TestServer(ServerOptions options = {});
    ~TestServer();
    TestServer(const TestServer&) = delete;
    TestServer& operator=(const TestServer&) = delete;

    // Pattern: "/repos/{owner}/{repo}/issues/{issue_number}/comments"; {x} matches one path segment and lands in
    // ServerRequest::params. Later routes win over earlier ones for the same method + pattern.
    void route(std::string method, std::string pattern, Handler handler);
    // Responses served, in order, to the next requests matching method + pattern, before the route sees any.
    void enqueue(std::string method, std::string pattern, std::vector<ServerResponse> responses);
    // Faults decided per request (see Interceptor); replaces the one set before.
    void intercept(Interceptor interceptor);

    unsigned short port() const;
    std::string base_url() const;                   // https://127.0.0.1:<port> (http:// without TLS)
    std::string url(std::string_view path) const;  // base_url() + path
    std::string localhost_url(std::string_view path) const;  // same server, named localhost (another origin)
    // PEM file of the CA that signed the server's certificate (for ClientOptions::ca_file).
    const std::filesystem::path& ca_file() const;

    std::vector<ServerRequest> requests() const;
    void clear_requests();
    std::size_t connections_accepted() const;

private:
    struct Impl;
    std::unique_ptr<Impl> impl_;
};

// A tiny HTTP CONNECT proxy on 127.0.0.1 that tunnels bytes to 127.0.0.1/localhost targets and remembers every
// CONNECT target. With required_authorization set, CONNECTs without that Proxy-Authorization value get 407.
class ConnectProxy {
public:
    explicit ConnectProxy(std::string required_authorization = {});
    ~ConnectProxy();
    ConnectProxy(const ConnectProxy&) = delete;
    ConnectProxy& operator=(const ConnectProxy&) = delete;

    std::string url() const;  // http://127.0.0.1:<port>
    std::vector<std::string> connect_targets() const;

private:
    struct Impl;
    std::unique_ptr<Impl> impl_;
};

}  // namespace ece::test
