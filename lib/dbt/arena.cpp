#include "dbt/arena.hpp"

#include <sys/mman.h>

#include <cstring>
#include <new>

namespace ece::dbt {

Arena::Block Arena::allocate(std::size_t size, bool huge) {
    void* p = huge ? std::aligned_alloc(block_size, block_size) : std::malloc(size);
    if (!p) throw std::bad_alloc();
#ifdef MADV_HUGEPAGE
    // Only a hint: with transparent huge pages off the block is ordinary memory.
    if (huge) ::madvise(p, block_size, MADV_HUGEPAGE);
#endif
    return Block(static_cast<char*>(p));
}

std::string_view Arena::store(std::string_view text) {
    if (text.empty()) return std::string_view("", 0);
    if (text.size() > left_) {
        // Large strings get a block of their own so the current block's tail is not wasted.
        if (text.size() > block_size / 4) {
            blocks_.push_back(allocate(text.size(), false));
            reserved_ += text.size();
            std::memcpy(blocks_.back().get(), text.data(), text.size());
            return {blocks_.back().get(), text.size()};
        }
        blocks_.push_back(allocate(block_size, true));
        reserved_ += block_size;
        cursor_ = blocks_.back().get();
        left_ = block_size;
    }
    std::memcpy(cursor_, text.data(), text.size());
    std::string_view stored(cursor_, text.size());
    cursor_ += text.size();
    left_ -= text.size();
    return stored;
}

}  // namespace ece::dbt
