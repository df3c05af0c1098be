#include "stage/csv_parser.hpp"

#include <cstring>
#include <limits>

#include "core/error.hpp"

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

namespace ece::stage::detail {
namespace {

constexpr std::size_t npos = std::numeric_limits<std::size_t>::max();

// Finds, 64 bytes at a time, the bytes the state machine must look at: delimiter, quote, escape, CR, LF, and
// (when checking UTF-8) NUL and every non-ASCII byte. Everything else is field content and is skipped.
class SpecialBytes {
public:
    SpecialBytes(const CsvOptions& csv, bool check_utf8) : check_utf8_(check_utf8) {
#if defined(__SSE2__)
        delimiter_ = _mm_set1_epi8(csv.delimiter);
        quote_ = _mm_set1_epi8(csv.quote);
        escape_ = _mm_set1_epi8(csv.escape);
        lf_ = _mm_set1_epi8('\n');
        cr_ = _mm_set1_epi8('\r');
#endif
        for (char c : {csv.delimiter, csv.quote, csv.escape, '\n', '\r'}) table_[static_cast<unsigned char>(c)] = true;
        if (check_utf8) {
            table_[0] = true;
            for (int c = 0x80; c < 0x100; ++c) table_[c] = true;
        }
    }

    std::uint64_t mask(const char* p) const {
#if defined(__SSE2__)
        std::uint64_t out = 0;
        for (int k = 0; k < 4; ++k) {
            __m128i v = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p + 16 * k));
            __m128i hit = _mm_or_si128(_mm_or_si128(_mm_cmpeq_epi8(v, delimiter_), _mm_cmpeq_epi8(v, quote_)),
                                       _mm_or_si128(_mm_cmpeq_epi8(v, lf_), _mm_cmpeq_epi8(v, cr_)));
            hit = _mm_or_si128(hit, _mm_cmpeq_epi8(v, escape_));
            if (check_utf8_) hit = _mm_or_si128(hit, _mm_or_si128(v, _mm_cmpeq_epi8(v, _mm_setzero_si128())));
            out |= static_cast<std::uint64_t>(static_cast<std::uint32_t>(_mm_movemask_epi8(hit))) << (16 * k);
        }
        return out;
#else
        std::uint64_t out = 0;
        for (int k = 0; k < 64; ++k)
            if (table_[static_cast<unsigned char>(p[k])]) out |= 1ull << k;
        return out;
#endif
    }

private:
    bool check_utf8_;
    bool table_[256] = {};
#if defined(__SSE2__)
    __m128i delimiter_, quote_, escape_, lf_, cr_;
#endif
};

// Length of the UTF-8 sequence at p (available bytes), 0 when invalid, -1 when cut off by the end.
int utf8_sequence_length(const unsigned char* p, std::size_t available) {
    unsigned char c = p[0];
    if (c == 0) return 0;
    if (c < 0x80) return 1;
    int length;
    unsigned char lo = 0x80, hi = 0xBF;
    if (c >= 0xC2 && c <= 0xDF) length = 2;
    else if (c == 0xE0) length = 3, lo = 0xA0;
    else if (c >= 0xE1 && c <= 0xEC) length = 3;
    else if (c == 0xED) length = 3, hi = 0x9F;
    else if (c >= 0xEE && c <= 0xEF) length = 3;
    else if (c == 0xF0) length = 4, lo = 0x90;
    else if (c >= 0xF1 && c <= 0xF3) length = 4;
    else if (c == 0xF4) length = 4, hi = 0x8F;
    else return 0;
    for (int k = 1; k < length; ++k) {
        if (static_cast<std::size_t>(k) >= available) return -1;
        unsigned char b = p[k];
        if (b < (k == 1 ? lo : 0x80) || b > (k == 1 ? hi : 0xBF)) return 0;
    }
    return length;
}

std::string hex_bytes(const unsigned char* p, std::size_t available) {
    static const char* digits = "0123456789abcdef";
    std::string out = "0x";
    for (std::size_t k = 0; k < available && k < 4; ++k) {
        if (k > 0 && p[k] < 0x80) break;
        if (k > 0) out += " 0x";
        out += digits[p[k] >> 4];
        out += digits[p[k] & 15];
        if (p[0] == 0) break;
    }
    return out;
}

std::string unescape_quoted(std::string_view raw, char quote, char escape) {
    std::string out;
    for (std::size_t i = 0; i < raw.size(); ++i) {
        if (raw[i] == escape && i + 1 < raw.size() && (raw[i + 1] == quote || raw[i + 1] == escape)) ++i;
        out += raw[i];
    }
    return out;
}

}  // namespace

