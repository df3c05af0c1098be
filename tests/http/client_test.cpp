// The HTTPS client against a real local server with a certificate made at test time.
#include "http/client.hpp"

#include "core/error.hpp"
#include "core/secrets.hpp"
#include "support.hpp"
#include "test_server.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cstdlib>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

namespace ece::http {
namespace {

using namespace std::chrono_literals;
using ece::test::expect_error;
using ece::test::Fault;
using ece::test::ServerRequest;
using ece::test::ServerResponse;
using ece::test::TestServer;
using testing::HasSubstr;
using testing::IsEmpty;

ServerResponse text(int status, std::string body, std::vector<std::pair<std::string, std::string>> headers = {}) {
    ServerResponse r;
    r.status = status;
    r.body = std::move(body);
    r.headers.fields = std::move(headers);
    return r;
}

// Fast, hermetic client options: the server's CA, no proxy from the environment, recorded sleeps.
struct Harness {
    std::vector<std::chrono::milliseconds> sleeps;
    ClientOptions options(const TestServer& server) {
        ClientOptions o;
        o.ca_file = server.ca_file();
        o.proxy_from_environment = false;
        o.connect_timeout = 2s;
        o.read_timeout = 2s;
        o.retry.max_attempts = 3;
        o.retry.initial_backoff = 100ms;
        o.sleep = [this](std::chrono::milliseconds ms) { sleeps.push_back(ms); };
        o.jitter = [] { return 0.5; };
        return o;
    }
};

TEST(Tls, VerifiedWithTheGeneratedCa) {
    TestServer server;
    server.route("GET", "/hello/{name}", [](const ServerRequest& r) { return text(200, "hi " + r.params.at("name")); });
    Harness h;
    Client client(h.options(server));
    auto response = client.send({.url = server.url("/hello/ece")});
    EXPECT_EQ(response.status, 200);
    EXPECT_EQ(response.body, "hi ece");
    // The DNS name works too (hostname verification + SNI).
    EXPECT_EQ(client.send({.url = server.localhost_url("/hello/dns")}).body, "hi dns");
}

TEST(Tls, SslCertFileIsHonoured) {
    TestServer server;
    server.route("GET", "/", [](const ServerRequest&) { return text(200, "ok"); });
    Harness h;
    auto options = h.options(server);
    options.ca_file.reset();
    ::setenv("SSL_CERT_FILE", server.ca_file().c_str(), 1);
    Client client(options);
    ::unsetenv("SSL_CERT_FILE");
    EXPECT_EQ(client.send({.url = server.url("/")}).body, "ok");
}

TEST(Tls, WithoutTheCaTheServerIsRefused) {
    TestServer server;
    server.route("GET", "/", [](const ServerRequest&) { return text(200, "ok"); });
    Harness h;
    auto options = h.options(server);
    options.ca_file.reset();
    Client client(options);
    auto e = expect_error([&] { client.send({.url = server.url("/")}); });
    EXPECT_EQ(e.kind(), ErrorKind::network);
    EXPECT_THAT(e.what(), HasSubstr("TLS certificate of 127.0.0.1 rejected"));
    EXPECT_THAT(server.requests(), IsEmpty());
}

TEST(Tls, CertificateForAnotherHostIsRefused) {
    TestServer server({.certificate = ece::test::ServerCertificate::wrong_host});
    server.route("GET", "/", [](const ServerRequest&) { return text(200, "ok"); });
    Harness h;
    Client client(h.options(server));
    for (const auto& url : {server.url("/"), server.localhost_url("/")}) {
        auto e = expect_error([&] { client.send({.url = url}); });
        EXPECT_THAT(e.what(), testing::MatchesRegex(".*rejected: (IP address|hostname) mismatch")) << e.what();
        EXPECT_THAT(e.what(), HasSubstr("GET failed"));
    }
    EXPECT_THAT(server.requests(), IsEmpty());
    EXPECT_THAT(h.sleeps, IsEmpty()) << "a certificate problem is not retried";
    EXPECT_EQ(server.connections_accepted(), 2u);
}

TEST(Tls, SelfSignedCertificateIsRefused) {
    TestServer server({.certificate = ece::test::ServerCertificate::self_signed});
    Harness h;
    Client client(h.options(server));
    auto e = expect_error([&] { client.send({.url = server.url("/")}); });
    EXPECT_THAT(e.what(), HasSubstr("self-signed certificate"));
}

TEST(Tls, PlainHttpOnlyWhenAllowed) {
    TestServer server({.tls = false});
    server.route("GET", "/", [](const ServerRequest&) { return text(200, "plain"); });
    Harness h;
    auto e = expect_error([&] { Client(h.options(server)).send({.url = server.url("/")}); });
    EXPECT_EQ(e.kind(), ErrorKind::usage);
    auto options = h.options(server);
    options.allow_plain_http = true;
    EXPECT_EQ(Client(options).send({.url = server.url("/")}).body, "plain");
}

TEST(KeepAlive, ReusesOneConnection) {
    TestServer server;
    server.route("GET", "/n", [](const ServerRequest&) { return text(200, "x"); });
    Harness h;
    Client client(h.options(server));
    for (int i = 0; i < 5; ++i) client.send({.url = server.url("/n")});
    EXPECT_EQ(server.connections_accepted(), 1u);
    EXPECT_EQ(client.connections_opened(), 1u);
}

TEST(Retry, BadGatewayThenOkIsRetried) {
    TestServer server;
    server.enqueue("GET", "/flaky", {text(502, "<html>Bad Gateway</html>")});
    server.route("GET", "/flaky", [](const ServerRequest&) { return text(200, "finally"); });
    Harness h;
    Client client(h.options(server));
    EXPECT_EQ(client.send({.url = server.url("/flaky")}).body, "finally");
    EXPECT_EQ(server.requests().size(), 2u);
    ASSERT_EQ(h.sleeps.size(), 1u);
    EXPECT_EQ(h.sleeps[0], 75ms) << "100 ms backoff, equal jitter at 0.5";
}

TEST(Retry, BackoffGrowsExponentiallyAndGivesUp) {
    TestServer server;
    server.route("GET", "/down", [](const ServerRequest&) {
        return ServerResponse::json(503, R"({"message":"Service Unavailable"})");
    });
    Harness h;
    auto options = h.options(server);
    options.retry.max_attempts = 4;
    options.jitter = [] { return 0.0; };
    Client client(options);
    auto e = expect_error([&] { client.send({.url = server.url("/down")}); });
    EXPECT_EQ(e.kind(), ErrorKind::network);
    EXPECT_EQ(e.where().http_status, 503);
    EXPECT_EQ(std::string(e.what()), server.url("/down") + ": HTTP 503: GET failed: Service Unavailable (after 4 attempts)");
    EXPECT_THAT(h.sleeps, testing::ElementsAre(50ms, 100ms, 200ms));
}

TEST(Retry, TooManyRequestsWaitsForRetryAfter) {
    TestServer server;
    server.enqueue("GET", "/limited", {text(429, "slow down", {{"Retry-After", "7"}})});
    server.route("GET", "/limited", [](const ServerRequest&) { return text(200, "ok"); });
    Harness h;
    Client client(h.options(server));
    EXPECT_EQ(client.send({.url = server.url("/limited")}).body, "ok");
    EXPECT_THAT(h.sleeps, testing::ElementsAre(7000ms));
}

TEST(Retry, GitHubSecondaryRateLimitIsHonoured) {
    TestServer server;
    auto now = std::chrono::system_clock::time_point(std::chrono::seconds(1'700'000'000));
    server.enqueue("POST", "/repos/o/r/issues/1/comments",
                   {ServerResponse::json(403, R"({"message":"You have exceeded a secondary rate limit."})"),
                    text(403, R"({"message":"API rate limit exceeded"})",
                         {{"x-ratelimit-remaining", "0"}, {"x-ratelimit-reset", "1700000020"}})});
    server.route("POST", "/repos/o/r/issues/1/comments", [](const ServerRequest&) { return text(201, "{}"); });
    Harness h;
    auto options = h.options(server);
    options.now = [now] { return now; };
    // The first 403 names no wait: GitHub asks for at least a minute. The second names the reset time: just past it.
    Client client(options);
    EXPECT_EQ(client.send({.method = "POST", .url = server.url("/repos/o/r/issues/1/comments"), .body = "{}"}).status,
              201);
    EXPECT_THAT(h.sleeps, testing::ElementsAre(60'000ms, 21'000ms));
}

TEST(Retry, RateLimitResetBeyondTheWaitBudgetFailsAtOnce) {
    TestServer server;
    auto now = std::chrono::system_clock::time_point(std::chrono::seconds(1'700'000'000));
    server.route("GET", "/x", [](const ServerRequest&) {
        return text(403, R"({"message":"API rate limit exceeded for installation ID 1."})",
                    {{"x-ratelimit-remaining", "0"}, {"x-ratelimit-reset", "1700003600"}});
    });
    Harness h;
    auto options = h.options(server);
    options.now = [now] { return now; };
    Client client(options);
    auto e = expect_error([&] { client.send({.url = server.url("/x")}); });
    EXPECT_EQ(e.kind(), ErrorKind::network) << "a rate limit is not an authentication problem";
    EXPECT_THAT(e.what(), HasSubstr("API rate limit exceeded for installation ID 1."));
    EXPECT_THAT(e.what(), HasSubstr("asks to wait 3601 s, beyond the 120 s left to wait"));
    EXPECT_THAT(h.sleeps, IsEmpty());
}

TEST(Retry, DigitalOceanRatelimitResetIsHonoured) {
    TestServer server;
    auto now = std::chrono::system_clock::time_point(std::chrono::seconds(1'700'000'000));
    server.enqueue("GET", "/v2/databases",
                   {text(429, R"({"id":"too_many_requests","message":"API rate limit exceeded."})",
                         {{"ratelimit-limit", "5000"},
                          {"ratelimit-remaining", "0"},
                          {"ratelimit-reset", "1700000045"}})});
    server.route("GET", "/v2/databases", [](const ServerRequest&) { return text(200, R"({"databases":[]})"); });
    Harness h;
    auto options = h.options(server);
    options.now = [now] { return now; };
    Client client(options);
    EXPECT_EQ(client.send({.url = server.url("/v2/databases")}).status, 200);
    EXPECT_THAT(h.sleeps, testing::ElementsAre(46'000ms)) << "until just past the reset, not the 100 ms backoff";
}

TEST(Retry, DigitalOceanResetBeyondTheWaitBudgetGivesUpWithTheResponse) {
    TestServer server;
    auto now = std::chrono::system_clock::time_point(std::chrono::seconds(1'700'000'000));
    server.route("GET", "/v2/databases", [](const ServerRequest&) {
        return text(429, R"({"message":"API rate limit exceeded."})", {{"ratelimit-reset", "1700003600"}});
    });
    Harness h;
    auto options = h.options(server);
    options.now = [now] { return now; };
    Client client(options);
    EXPECT_EQ(client.send_unchecked({.url = server.url("/v2/databases")}).status, 429);
    EXPECT_THAT(h.sleeps, IsEmpty()) << "an hour is beyond the wait budget: no sleeping in vain";
    EXPECT_EQ(server.requests().size(), 1u);
}

TEST(Errors, UnauthorizedAndForbiddenAreAuthErrorsNotRetried) {
    TestServer server;
    server.route("GET", "/private", [](const ServerRequest&) { return ServerResponse::error(401, "Bad credentials"); });
    server.route("GET", "/forbidden", [](const ServerRequest&) {
        return ServerResponse::error(403, "Resource not accessible by integration");
    });
    Harness h;
    Client client(h.options(server));
    auto e = expect_error([&] { client.send({.url = server.url("/private")}); });
    EXPECT_EQ(e.kind(), ErrorKind::auth);
    EXPECT_EQ(e.where().http_status, 401);
    EXPECT_THAT(e.what(), HasSubstr("GET failed: Bad credentials"));
    auto f = expect_error([&] { client.send({.url = server.url("/forbidden")}); });
    EXPECT_EQ(f.kind(), ErrorKind::auth);
    EXPECT_EQ(server.requests().size(), 2u);
    EXPECT_THAT(h.sleeps, IsEmpty());
}

TEST(Errors, ValidationDetailsAreQuoted) {
    TestServer server;
    auto recorded = ece::test::read_file(ece::test::fixture("real/github/rest-recordings/errors.json"));
    server.route("POST", "/labels", [](const ServerRequest&) {
        return ServerResponse::json(422, R"({"message":"Validation Failed","errors":[{"resource":"Label","code":"invalid","field":"color"}]})");
    });
    Harness h;
    Client client(h.options(server));
    auto e = expect_error([&] { client.send({.method = "POST", .url = server.url("/labels"), .body = "{}"}); });
    EXPECT_THAT(e.what(), HasSubstr("HTTP 422: POST failed: Validation Failed (Label.color: invalid)"));
    EXPECT_THAT(recorded, HasSubstr("Validation Failed")) << "the shape follows the recorded GitHub error";
    // send_unchecked hands the response back instead.
    EXPECT_EQ(client.send_unchecked({.method = "POST", .url = server.url("/labels"), .body = "{}"}).status, 422);
}

TEST(Errors, NoSecretInAnyErrorMessage) {
    clear_secrets_for_test();
    const std::string token = "ghp_SuperSecretToken0123456789abcdefABCD";
    const std::string proxy_password = "pr0xy-pa55word-xyz";
    register_secret(token);
    TestServer server;
    server.route("GET", "/private", [](const ServerRequest& r) {
        // A server that echoes the header back, as some error pages do.
        return ServerResponse::json(401, R"({"message":"Bad credentials: )" + r.header("authorization").value_or("") + "\"}");
    });
    Harness h;
    std::vector<std::string> messages;
    {
        Client client(h.options(server));
        auto e = expect_error([&] {
            client.send({.url = server.url("/private?access_token=" + token),
                         .headers = {{{"Authorization", "Bearer " + token}}}});
        });
        messages.push_back(e.what());
    }
    {
        auto options = h.options(server);
        options.proxy = "http://user:" + proxy_password + "@127.0.0.1:1";
        Client client(options);
        messages.push_back(expect_error([&] { client.send({.url = server.url("/private")}); }).what());
    }
    for (const auto& message : messages) {
        EXPECT_THAT(ece::test::find_secrets(message, {token, proxy_password}), IsEmpty()) << message;
    }
    EXPECT_THAT(messages[0], HasSubstr("access_token=***"));
    EXPECT_THAT(messages[1], HasSubstr("cannot connect to proxy 127.0.0.1:1"));
    clear_secrets_for_test();
}

TEST(Pagination, CollectsEveryPage) {
    TestServer server;
    server.route("GET", "/items", [&server](const ServerRequest& r) {
        int page = std::stoi(r.query_param("page").value_or("1"));
        auto link = [&](int n, const char* rel) {
            return "<" + server.url("/items?per_page=2&page=" + std::to_string(n)) + ">; rel=\"" + rel + "\"";
        };
        std::string header = page < 3 ? link(page + 1, "next") + ", " + link(3, "last") : link(1, "first");
        return text(200, "[" + std::to_string(page) + "]", {{"Link", header}});
    });
    Harness h;
    Client client(h.options(server));
    auto pages = client.get_all_pages({.url = server.url("/items?per_page=2")});
    ASSERT_EQ(pages.size(), 3u);
    EXPECT_EQ(pages[0].body, "[1]");
    EXPECT_EQ(pages[2].body, "[3]");
    EXPECT_EQ(server.requests()[2].target, "/items?per_page=2&page=3");
}

TEST(Timeouts, HangingServerGivesAClearError) {
    TestServer server;
    server.route("GET", "/hang", [](const ServerRequest&) {
        ServerResponse r;
        r.fault = Fault::hang;
        return r;
    });
    Harness h;
    auto options = h.options(server);
    options.read_timeout = 200ms;
    options.retry.max_attempts = 2;
    Client client(options);
    auto start = std::chrono::steady_clock::now();
    auto e = expect_error([&] { client.send({.url = server.url("/hang")}); });
    auto elapsed = std::chrono::steady_clock::now() - start;
    EXPECT_EQ(e.kind(), ErrorKind::network);
    EXPECT_EQ(std::string(e.what()),
              server.url("/hang") + ": GET failed: no response within 0.2 s (read timeout) (after 2 attempts)");
    EXPECT_LT(elapsed, 5s);  // bounded by the timeouts, not by the hour the server would hang
}

TEST(Timeouts, HandshakeWithAServerThatNeverAnswersTimesOut) {
    // A socket that listens but never accepts: the kernel completes the TCP handshake, TLS then waits forever.
    int listener = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ASSERT_EQ(::bind(listener, reinterpret_cast<sockaddr*>(&address), sizeof address), 0);
    ASSERT_EQ(::listen(listener, 4), 0);
    socklen_t length = sizeof address;
    ::getsockname(listener, reinterpret_cast<sockaddr*>(&address), &length);
    auto url = "https://127.0.0.1:" + std::to_string(ntohs(address.sin_port)) + "/";

    Harness h;
    TestServer server;
    auto options = h.options(server);
    options.connect_timeout = 200ms;
    options.retry.max_attempts = 1;
    Client client(options);
    auto start = std::chrono::steady_clock::now();
    auto e = expect_error([&] { client.send({.url = url}); });
    EXPECT_EQ(std::string(e.what()), url + ": GET failed: TLS handshake with 127.0.0.1:" +
                                         std::to_string(ntohs(address.sin_port)) + " failed: timed out");
    EXPECT_LT(std::chrono::steady_clock::now() - start, 5s);  // bounded by the timeout, not by the silent listener
    ::close(listener);
}

TEST(Timeouts, RefusedConnectionIsRetriedThenReported) {
    Harness h;
    TestServer server;
    auto url = server.url("/");
    auto options = h.options(server);
    // A port nobody listens on: take a free one and close it again.
    int probe = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ::bind(probe, reinterpret_cast<sockaddr*>(&address), sizeof address);
    socklen_t length = sizeof address;
    ::getsockname(probe, reinterpret_cast<sockaddr*>(&address), &length);
    ::close(probe);
    auto port = std::to_string(ntohs(address.sin_port));
    Client client(options);
    auto e = expect_error([&] { client.send({.method = "POST", .url = "https://127.0.0.1:" + port + "/x"}); });
    EXPECT_THAT(e.what(), HasSubstr("POST failed: cannot connect to 127.0.0.1:" + port + ": Connection refused (after 3 attempts)"));
    EXPECT_EQ(h.sleeps.size(), 2u) << "nothing was sent, so even a POST is retried";
}

TEST(Bodies, CutBodyIsRetriedAndTheFileStartsOver) {
    TestServer server;
    std::string big(3 << 20, 'z');
    for (std::size_t i = 0; i < big.size(); i += 997) big[i] = static_cast<char>('a' + i % 26);
    ServerResponse cut = text(200, big);
    cut.fault = Fault::cut_body;
    server.enqueue("GET", "/artifact.zip", {cut});
    server.route("GET", "/artifact.zip", [&big](const ServerRequest&) { return text(200, big); });
    Harness h;
    Client client(h.options(server));
    ece::test::TempDir dir;
    auto response = client.download_to_file({.url = server.url("/artifact.zip")}, dir / "a.zip");
    EXPECT_EQ(response.status, 200);
    EXPECT_TRUE(response.body.empty());
    EXPECT_EQ(ece::test::read_file(dir / "a.zip"), big);
    EXPECT_EQ(server.requests().size(), 2u);

    std::size_t streamed = 0;
    client.send_to({.url = server.url("/artifact.zip")}, {[&](std::string_view piece) { streamed += piece.size(); }});
    EXPECT_EQ(streamed, big.size());
}

TEST(Bodies, CutBodyWithoutRetriesIsAClearError) {
    TestServer server;
    ServerResponse cut = text(200, std::string(100000, 'x'));
    cut.fault = Fault::cut_body;
    server.route("GET", "/cut", [cut](const ServerRequest&) { return cut; });
    Harness h;
    auto options = h.options(server);
    options.retry.max_attempts = 1;
    auto e = expect_error([&] { Client(options).send({.url = server.url("/cut")}); });
    EXPECT_THAT(e.what(), HasSubstr("response body cut off after"));
}

TEST(Retry, PostIsNotRepeatedOnceSent) {
    TestServer server;
    server.route("POST", "/create", [](const ServerRequest&) {
        ServerResponse r;
        r.fault = Fault::close_connection;
        return r;
    });
    Harness h;
    Client client(h.options(server));
    auto e = expect_error([&] { client.send({.method = "POST", .url = server.url("/create"), .body = "{}"}); });
    EXPECT_EQ(server.requests().size(), 1u) << "the server may have acted on it";
    EXPECT_THAT(e.what(), HasSubstr("POST failed"));
}

TEST(Redirects, AuthorizationStaysWithItsOrigin) {
    TestServer server;
    server.route("GET", "/download", [&server](const ServerRequest&) {
        return text(302, "", {{"Location", server.localhost_url("/blob?sig=s3cr3t")}});
    });
    server.route("GET", "/blob", [](const ServerRequest&) { return text(200, "blob"); });
    Harness h;
    Client client(h.options(server));
    auto response = client.send({.url = server.url("/download"), .headers = {{{"Authorization", "Bearer t0ken"}}}});
    EXPECT_EQ(response.body, "blob");
    EXPECT_EQ(response.url, server.localhost_url("/blob?sig=s3cr3t"));
    auto log = server.requests();
    ASSERT_EQ(log.size(), 2u);
    EXPECT_EQ(log[0].header("authorization"), "Bearer t0ken");
    EXPECT_EQ(log[1].header("authorization"), std::nullopt);
}

TEST(Proxy, TunnelsThroughConnect) {
    TestServer server;
    server.route("GET", "/via", [](const ServerRequest&) { return text(200, "tunnelled"); });
    ece::test::ConnectProxy proxy;
    Harness h;
    auto options = h.options(server);
    options.proxy = proxy.url();
    Client client(options);
    EXPECT_EQ(client.send({.url = server.url("/via")}).body, "tunnelled");
    EXPECT_EQ(client.send({.url = server.url("/via")}).body, "tunnelled");
    EXPECT_THAT(proxy.connect_targets(), testing::ElementsAre("127.0.0.1:" + std::to_string(server.port())));

    options.no_proxy = "localhost,127.0.0.1";
    Client direct(options);
    EXPECT_EQ(direct.send({.url = server.url("/via")}).body, "tunnelled");
    EXPECT_EQ(proxy.connect_targets().size(), 1u);

    options.no_proxy = "example.org 127.0.0.0/8";
    Client direct_by_range(options);
    EXPECT_EQ(direct_by_range.send({.url = server.url("/via")}).body, "tunnelled");
    EXPECT_EQ(proxy.connect_targets().size(), 1u) << "127.0.0.1 is in 127.0.0.0/8: no CONNECT";
}

TEST(Proxy, FromTheEnvironmentWithCredentials) {
    TestServer server;
    server.route("GET", "/via", [](const ServerRequest&) { return text(200, "ok"); });
    ece::test::ConnectProxy proxy("Basic dXNlcjpwYXNzd29yZA==");  // user:password
    Harness h;
    auto options = h.options(server);
    options.proxy_from_environment = true;
    auto with_credentials = "http://user:password@" + proxy.url().substr(7);
    ::setenv("HTTPS_PROXY", with_credentials.c_str(), 1);
    ::unsetenv("NO_PROXY");
    ::unsetenv("no_proxy");
    Client client(options);
    ::setenv("HTTPS_PROXY", (proxy.url()).c_str(), 1);
    Client anonymous(options);
    ::unsetenv("HTTPS_PROXY");
    EXPECT_EQ(client.send({.url = server.url("/via")}).body, "ok");
    auto e = expect_error([&] { anonymous.send({.url = server.url("/via")}); });
    EXPECT_EQ(e.kind(), ErrorKind::auth);
    EXPECT_EQ(e.where().http_status, 407);
    EXPECT_THAT(e.what(), HasSubstr("proxy refused CONNECT with 407"));
}

}  // namespace
}  // namespace ece::http
