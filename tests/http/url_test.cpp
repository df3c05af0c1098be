#include "http/client.hpp"
#include "http/url.hpp"

#include "core/error.hpp"

#include <gtest/gtest.h>

namespace ece::http {
namespace {

using namespace std::chrono_literals;

TEST(Url, ParsesPartsAndDefaultPorts) {
    auto url = Url::parse("https://api.github.com/repos/o/r/issues?per_page=100");
    EXPECT_EQ(url.scheme, "https");
    EXPECT_EQ(url.host, "api.github.com");
    EXPECT_EQ(url.port, "443");
    EXPECT_EQ(url.target, "/repos/o/r/issues?per_page=100");
    EXPECT_EQ(url.str(), "https://api.github.com/repos/o/r/issues?per_page=100");
    auto local = Url::parse("HTTP://User:Pw@127.0.0.1:8080");
    EXPECT_EQ(local.scheme, "http");
    EXPECT_EQ(local.userinfo, "User:Pw");
    EXPECT_EQ(local.port, "8080");
    EXPECT_EQ(local.target, "/");
    EXPECT_EQ(local.authority(), "127.0.0.1:8080");
    EXPECT_TRUE(local.host_is_ip_address());
    EXPECT_EQ(Url::parse("https://[::1]:9/x").authority(), "[::1]:9");
}

TEST(Url, RejectsWhatIsNotHttp) {
    EXPECT_THROW(Url::parse("ftp://example.com/"), Error);
    EXPECT_THROW(Url::parse("example.com/x"), Error);
    EXPECT_THROW(Url::parse("https://host:port/"), Error);
    try {
        Url::parse("ftp://user:hunter2secret@example.com/");
        FAIL();
    } catch (const Error& e) {
        EXPECT_EQ(std::string(e.what()).find("hunter2secret"), std::string::npos) << e.what();
    }
}

TEST(Url, RedactsCredentialsAndSignatures) {
    auto url = Url::parse("https://me:pass@blob.example/a.zip?sig=abc123&se=2024&X-Amz-Signature=zz&page=2");
    EXPECT_EQ(url.redacted(), "https://blob.example/a.zip?sig=***&se=2024&X-Amz-Signature=***&page=2");
    EXPECT_EQ(redact_url("http://u:p@proxy:3128"), "http://proxy:3128");
}

TEST(Url, PercentEncodesQueryValues) {
    EXPECT_EQ(percent_encode("feature/x y&z"), "feature%2Fx%20y%26z");
    EXPECT_EQ(percent_encode("a-b_c.d~"), "a-b_c.d~");
}

TEST(Link, FindsRelations) {
    std::string header =
        "<https://api.github.com/repositories/1000/issues?per_page=3&page=1>; rel=\"prev\", "
        "<https://api.github.com/repositories/1000/issues?per_page=3&page=3>; rel=\"next\", "
        "<https://api.github.com/repositories/1000/issues?per_page=3&page=5>; rel=\"last\"";
    EXPECT_EQ(link_relation(header, "next"), "https://api.github.com/repositories/1000/issues?per_page=3&page=3");
    EXPECT_EQ(link_relation(header, "last"), "https://api.github.com/repositories/1000/issues?per_page=3&page=5");
    EXPECT_EQ(link_relation(header, "first"), std::nullopt);
    EXPECT_EQ(link_relation("", "next"), std::nullopt);
}

TEST(Proxy, HonoursNoProxy) {
    auto github = Url::parse("https://api.github.com/");
    EXPECT_EQ(choose_proxy(github, "proxy:3128", ""), "http://proxy:3128");
    EXPECT_EQ(choose_proxy(github, "http://proxy:3128", "localhost, .github.com"), "");
    EXPECT_EQ(choose_proxy(github, "http://proxy:3128", "github.com"), "");
    EXPECT_EQ(choose_proxy(github, "http://proxy:3128", "notgithub.com,example.org"), "http://proxy:3128");
    EXPECT_EQ(choose_proxy(github, "http://proxy:3128", "*"), "");
    EXPECT_EQ(choose_proxy(Url::parse("https://127.0.0.1:8443/"), "http://p:1", "127.0.0.1:8443"), "");
    EXPECT_EQ(choose_proxy(Url::parse("http://127.0.0.1/"), "http://p:1", ""), "") << "only https goes through it";
}

TEST(Proxy, NoProxyFollowsCurlsRules) {
    EXPECT_TRUE(no_proxy_matches("10.1.2.3", "example.org, 10.0.0.0/8"));
    EXPECT_FALSE(no_proxy_matches("11.1.2.3", "10.0.0.0/8"));
    EXPECT_TRUE(no_proxy_matches("192.168.7.200", "192.168.7.128/25"));
    EXPECT_FALSE(no_proxy_matches("192.168.7.100", "192.168.7.128/25"));
    EXPECT_TRUE(no_proxy_matches("203.0.113.9", "0.0.0.0/0"));
    EXPECT_FALSE(no_proxy_matches("10.1.2.3", "10.0.0.0/33")) << "a prefix longer than the address matches nothing";
    EXPECT_FALSE(no_proxy_matches("internal.example", "10.0.0.0/8")) << "a range never matches a name";
    EXPECT_TRUE(no_proxy_matches("::1", "::1"));
    EXPECT_TRUE(no_proxy_matches("::1", "[::1]:8443"));
    EXPECT_TRUE(no_proxy_matches("0:0:0:0:0:0:0:1", "::1")) << "addresses compare as addresses, not text";
    EXPECT_TRUE(no_proxy_matches("fd12:3456::7", "fd00::/8"));
    EXPECT_FALSE(no_proxy_matches("fe80::1", "fd00::/8"));
    EXPECT_FALSE(no_proxy_matches("10.0.0.1", "::/0")) << "IPv4 is not in an IPv6 range";
    EXPECT_TRUE(no_proxy_matches("db.internal.example", ".internal.example"));
    EXPECT_TRUE(no_proxy_matches("internal.example", ".internal.example")) << "curl: the dot is ignored";
    EXPECT_FALSE(no_proxy_matches("notinternal.example", "internal.example"));
    EXPECT_TRUE(no_proxy_matches("API.GitHub.com", "github.com")) << "names compare case-insensitively";
    EXPECT_TRUE(no_proxy_matches("anything", "*"));
    EXPECT_TRUE(no_proxy_matches("b.example", "a.example b.example")) << "spaces separate entries too";
    EXPECT_FALSE(no_proxy_matches("127.0.0.2", "127.0.0.1"));
    EXPECT_FALSE(no_proxy_matches("example.org", ""));
}

Response with(int status, std::vector<std::pair<std::string, std::string>> headers, std::string body = "") {
    Response r;
    r.status = status;
    r.headers.fields = std::move(headers);
    r.body = std::move(body);
    return r;
}

TEST(Retry, WhichStatusesAreRetried) {
    EXPECT_TRUE(retryable_status(with(502, {})));
    EXPECT_TRUE(retryable_status(with(503, {})));
    EXPECT_TRUE(retryable_status(with(429, {})));
    EXPECT_FALSE(retryable_status(with(501, {})));
    EXPECT_FALSE(retryable_status(with(404, {})));
    EXPECT_FALSE(retryable_status(with(403, {}, R"({"message":"Resource not accessible by integration"})")));
    EXPECT_TRUE(retryable_status(with(403, {{"Retry-After", "60"}})));
    EXPECT_TRUE(retryable_status(with(403, {{"X-RateLimit-Remaining", "0"}})));
    EXPECT_TRUE(retryable_status(
        with(403, {}, R"({"message":"You have exceeded a secondary rate limit. Please wait a few minutes."})")));
}

TEST(Retry, RequestedWaitFromRetryAfterOrReset) {
    auto now = std::chrono::system_clock::time_point(std::chrono::seconds(1'700'000'000));
    EXPECT_EQ(requested_wait(with(429, {{"retry-after", "7"}}), now), 7000ms);
    EXPECT_EQ(requested_wait(with(429, {{"retry-after", "Tue, 14 Nov 2023 22:13:30 GMT"}}), now), 10'000ms);
    EXPECT_EQ(requested_wait(with(403, {{"x-ratelimit-remaining", "0"}, {"x-ratelimit-reset", "1700000042"}}), now),
              43'000ms);
    EXPECT_EQ(requested_wait(with(403, {{"x-ratelimit-remaining", "12"}, {"x-ratelimit-reset", "1700000042"}}), now),
              std::nullopt);
    EXPECT_EQ(requested_wait(with(503, {}), now), std::nullopt);
}

TEST(Retry, RequestedWaitFromDigitalOceansRatelimitReset) {
    auto now = std::chrono::system_clock::time_point(std::chrono::seconds(1'700'000'000));
    // DigitalOcean: no x- prefix; a 429 names its reset whatever the remaining count says.
    EXPECT_EQ(requested_wait(with(429, {{"ratelimit-remaining", "3"}, {"ratelimit-reset", "1700000030"}}), now),
              31'000ms);
    EXPECT_EQ(requested_wait(with(503, {{"ratelimit-remaining", "0"}, {"ratelimit-reset", "1700000030"}}), now),
              31'000ms);
    EXPECT_EQ(requested_wait(with(503, {{"ratelimit-remaining", "4000"}, {"ratelimit-reset", "1700000030"}}), now),
              std::nullopt) << "a window with room left is not why the request failed";
    EXPECT_EQ(requested_wait(with(429, {{"ratelimit-reset", "1699999000"}}), now), 1000ms) << "a reset in the past";
    EXPECT_EQ(requested_wait(with(429, {{"ratelimit-reset", "20"}}), now), 21'000ms) << "seconds from now";
    EXPECT_EQ(requested_wait(with(429, {{"x-ratelimit-reset", "1700000005"}}), now), 6000ms);
    EXPECT_EQ(requested_wait(with(429, {{"retry-after", "2"}, {"ratelimit-reset", "1700000030"}}), now), 2000ms)
        << "Retry-After comes first";
}

}  // namespace
}  // namespace ece::http
