#include "stage/binary.hpp"

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <functional>

#include "core/error.hpp"
#include "stage/source.hpp"

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

namespace ece::stage::detail {
namespace {

// Where the unquoted field starting at p[i] ends: the first delimiter or line feed in p[i, n), else n. Sixteen
// bytes at a time: most fields are shorter, so one comparison finds the end.
std::size_t unquoted_field_end(const char* p, std::size_t i, std::size_t n, char delimiter) {
#if defined(__SSE2__)
    const __m128i delimiters = _mm_set1_epi8(delimiter), line_feeds = _mm_set1_epi8('\n');
    for (; i + 16 <= n; i += 16) {
        __m128i v = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p + i));
        auto hits = static_cast<unsigned>(
            _mm_movemask_epi8(_mm_or_si128(_mm_cmpeq_epi8(v, delimiters), _mm_cmpeq_epi8(v, line_feeds))));
        if (hits != 0) return i + static_cast<std::size_t>(__builtin_ctz(hits));
    }
#endif
    while (i < n && p[i] != delimiter && p[i] != '\n') ++i;
    return i;
}

// "PGCOPY\n\377\r\n\0", flags, header extension length.
constexpr char copy_signature[] = {'P', 'G', 'C', 'O', 'P', 'Y', '\n', '\377', '\r', '\n', '\0'};

bool is_digit(char c) { return c >= '0' && c <= '9'; }

std::string lowered(std::string text) {
    for (char& c : text) c = (c >= 'A' && c <= 'Z') ? static_cast<char>(c + 32) : c;
    while (!text.empty() && text.back() == ' ') text.pop_back();
    return text;
}

// Days from 1970-01-01 (proleptic Gregorian), H. Hinnant's days_from_civil.
std::int64_t days_from_civil(std::int64_t y, unsigned m, unsigned d) {
    y -= m <= 2;
    const std::int64_t era = (y >= 0 ? y : y - 399) / 400;
    const unsigned yoe = static_cast<unsigned>(y - era * 400);
    const unsigned doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + static_cast<std::int64_t>(doe) - 719468;
}
constexpr std::int64_t postgres_epoch_days = 10957;  // 2000-01-01

int digits_value(const char* p, int n) {
    int v = 0;
    for (int i = 0; i < n; ++i) {
        if (!is_digit(p[i])) return -1;
        v = v * 10 + (p[i] - '0');
    }
    return v;
}

}  // namespace

void CopyBuffer::grow(std::size_t more) {
    std::size_t capacity = std::max({capacity_ * 2, used_ + more, std::size_t{1} << 16});
    auto bytes = std::make_unique_for_overwrite<char[]>(capacity);
    if (used_ > 0) std::memcpy(bytes.get(), bytes_.get(), used_);
    bytes_ = std::move(bytes);
    capacity_ = capacity;
}

std::optional<std::vector<Wire>> wire_types(const std::vector<Column>& columns) {
    std::vector<Wire> wires;
    for (const auto& column : columns) {
        std::string t = lowered(column.sql_type);
        if (t == "bigint" || t == "int8") wires.push_back(Wire::int8);
        else if (t == "integer" || t == "int" || t == "int4") wires.push_back(Wire::int4);
        else if (t == "smallint" || t == "int2") wires.push_back(Wire::int2);
        else if (t == "double precision" || t == "float8" || t == "float") wires.push_back(Wire::float8);
        else if (t == "boolean" || t == "bool") wires.push_back(Wire::boolean);
        else if (t == "date") wires.push_back(Wire::date);
        else if (t == "timestamp" || t == "timestamp without time zone") wires.push_back(Wire::timestamp);
        // Declared numeric may hold exponents and NaN, which the encoder leaves to PostgreSQL.
        else if (t == "numeric" && !column.declared) wires.push_back(Wire::numeric);
        // varchar(n) is checked by the server's receive function, which applies the length like the input one.
        else if (t == "text" || t == "varchar" || t == "character varying" || t.rfind("varchar(", 0) == 0 ||
                 t.rfind("character varying(", 0) == 0)
            wires.push_back(Wire::text);
        else return std::nullopt;
    }
    return wires;
}

