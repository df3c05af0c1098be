#pragma once
// A grow-only store for the strings a manifest keeps: one allocation per megabyte instead of one per string,
// so loading 100k nodes stays fast and the memory overhead per string is zero.
#include <cstddef>
#include <memory>
#include <string_view>
#include <vector>

namespace ece::dbt {

class Arena {
public:
    Arena() = default;
    Arena(const Arena&) = delete;
    Arena& operator=(const Arena&) = delete;
    Arena(Arena&&) noexcept = default;
    Arena& operator=(Arena&&) noexcept = default;

    // Copies text into the arena; the view stays valid as long as the arena lives.
    std::string_view store(std::string_view text);
    // Bytes held in blocks (for the benchmark's accounting).
    std::size_t bytes_reserved() const noexcept { return reserved_; }

private:
    static constexpr std::size_t block_size = 1 << 20;
    std::vector<std::unique_ptr<char[]>> blocks_;
    char* cursor_ = nullptr;
    std::size_t left_ = 0;
    std::size_t reserved_ = 0;
};

}  // namespace ece::dbt
