#include "demo_data.hpp"

#include <zlib.h>

#include <array>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <functional>
#include <future>
#include <numeric>
#include <string_view>

#include "core/error.hpp"

namespace ece::demo {
namespace {

constexpr std::uint64_t rows_per_block = 1 << 17;

// Counter-based randomness: a value depends only on (seed, table, row, draw), never on generation order.
std::uint64_t splitmix(std::uint64_t x) {
    x += 0x9e3779b97f4a7c15ull;
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
    return x ^ (x >> 31);
}

class RowRandom {
public:
    RowRandom(std::uint64_t seed, std::uint64_t table, std::uint64_t row)
        : state_(splitmix(splitmix(seed ^ (table << 56)) ^ row)) {}
    std::uint64_t next() { return state_ = splitmix(state_); }
    std::uint64_t below(std::uint64_t n) { return n == 0 ? 0 : next() % n; }
    // Skewed toward small values: a few providers and codes are much more frequent than others.
    std::uint64_t skewed_below(std::uint64_t n) { return std::min(below(n), below(n)); }

private:
    std::uint64_t state_;
};

class Line {
public:
    explicit Line(std::string& out) : out_(out) {}
    Line& number(std::uint64_t value) {
        char buffer[24];
        auto end = std::to_chars(buffer, buffer + sizeof buffer, value).ptr;
        out_.append(buffer, end);
        return *this;
    }
    Line& text(std::string_view value) {
        out_.append(value);
        return *this;
    }
    Line& comma() {
        out_ += ',';
        return *this;
    }
    void end() { out_ += '\n'; }

private:
    std::string& out_;
};

// ICD-10-like codes: a chapter letter, two digits, and (after the category itself) a dotted subcode.
std::string icd10_code(std::uint64_t index) {
    static constexpr std::string_view letters = "ABCDEFGHIJKLMNOPQRSTVWXYZ";
    std::uint64_t category = index % 2500, sub = index / 2500;
    std::string code;
    code += letters[category / 100];
    code += static_cast<char>('0' + category % 100 / 10);
    code += static_cast<char>('0' + category % 10);
    if (sub > 0) code += "." + std::to_string(sub - 1);
    return code;
}

// A 10-digit NPI with its Luhn check digit (computed over the "80840" prefix, as the real NPI is).
std::uint64_t npi_of(std::uint64_t provider) {
    std::uint64_t id9 = 100000000 + (provider * 7919 + 12345) % 200000000;  // NPIs start with 1 or 2
    std::string digits = "80840" + std::to_string(id9);
    int sum = 0;
    bool twice = true;
    for (auto it = digits.rbegin(); it != digits.rend(); ++it, twice = !twice) {
        int d = *it - '0';
        if (twice) d = d * 2 > 9 ? d * 2 - 9 : d * 2;
        sum += d;
    }
    return id9 * 10 + static_cast<std::uint64_t>((10 - sum % 10) % 10);
}

// YYYY-MM-DD for days since 1970-01-01 (Howard Hinnant's civil_from_days).
std::string iso_date(std::int64_t days) {
    days += 719468;
    std::int64_t era = (days >= 0 ? days : days - 146096) / 146097;
    std::int64_t doe = days - era * 146097;
    std::int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    std::int64_t y = yoe + era * 400, doy = doe - (365 * yoe + yoe / 4 - yoe / 100), mp = (5 * doy + 2) / 153;
    std::int64_t d = doy - (153 * mp + 2) / 5 + 1, m = mp < 10 ? mp + 3 : mp - 9;
    char buffer[16];
    std::snprintf(buffer, sizeof buffer, "%04d-%02d-%02d", static_cast<int>(y + (m <= 2)), static_cast<int>(m),
                  static_cast<int>(d));
    return buffer;
}

std::uint64_t coprime_stride(std::uint64_t n, std::uint64_t start) {
    if (n <= 1) return 1;
    std::uint64_t a = start % n;
    while (a == 0 || std::gcd(a, n) != 1) a = (a + 1) % n;
    return a;
}

struct Generator {
    std::string name;
    std::string header;
    std::uint64_t rows;
    std::function<void(std::uint64_t row, std::string& out)> row;
};

Generator patients(const DemoCounts& c, std::uint64_t seed) {
    return {"patients", "patid,sex,birth_year", c.patients, [seed](std::uint64_t row, std::string& out) {
                RowRandom r(seed, 1, row);
                auto s = r.below(1000);
                const char* sex = s < 496 ? "F" : s < 992 ? "M" : s < 996 ? "U" : s < 998 ? "f" : "m";
                auto age = (r.below(95) + r.below(95)) / 2 + r.below(10);  // peaked around 50
                std::uint64_t year = 2023 - age;
                if (r.below(2000) == 0) year = 1890 + r.below(10);        // entry errors the model filters out
                Line(out).number(row + 1).comma().text(sex).comma().number(year).end();
            }};
}

Generator icd10(const DemoCounts& c, std::uint64_t) {
    return {"icd10", "code,description,chapter", c.icd10, [](std::uint64_t row, std::string& out) {
                static constexpr std::array<std::string_view, 6> kinds{"unspecified", "initial encounter",
                                                                       "subsequent encounter", "sequela",
                                                                       "with complications", "without complications"};
                auto code = icd10_code(row);
                Line(out).text(code).comma().text("\"Condition ").text(code).text(", ").text(kinds[row % kinds.size()])
                    .text("\"").comma().text(std::string_view(code).substr(0, 1)).end();
            }};
}

Generator providers(const DemoCounts& c, std::uint64_t seed) {
    return {"providers", "npi,entity_type,specialty,state", c.providers, [seed](std::uint64_t row, std::string& out) {
                static constexpr std::array<std::string_view, 16> specialties{
                    "Family Medicine", "Internal Medicine", "Nurse Practitioner", "Physical Therapist",
                    "Dentist", "Pediatrics", "Emergency Medicine", "Psychiatry", "Obstetrics & Gynecology",
                    "Cardiology", "Orthopaedic Surgery", "Radiology", "Anesthesiology", "Dermatology",
                    "Pharmacist", "Clinical Social Worker"};
                static constexpr std::string_view states =
                    "CATXFLNYPAILOHGANCMINJVAWAAZMATNINMOMDWICOMNSCALLAKYORCTIAUTNVARMSKSNMNEIDWVHINHMERIMTDESDNDAKDCVTWY";
                RowRandom r(seed, 3, row);
                auto state = r.skewed_below(states.size() / 2);
                Line(out).number(npi_of(row)).comma().number(r.below(100) < 85 ? 1 : 2).comma()
                    .text(specialties[r.skewed_below(specialties.size())]).comma()
                    .text(states.substr(state * 2, 2)).end();
            }};
}

Generator diagnoses(const DemoCounts& c, std::uint64_t seed) {
    std::uint64_t active = static_cast<std::uint64_t>(std::llround(static_cast<double>(c.providers) * active_provider_share));
    std::uint64_t provider_stride = coprime_stride(c.providers, 2654435761u);
    std::uint64_t code_stride = coprime_stride(c.icd10, 40503);
    return {"diagnoses", "patid,npi,dx_code,dx_date", c.diagnoses,
            [=](std::uint64_t row, std::string& out) {
                RowRandom r(seed, 4, row);
                // The first rows visit every active provider and every code once; the rest are skewed draws.
                std::uint64_t k = row < active ? row : r.skewed_below(active);
                std::uint64_t provider = (k * provider_stride + 7) % c.providers;
                std::uint64_t code_index = row < c.icd10 ? row * code_stride % c.icd10 : r.skewed_below(c.icd10);
                std::string code = icd10_code(code_index);
                if (r.below(50) == 0)  // some sources write codes in lower case; the staging model upper-cases
                    for (auto& ch : code) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
                Line(out).number(r.below(c.patients) + 1).comma().number(npi_of(provider)).comma().text(code)
                    .comma().text(iso_date(16436 + static_cast<std::int64_t>(r.below(3287)))).end();
            }};
}

// One gzip member per block, compressed independently: deterministic and parallel; gzip readers concatenate.
std::string gzip_member(const std::string& data) {
    z_stream z{};
    if (deflateInit2(&z, 1, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) != Z_OK)
        throw Error(ErrorKind::internal, "deflateInit2 failed");
    std::string out(deflateBound(&z, data.size()) + 32, '\0');
    z.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(data.data()));
    z.avail_in = static_cast<uInt>(data.size());
    z.next_out = reinterpret_cast<Bytef*>(out.data());
    z.avail_out = static_cast<uInt>(out.size());
    int rc = deflate(&z, Z_FINISH);
    deflateEnd(&z);
    if (rc != Z_STREAM_END) throw Error(ErrorKind::internal, "deflate failed");
    out.resize(z.total_out);
    return out;
}

WrittenTable write_table(const Generator& g, const std::filesystem::path& dir, const DemoOptions& options) {
    WrittenTable written{g.name, dir / (g.name + (options.gzip ? ".csv.gz" : ".csv")), g.rows, 0};
    std::FILE* file = std::fopen(written.path.c_str(), "wb");
    if (!file) throw Error(ErrorKind::input, "cannot create file", {.file = written.path.string()});
    auto make_block = [&](std::uint64_t block) {
        std::string out;
        out.reserve(rows_per_block * 48);
        if (block == 0) out += g.header + "\n";
        std::uint64_t end = std::min(g.rows, (block + 1) * rows_per_block);
        for (std::uint64_t row = block * rows_per_block; row < end; ++row) g.row(row, out);
        return options.gzip ? gzip_member(out) : out;
    };
    std::uint64_t blocks = std::max<std::uint64_t>(1, (g.rows + rows_per_block - 1) / rows_per_block);
    unsigned threads = std::max(1u, options.threads);
    for (std::uint64_t first = 0; first < blocks; first += threads) {
        std::vector<std::future<std::string>> batch;
        for (std::uint64_t b = first; b < std::min(blocks, first + threads); ++b)
            batch.push_back(std::async(std::launch::async, make_block, b));
        for (auto& f : batch) {
            std::string data = f.get();
            if (std::fwrite(data.data(), 1, data.size(), file) != data.size()) {
                std::fclose(file);
                throw Error(ErrorKind::input, "cannot write file", {.file = written.path.string()});
            }
            written.bytes += data.size();
        }
    }
    if (std::fclose(file) != 0) throw Error(ErrorKind::input, "cannot write file", {.file = written.path.string()});
    return written;
}

}  // namespace