std::optional<std::vector<Wire>> wires_for(CopyFormat format, const std::vector<Column>& columns, unsigned connections) {
    if (format == CopyFormat::csv) return std::nullopt;
    auto wires = wire_types(columns);
    if (!wires || format == CopyFormat::binary || connections <= 1) return wires;
    auto costly_as_text = [](Wire wire) {
        return wire == Wire::date || wire == Wire::timestamp || wire == Wire::numeric || wire == Wire::float8;
    };
    if (std::any_of(wires->begin(), wires->end(), costly_as_text)) return wires;
    return std::nullopt;
}

BinaryEncoder::BinaryEncoder(const CsvOptions& csv, std::vector<Wire> wires, std::string file,
                             std::vector<std::string> names)
    : csv_(csv), wires_(std::move(wires)), file_(std::move(file)), names_(std::move(names)) {}

void BinaryEncoder::start_stream(CopyBuffer& out) {
    out.room(sizeof copy_signature + 8);
    out.append(copy_signature, sizeof copy_signature);
    out.put32(0);
    out.put32(0);
}

void BinaryEncoder::start_chunk(std::uint64_t first_line) {
    pending_.clear();
    line_ = first_line;
}

void BinaryEncoder::feed(const char* data, std::size_t size, CopyBuffer& out) {
    pending_.append(data, size);
    std::size_t pos = 0;
    while (pos < pending_.size() && encode_record(pos, false, out)) {
    }
    pending_.erase(0, pos);
}

void BinaryEncoder::finish_chunk(CopyBuffer& out) {
    std::size_t pos = 0;
    while (pos < pending_.size()) encode_record(pos, true, out);
    pending_.clear();
}

void BinaryEncoder::finish_stream(CopyBuffer& out) {
    out.room(2);
    out.put16(0xffff);  // trailer: field count -1
}

bool BinaryEncoder::encode_record(std::size_t& pos, bool at_end, CopyBuffer& out) {
    const char* p = pending_.data();
    const std::size_t n = pending_.size();
    const char delimiter = csv_.delimiter, quote = csv_.quote, escape = csv_.escape;
    const std::size_t out_start = out.size();
    record_line_ = line_;
    std::uint64_t extra_lines = 0;
    out.room(2);
    out.put16(static_cast<std::uint16_t>(wires_.size()));
    std::size_t i = pos, column = 0;
    auto incomplete = [&] {
        out.truncate(out_start);
        return false;
    };
    for (;;) {
        if (column >= wires_.size()) fail(SIZE_MAX, "expected " + std::to_string(wires_.size()) + " columns, found more");
        bool quoted = i < n && p[i] == quote;
        if (quoted) {
            field_.clear();
            ++i;
            for (;;) {
                std::size_t run = i;
                while (run < n && p[run] != quote && p[run] != escape && p[run] != '\n') ++run;
                field_.append(p + i, run - i);
                i = run;
                if (i >= n) return incomplete();
                char c = p[i];
                if (c == '\n') {
                    ++extra_lines;
                    field_ += c;
                    ++i;
                    continue;
                }
                if (i + 1 >= n && !at_end) return incomplete();  // the next byte decides what this one means
                char next = i + 1 < n ? p[i + 1] : '\0';
                if (c == escape && i + 1 < n && (next == quote || next == escape) && (escape != quote || next == quote)) {
                    field_ += next;
                    i += 2;
                    continue;
                }
                if (c == quote) {
                    ++i;
                    break;
                }
                field_ += c;  // an escape character before anything else is itself
                ++i;
            }
            encode_field(column, field_.data(), field_.size(), true, out);
        } else {
            std::size_t j = unquoted_field_end(p, i, n, delimiter);
            if (j >= n && !at_end) return incomplete();
            std::size_t end = j;
            if (end > i && j < n && p[j] == '\n' && p[end - 1] == '\r') --end;
            encode_field(column, p + i, end - i, false, out);
            i = j;
        }
        ++column;
        if (i < n && p[i] == delimiter) {
            ++i;
            continue;
        }
        if (quoted && i < n && p[i] == '\r') {
            if (i + 1 >= n && !at_end) return incomplete();
            ++i;
        }
        if (i < n && p[i] == '\n') {
            ++i;
            break;
        }
        if (i >= n) {
            if (!at_end) return incomplete();
            break;
        }
        fail(column - 1, "unexpected character after a closing quote");
    }
    if (column != wires_.size())
        fail(SIZE_MAX, "expected " + std::to_string(wires_.size()) + " columns, found " + std::to_string(column));
    pos = i;
    line_ += 1 + extra_lines;
    return true;
}