CsvParser::CsvParser(Settings settings)
    : s_(std::move(settings)), line_(s_.first_line), in_header_(s_.csv.header && !s_.data_only) {
    discovering_ = !s_.csv.header && !s_.data_only;
    current_.first_line = s_.first_line;
}

void CsvParser::add_column(std::string name) {
    auto declared = s_.declared.find(name);
    is_declared_.push_back(declared != s_.declared.end());
    checks_.push_back(declared != s_.declared.end() ? declared_check(declared->second) : DeclaredCheck{});
    candidates_.push_back(all_types);
    names_.push_back(std::move(name));
}

void CsvParser::forget_columns() {
    names_.clear();
    candidates_.clear();
    checks_.clear();
    is_declared_.clear();
}

void CsvParser::fail(std::uint64_t line, const std::string& message, std::size_t column) const {
    std::string field;
    if (column < names_.size()) field = "column " + names_[column];
    throw Error(ErrorKind::input, message, {.file = s_.file, .line = line, .field = field});
}

void CsvParser::take_header_field(std::string_view raw, bool quoted, std::uint64_t line) {
    std::string name = quoted ? unescape_quoted(raw, s_.csv.quote, s_.csv.escape) : std::string(raw);
    if (name.empty()) fail(line, "header: column " + std::to_string(names_.size() + 1) + " has no name");
    for (const auto& existing : names_)
        if (existing == name) fail(line, "header: column \"" + name + "\" appears twice");
    add_column(std::move(name));
}

void CsvParser::end_field(const char* begin, const char* end, bool quoted, bool plain, std::uint64_t line) {
    std::size_t index = field_index_++;
    std::string_view value(begin, static_cast<std::size_t>(end - begin));
    if (in_header_ || discovering_) [[unlikely]] {
        if (in_header_) return take_header_field(value, quoted, line);
        add_column("column" + std::to_string(index + 1));
    }
    if (!s_.infer || index >= names_.size()) [[unlikely]] return;  // extra fields are reported at the record's end
    if (!quoted && value.size() == s_.csv.null_string.size() && value == s_.csv.null_string) return;
    if (is_declared_[index]) [[unlikely]] {
        const DeclaredCheck& check = checks_[index];
        if (check.type == type_text || (plain && passes(check, value))) return;
        std::string shown = quoted ? unescape_quoted(value, s_.csv.quote, s_.csv.escape) : std::string(value);
        bool integer_syntax = check.type == type_bigint && plain && (fitting_types(value, type_bigint) & type_bigint);
        fail(line,
             integer_syntax ? "value \"" + shown + "\" is out of range for type " + check.name
                            : "invalid input syntax for type " + check.name + ": \"" + shown + "\"",
             index);
    }
    TypeSet& candidates = candidates_[index];
    if (candidates == type_text) return;
    candidates = plain ? fitting_types(value, candidates) : TypeSet{type_text};
}

void CsvParser::end_record(std::uint64_t end_offset, std::uint64_t record_line, std::uint64_t next_line) {
    std::size_t fields = field_index_;
    field_index_ = 0;
    if (in_header_) {
        in_header_ = false;
        for (const auto& [name, type] : s_.declared) {
            bool found = false;
            for (const auto& n : names_) found = found || n == name;
            if (!found) fail(record_line, "header: declared column \"" + name + "\" is not in the file");
        }
        current_ = Chunk{.offset = end_offset, .first_line = next_line};
        return;
    }
    if (discovering_) discovering_ = false;
    if (s_.infer && fields != names_.size()) {
        fail(record_line, "expected " + std::to_string(names_.size()) + " columns, found " + std::to_string(fields));
    }
    ++records_;
    data_end_ = end_offset;
    if (end_offset - current_.offset >= s_.chunk_bytes) {
        current_.bytes = end_offset - current_.offset;
        current_.records = records_ - current_.first_record;
        current_.lines = next_line - current_.first_line;
        chunks_.push_back(current_);
        current_ = Chunk{.offset = end_offset, .first_line = next_line, .first_record = records_};
    }
}

