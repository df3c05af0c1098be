// ece-demo-data: writes the demo's four source tables at a scale factor, the same bytes for the same seed.
#include <boost/program_options.hpp>

#include <chrono>
#include <iostream>

#include "core/error.hpp"
#include "core/main.hpp"
#include "demo_data.hpp"

namespace po = boost::program_options;

int main(int argc, char** argv) {
    return ece::guarded_main("ece-demo-data", [&] {
        ece::demo::DemoOptions options;
        std::string out, tables;
        po::options_description desc("Usage: ece-demo-data [options]\nWrites patients, icd10, providers and diagnoses CSV files");
        desc.add_options()
            ("help,h", "show this help")
            ("version", "show the version")
            ("scale,s", po::value(&options.scale)->default_value(0.001),
             "scale factor: 1 = 10M patients, 8,026,546 providers, 100M diagnoses (icd10 is always 71,704 codes)")
            ("seed", po::value(&options.seed)->default_value(1), "random seed")
            ("out,o", po::value(&out)->default_value("examples/data/generated"), "output directory")
            ("gzip", po::bool_switch(&options.gzip), "write .csv.gz")
            ("tables", po::value(&tables), "comma-separated subset, e.g. patients,diagnoses")
            ("threads", po::value(&options.threads)->default_value(2), "generator threads");
        po::variables_map vm;
        try {
            po::store(po::parse_command_line(argc, argv, desc), vm);
            po::notify(vm);
        } catch (const po::error& e) {
            throw ece::Error(ece::ErrorKind::usage, e.what());
        }
        if (vm.count("help")) {
            std::cout << desc << "\n";
            return 0;
        }
        if (vm.count("version")) {
            std::cout << ece::version_line("ece-demo-data") << "\n";
            return 0;
        }
        if (!tables.empty()) {
            options.tables.clear();
            for (std::size_t start = 0; start <= tables.size();) {
                auto comma = tables.find(',', start);
                if (comma == std::string::npos) comma = tables.size();
                options.tables.push_back(tables.substr(start, comma - start));
                start = comma + 1;
            }
        }
        for (const auto& t : options.tables) {
            auto begin = std::chrono::steady_clock::now();
            auto written = ece::demo::generate(out, {options.scale, options.seed, options.gzip, {t}, options.threads});
            double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - begin).count();
            const auto& w = written.front();
            std::cout << w.path.string() << "\t" << w.rows << " rows\t" << w.bytes << " bytes\t" << seconds << " s\n";
        }
        return 0;
    });
}
