#pragma once
// CSV records re-encoded as PostgreSQL's binary COPY format on the client. The server then skips CSV parsing and
// every input function (int8in, date_in, ...), which halves its work per row; the scan has already checked every
// value, so the encoder only converts. Internal to lib/stage.
#include <bit>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "stage/scan.hpp"
#include "stage/table.hpp"

namespace ece::stage::detail {

// How a column travels in binary COPY.
enum class Wire : std::uint8_t { int8, int4, int2, float8, numeric, boolean, date, timestamp, text };

// The wire type of every column, or nullopt when one has a type the encoder does not know (a declared numeric,
// uuid, json, ...): such a table is sent as CSV.
std::optional<std::vector<Wire>> wire_types(const std::vector<Column>& columns);

// The wire types to send a table's rows with over that many connections, or nullopt for CSV. automatic: binary
// spares PostgreSQL its input functions, which for dates, timestamps and non-integer numbers cost it far more than
// the client's encoding; for integers, booleans and text they cost it about what the encoding costs the client and
// binary is twice as many bytes. So such tables go as CSV over several connections (the client and the backends
// then share the cores; bench/stage/README.md), and as binary over one (its backend is the bottleneck).
std::optional<std::vector<Wire>> wires_for(CopyFormat format, const std::vector<Column>& columns, unsigned connections);

// Binary COPY data being built. Values are written without a capacity check each: room() makes space for a whole
// field first (appending to a std::string four bytes at a time cost more than the conversions themselves).
class CopyBuffer {
public:
    const char* data() const { return bytes_.get(); }
    std::size_t size() const { return used_; }
    void clear() { used_ = 0; }
    void truncate(std::size_t size) { used_ = size; }
    void room(std::size_t more) {
        if (capacity_ - used_ < more) grow(more);
    }
    // Only after room() for them:
    // (big-endian, one store each: byte stores through char* make the compiler reload used_ after every byte)
    void put8(std::uint8_t v) { bytes_[used_++] = static_cast<char>(v); }
    void put16(std::uint16_t v) { store(little ? __builtin_bswap16(v) : v); }
    void put32(std::uint32_t v) { store(little ? __builtin_bswap32(v) : v); }
    void put64(std::uint64_t v) { store(little ? __builtin_bswap64(v) : v); }
    void append(const char* data, std::size_t size) {
        if (size > 0) std::memcpy(bytes_.get() + used_, data, size);
        used_ += size;
    }

private:
    static constexpr bool little = std::endian::native == std::endian::little;
    template <class T> void store(T v) {
        std::memcpy(bytes_.get() + used_, &v, sizeof v);
        used_ += sizeof v;
    }
    void grow(std::size_t more);
    std::unique_ptr<char[]> bytes_;
    std::size_t capacity_ = 0, used_ = 0;
};

// Encodes the records of one chunk. Feed it the chunk's bytes in pieces of any size (a record may straddle two).
class BinaryEncoder {
public:
    // file and names for error messages.
    BinaryEncoder(const CsvOptions& csv, std::vector<Wire> wires, std::string file, std::vector<std::string> names);

    // A COPY stream holds one or more chunks: start_stream, then for each chunk start_chunk, feed..., finish_chunk,
    // then finish_stream.
    void start_stream(CopyBuffer& out);  // appends the binary COPY header
    void start_chunk(std::uint64_t first_line);
    // Appends every record that is complete in what was fed so far.
    void feed(const char* data, std::size_t size, CopyBuffer& out);
    // Appends the chunk's last record if it has no final line break.
    void finish_chunk(CopyBuffer& out);
    void finish_stream(CopyBuffer& out);  // appends the trailer

private:
    // Encodes the record at pending_[pos...]; returns false (and encodes nothing) when it is not complete yet.
    bool encode_record(std::size_t& pos, bool at_end, CopyBuffer& out);
    void encode_field(std::size_t column, const char* data, std::size_t size, bool quoted, CopyBuffer& out);
    [[noreturn]] void fail(std::size_t column, const std::string& message) const;

    CsvOptions csv_;
    std::vector<Wire> wires_;
    std::string file_;
    std::vector<std::string> names_;
    std::string pending_;        // bytes fed but not yet encoded (a partial record)
    std::string field_;          // an unescaped quoted field
    std::uint64_t line_ = 0;     // physical line where the record being encoded starts
    std::uint64_t record_line_ = 0;
};

// The physical line of the record_index-th record (0-based) of chunk, found by reading the chunk again (only when
// PostgreSQL rejected a row: binary COPY numbers rows, not lines).
std::uint64_t line_of_record(const TableDecl& table, const Chunk& chunk, std::uint64_t record_index);
// The first physical line of chunk's record whose last line is line (CSV COPY numbers a record by its last line).
std::uint64_t first_line_of_record_ending_at(const TableDecl& table, const Chunk& chunk, std::uint64_t line);

}  // namespace ece::stage::detail
