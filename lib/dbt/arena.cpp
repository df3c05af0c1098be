#include "dbt/arena.hpp"

#include <cstring>

namespace ece::dbt {

std::string_view Arena::store(std::string_view text) {
    if (text.empty()) return std::string_view("", 0);
    if (text.size() > left_) {
        // Large strings get a block of their own so the current block's tail is not wasted.
        if (text.size() > block_size / 4) {
            blocks_.emplace_back(new char[text.size()]);
            reserved_ += text.size();
            std::memcpy(blocks_.back().get(), text.data(), text.size());
            return {blocks_.back().get(), text.size()};
        }
        blocks_.emplace_back(new char[block_size]);
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
