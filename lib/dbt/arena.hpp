#pragma once
// A grow-only store for the strings a manifest keeps: one allocation per block instead of one per string,
// so loading 100k nodes stays fast and the memory overhead per string is zero.
#include <cstddef>
#include <cstdlib>
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

    // One block: a transparent huge page where the kernel allows it (one page fault instead of 512).
    static constexpr std::size_t block_size = std::size_t(2) << 20;

private:
    struct Free {
        void operator()(char* p) const noexcept { std::free(p); }
    };
    using Block = std::unique_ptr<char, Free>;
    static Block allocate(std::size_t size, bool huge);

    std::vector<Block> blocks_;
    char* cursor_ = nullptr;
    std::size_t left_ = 0;
    std::size_t reserved_ = 0;
};

}  // namespace ece::dbt