void BinaryEncoder::encode_field(std::size_t column, const char* data, std::size_t size, bool quoted, CopyBuffer& out) {
    out.room(16 + size);  // the most any type takes: length, numeric's 8-byte head and 2 bytes per 4 digits, or text
    if (!quoted && size == csv_.null_string.size() && std::memcmp(data, csv_.null_string.data(), size) == 0) {
        out.put32(0xffffffffu);
        return;
    }
    const std::string_view value(data, size);
    auto invalid = [&](const char* type) {
        fail(column, std::string("invalid input syntax for type ") + type + ": \"" + std::string(value) + "\"");
    };
    switch (wires_[column]) {
        case Wire::text:
            out.put32(static_cast<std::uint32_t>(size));
            out.append(data, size);
            return;
        case Wire::int8:
        case Wire::int4:
        case Wire::int2: {
            std::size_t k = 0;
            bool negative = false;
            if (k < size && (data[k] == '-' || data[k] == '+')) negative = data[k++] == '-';
            if (k == size || size - k > 19) invalid("bigint");
            std::uint64_t magnitude = 0;
            for (; k < size; ++k) {
                if (!is_digit(data[k])) invalid("bigint");
                magnitude = magnitude * 10 + static_cast<unsigned>(data[k] - '0');
            }
            std::uint64_t bits = negative ? ~magnitude + 1 : magnitude;  // two's complement
            if (wires_[column] == Wire::int8) {
                out.put32(8);
                out.put64(bits);
            } else if (wires_[column] == Wire::int4) {
                out.put32(4);
                out.put32(static_cast<std::uint32_t>(bits));
            } else {
                out.put32(2);
                out.put16(static_cast<std::uint16_t>(bits));
            }
            return;
        }
        case Wire::float8: {
            char buffer[80];
            if (size == 0 || size >= sizeof buffer) invalid("double precision");
            std::memcpy(buffer, data, size);
            buffer[size] = '\0';
            char* end = nullptr;
            double d = std::strtod(buffer, &end);
            if (end != buffer + size) invalid("double precision");
            std::uint64_t bits;
            std::memcpy(&bits, &d, sizeof bits);
            out.put32(8);
            out.put64(bits);
            return;
        }
        case Wire::boolean: {
            char c = size > 0 ? static_cast<char>(data[0] | 0x20) : '\0';
            bool truth = c == 't' || c == 'y' || (c == 'o' && size > 1 && (data[1] | 0x20) == 'n') || c == '1';
            out.put32(1);
            out.put8(truth ? 1 : 0);
            return;
        }
        case Wire::date:
        case Wire::timestamp: {
            if (size < 10) invalid(wires_[column] == Wire::date ? "date" : "timestamp");
            int year = digits_value(data, 4), month = digits_value(data + 5, 2), day = digits_value(data + 8, 2);
            if (year < 0 || month < 1 || day < 1) invalid(wires_[column] == Wire::date ? "date" : "timestamp");
            if (year == 0) fail(column, "date/time field value out of range: \"" + std::string(value) + "\"");
            std::int64_t days = days_from_civil(year, static_cast<unsigned>(month), static_cast<unsigned>(day)) -
                                postgres_epoch_days;
            if (wires_[column] == Wire::date) {
                if (size != 10) invalid("date");
                out.put32(4);
                out.put32(static_cast<std::uint32_t>(static_cast<std::int32_t>(days)));
                return;
            }
            std::int64_t micros = days * 86'400'000'000LL;
            if (size >= 16) {
                int hour = digits_value(data + 11, 2), minute = digits_value(data + 14, 2), second = 0;
                if (hour < 0 || minute < 0) invalid("timestamp");
                if (size >= 19) second = digits_value(data + 17, 2);
                if (second < 0) invalid("timestamp");
                std::int64_t fraction = 0;
                std::size_t digits = 0;
                for (std::size_t k = 20; k < size && digits < 6; ++k, ++digits) fraction = fraction * 10 + (data[k] - '0');
                for (; digits < 6; ++digits) fraction *= 10;
                micros += ((hour * 60LL + minute) * 60 + second) * 1'000'000LL + (size > 20 ? fraction : 0);
            } else if (size != 10) {
                invalid("timestamp");
            }
            out.put32(8);
            out.put64(static_cast<std::uint64_t>(micros));
            return;
        }
        case Wire::numeric: {
            // Base-10000 digits around the decimal point: ndigits, weight, sign, dscale, digits.
            std::size_t k = 0;
            bool negative = false;
            if (k < size && (data[k] == '-' || data[k] == '+')) negative = data[k++] == '-';
            std::size_t int_start = k;
            while (k < size && is_digit(data[k])) ++k;
            std::string whole(data + int_start, k - int_start), fraction;
            if (k < size && data[k] == '.') {
                std::size_t frac_start = ++k;
                while (k < size && is_digit(data[k])) ++k;
                fraction.assign(data + frac_start, k - frac_start);
            }
            if (k != size || whole.size() + fraction.size() == 0) invalid("numeric");
            std::size_t dscale = fraction.size();
            whole.insert(0, (4 - whole.size() % 4) % 4, '0');
            fraction.append((4 - fraction.size() % 4) % 4, '0');
            std::vector<std::uint16_t> groups;
            std::string all = whole + fraction;
            for (std::size_t g = 0; g < all.size(); g += 4)
                groups.push_back(static_cast<std::uint16_t>(digits_value(all.data() + g, 4)));
            int weight = static_cast<int>(whole.size() / 4) - 1;
            std::size_t first = 0;
            while (first < groups.size() && groups[first] == 0) ++first, --weight;
            std::size_t last = groups.size();
            while (last > first && groups[last - 1] == 0) --last;
            std::size_t count = last - first;
            if (count == 0) weight = 0, negative = false;
            out.put32(static_cast<std::uint32_t>(8 + 2 * count));
            out.put16(static_cast<std::uint16_t>(count));
            out.put16(static_cast<std::uint16_t>(static_cast<std::int16_t>(weight)));
            out.put16(negative ? 0x4000 : 0x0000);
            out.put16(static_cast<std::uint16_t>(dscale));
            for (std::size_t g = first; g < last; ++g) out.put16(groups[g]);
            return;
        }
    }
}