DemoCounts demo_counts(double scale) {
    auto scaled = [&](double n) { return static_cast<std::uint64_t>(std::llround(n * scale)); };
    return {scaled(10'000'000), 71'704, scaled(8'026'546), scaled(100'000'000)};
}

std::vector<WrittenTable> generate(const std::filesystem::path& dir, const DemoOptions& options) {
    if (!(options.scale > 0) || options.scale > 100) throw Error(ErrorKind::usage, "scale factor must be in (0, 100]");
    DemoCounts counts = demo_counts(options.scale);
    if (counts.patients == 0 || counts.providers == 0) throw Error(ErrorKind::usage, "scale factor too small");
    std::filesystem::create_directories(dir);
    std::vector<WrittenTable> out;
    for (const auto& name : options.tables) {
        Generator g = name == "patients"    ? patients(counts, options.seed)
                      : name == "icd10"     ? icd10(counts, options.seed)
                      : name == "providers" ? providers(counts, options.seed)
                      : name == "diagnoses" ? diagnoses(counts, options.seed)
                                            : throw Error(ErrorKind::usage, "unknown demo table \"" + name +
                                                                                "\" (patients, icd10, providers, diagnoses)");
        out.push_back(write_table(g, dir, options));
    }
    return out;
}

}  // namespace ece::demo