std::size_t CsvParser::parse(const char* data, std::size_t size, bool at_end) {
    const SpecialBytes special(s_.csv, s_.check_utf8);
    const char delimiter = s_.csv.delimiter, quote = s_.csv.quote, escape = s_.csv.escape;

    std::size_t record_start = 0, field_start = 0;
    std::uint64_t record_line = line_, quote_line = line_;
    bool in_quotes = false, quoted = false, plain = true;
    std::size_t close_quote = npos, skip_until = 0;

    auto finish_field = [&](std::size_t end) {
        if (quoted) {
            if (close_quote + 1 != end) fail(line_, "unexpected character after a closing quote", field_index_);
            end_field(data + field_start + 1, data + close_quote, true, plain, record_line);
        } else {
            end_field(data + field_start, data + end, false, true, record_line);
        }
        quoted = false;
        plain = true;
    };

    for (std::size_t block = 0; block < size; block += 64) {
        std::uint64_t bits = special.mask(data + block);
        if (size - block < 64) bits &= (1ull << (size - block)) - 1;
        while (bits) {
            std::size_t i = block + static_cast<std::size_t>(__builtin_ctzll(bits));
            bits &= bits - 1;
            if (i < skip_until) continue;
            const unsigned char c = static_cast<unsigned char>(data[i]);
            if (c >= 0x80 || c == 0) {
                auto p = reinterpret_cast<const unsigned char*>(data + i);
                int length = utf8_sequence_length(p, size - i);
                if (length < 0 && !at_end) goto incomplete;
                if (length <= 0) {
                    fail(line_, "invalid byte sequence for encoding \"UTF8\": " + hex_bytes(p, size - i),
                         field_index_);
                }
                skip_until = i + static_cast<std::size_t>(length);
                continue;
            }
            if (in_quotes) {
                if (c == '\n') {
                    ++line_;
                    plain = false;
                } else if (c == '\r') {
                    plain = false;
                } else if (c == static_cast<unsigned char>(escape) && escape != quote) {
                    if (i + 1 >= size) {
                        if (!at_end) goto incomplete;
                        break;  // reported as unterminated below
                    }
                    if (data[i + 1] == quote || data[i + 1] == escape) {
                        plain = false;
                        skip_until = i + 2;
                    }
                } else if (c == static_cast<unsigned char>(quote)) {
                    if (escape == quote) {
                        if (i + 1 >= size) {
                            if (!at_end) goto incomplete;
                        } else if (data[i + 1] == quote) {
                            plain = false;
                            skip_until = i + 2;
                            continue;
                        }
                    }
                    in_quotes = false;
                    close_quote = i;
                }
                continue;
            }
            if (c == static_cast<unsigned char>(delimiter)) {
                finish_field(i);
                field_start = i + 1;
            } else if (c == '\n') {
                std::size_t end = (i > field_start && data[i - 1] == '\r') ? i - 1 : i;
                finish_field(end);
                ++line_;
                end_record(consumed_ + i + 1, record_line, line_);
                field_start = record_start = i + 1;
                record_line = line_;
            } else if (c == '\r') {
                if (i + 1 >= size) {
                    if (!at_end) goto incomplete;
                } else if (data[i + 1] != '\n') {
                    fail(line_, "carriage return inside an unquoted field (quote the field)", field_index_);
                }
            } else if (c == static_cast<unsigned char>(quote)) {
                if (i != field_start) fail(line_, "quote inside an unquoted field", field_index_);
                in_quotes = quoted = true;
                quote_line = line_;
            }
        }
    }
    if (!at_end) goto incomplete;
    if (in_quotes) fail(quote_line, "unterminated quoted field", field_index_);
    if (record_start < size) {  // the last record has no line break
        std::size_t end = (!quoted && data[size - 1] == '\r') ? size - 1 : size;
        finish_field(end);
        end_record(consumed_ + size, record_line, line_ + 1);
        ++line_;  // so that lines = line_ - 1 holds with or without a final line break
    } else if (in_header_) {
        fail(line_, "no header line");
    }
    consumed_ += size;
    return size;

incomplete:
    line_ = record_line;
    field_index_ = 0;
    if (in_header_ || discovering_) forget_columns();
    consumed_ += record_start;
    return record_start;
}

void CsvParser::finish(ScanResult& result) {
    if (records_ > current_.first_record) {
        current_.bytes = data_end_ - current_.offset;
        current_.records = records_ - current_.first_record;
        current_.lines = line_ - current_.first_line;
        chunks_.push_back(current_);
    }
    result.rows = records_;
    result.lines = line_ - 1;
    result.data_bytes = consumed_;
    result.chunks = chunks_;
    result.columns = columns();
}

std::vector<Column> CsvParser::columns() const {
    std::vector<Column> out;
    if (in_header_ || discovering_) return out;
    for (std::size_t k = 0; k < names_.size(); ++k) {
        Column column{.name = names_[k], .sql_type = {}};
        if (is_declared_[k]) {
            column.sql_type = s_.declared.at(names_[k]);
            column.declared = true;
        } else {
            // A column with only NULLs (or no rows) has nothing to narrow it: text.
            TypeSet set = candidates_[k] == all_types ? TypeSet{type_text} : candidates_[k];
            column.sql_type = sql_type_name(narrowest(set));
        }
        out.push_back(std::move(column));
    }
    return out;
}

}  // namespace ece::stage::detail