void BinaryEncoder::fail(std::size_t column, const std::string& message) const {
    ErrorLocation where{.file = file_, .line = record_line_};
    if (column < names_.size()) where.field = "column " + names_[column];
    throw Error(ErrorKind::input, message, where);
}

namespace {

// Reads chunk again from the file and calls on_record(first line, last line) for its records in order until it
// returns true; returns that record's first line, or the line after the chunk when none did.
std::uint64_t find_record(const TableDecl& table, const Chunk& chunk,
                          const std::function<bool(std::uint64_t, std::uint64_t)>& on_record) {
    std::unique_ptr<ByteSource> source;
    std::uint64_t skip = 0;
    if (is_gzip(table)) {
        source = gunzip(open_file(table.source));
        skip = chunk.offset;
    } else {
        source = open_file(table.source, chunk.offset);
    }
    std::vector<char> buffer(1 << 20);
    std::uint64_t line = chunk.first_line, first = chunk.first_line, left = chunk.bytes;
    bool in_quotes = false, escaped = false, in_record = false;
    while (left > 0) {
        std::size_t got = source->read(buffer.data(), buffer.size());
        if (got == 0) break;
        std::size_t start = 0;
        if (skip > 0) {
            start = static_cast<std::size_t>(std::min<std::uint64_t>(skip, got));
            skip -= start;
        }
        for (std::size_t k = start; k < got && left > 0; ++k, --left) {
            char c = buffer[k];
            in_record = true;
            if (escaped) {
                escaped = false;
                if (c == '\n') ++line;
                continue;
            }
            if (in_quotes && c == table.csv.escape && table.csv.escape != table.csv.quote) {
                escaped = true;
            } else if (c == table.csv.quote) {
                in_quotes = !in_quotes;
            } else if (c == '\n') {
                if (!in_quotes) {
                    if (on_record(first, line)) return first;
                    first = line + 1;
                    in_record = false;
                }
                ++line;
            }
        }
    }
    if (in_record && on_record(first, line)) return first;  // the last record, without a final line break
    return line;
}

}  // namespace

std::uint64_t line_of_record(const TableDecl& table, const Chunk& chunk, std::uint64_t record_index) {
    std::uint64_t records = 0;
    return find_record(table, chunk, [&](std::uint64_t, std::uint64_t) { return records++ == record_index; });
}

std::uint64_t first_line_of_record_ending_at(const TableDecl& table, const Chunk& chunk, std::uint64_t line) {
    return find_record(table, chunk, [&](std::uint64_t, std::uint64_t last) { return last >= line; });
}

}  // namespace ece::stage::detail
