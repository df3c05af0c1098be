#pragma once
// Shared set-up of the DigitalOcean tests: a fake clock (sleeping advances it, nothing really waits), the fake API,
// an Api talking to it, and a check after every test that each request sent fits DigitalOcean's API description.
#include "digitalocean/api.hpp"
#include "fake_digitalocean.hpp"
#include "openapi.hpp"
#include "support.hpp"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <memory>
#include <mutex>
#include <vector>

namespace ece::test {

class FakeClock {
public:
    // 2026-11-21T00:00:00Z
    FakeClock() : ms_(std::int64_t{1'795'219'200} * 1000) {}

    std::chrono::system_clock::time_point now() const {
        return std::chrono::system_clock::time_point(std::chrono::milliseconds(ms_.load()));
    }
    void sleep(std::chrono::milliseconds ms) {
        ms_ += ms.count();
        std::lock_guard lock(mutex_);
        sleeps_.push_back(ms);
    }
    std::vector<std::chrono::milliseconds> sleeps() const {
        std::lock_guard lock(mutex_);
        return sleeps_;
    }
    long long epoch_seconds() const { return ms_.load() / 1000; }

    digitalocean::Clock clock() {
        return {[this] { return now(); }, [this](std::chrono::milliseconds ms) { sleep(ms); }};
    }

private:
    std::atomic<std::int64_t> ms_;
    mutable std::mutex mutex_;
    std::vector<std::chrono::milliseconds> sleeps_;
};

class DigitalOceanTest : public testing::Test {
protected:
    static void SetUpTestSuite() {
        spec_dir_ = std::make_unique<TempDir>();
        spec_ = std::make_unique<OpenApiSpec>(OpenApiSpec::digitalocean(spec_dir_->path()));
    }
    static void TearDownTestSuite() {
        spec_.reset();
        spec_dir_.reset();
    }

    void SetUp() override {
        FakeDigitalOceanOptions options;
        options.now = [this] { return clock_.now(); };
        cloud_ = std::make_unique<FakeDigitalOcean>(options);
    }

    // Every request any test sent must fit the description: method + path template, query, body schema.
    void TearDown() override {
        for (const auto& request : cloud_->server().requests()) {
            for (const auto& problem : spec_->check_request(request.method, request.target, request.body)) {
                ADD_FAILURE() << "request departs from DigitalOcean's API description: " << problem;
            }
        }
    }

    digitalocean::ApiOptions api_options(const std::string& token = {}) {
        digitalocean::ApiOptions options;
        options.base_url = cloud_->api_url();
        options.token = token.empty() ? cloud_->token() : token;
        options.http.ca_file = cloud_->ca_file();
        options.http.proxy_from_environment = false;
        options.http.jitter = [] { return 0.5; };
        options.clock = clock_.clock();
        return options;
    }

    std::vector<ServerRequest> requests(const std::string& method, const std::string& path_template) const {
        std::vector<ServerRequest> out;
        for (auto& r : cloud_->server().requests()) {
            if (r.method == method && spec_->path_template(r.method, r.path) == path_template) out.push_back(r);
        }
        return out;
    }

    FakeClock clock_;
    std::unique_ptr<FakeDigitalOcean> cloud_;
    static inline std::unique_ptr<TempDir> spec_dir_;
    static inline std::unique_ptr<OpenApiSpec> spec_;
};

}  // namespace ece::test
