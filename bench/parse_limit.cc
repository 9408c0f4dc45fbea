// bench/parse_limit.cc - what reading an NDJSON file can cost at best on this
// machine, for bench.py's NDJSON case to set vizfeed's MB/s against.
//
//   c++ -O3 -march=native parse_limit.cc -o parse_limit -lsimdjson    (or -DNO_SIMDJSON)
//   parse_limit FILE FIELD...      e.g. FIELD = service.name (dotted, nested)
//
// With the file in memory (read once, not timed), it prints the best of
// five runs of:
//   scan      counting newlines and quotes: a loop over every byte that any
//             JSON reader must at least look at (the compiler vectorizes it);
//   simdjson  simdjson's DOM parser (Debian's libsimdjson, parse_many) reading
//             each line and the given fields out of it: a SIMD JSON parser,
//             doing the part of vizfeed's work that is parsing.
// MB are 10^6 bytes.
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <string_view>
#include <vector>
#ifndef NO_SIMDJSON
#include <simdjson.h>
#endif

static double seconds_of(void (*fn)(const std::string &, const std::vector<std::string> &, size_t *),
                         const std::string &data, const std::vector<std::string> &fields, size_t *out) {
    double best = 1e9;
    for (int i = 0; i < 5; i++) {
        auto t0 = std::chrono::steady_clock::now();
        fn(data, fields, out);
        std::chrono::duration<double> d = std::chrono::steady_clock::now() - t0;
        if (d.count() < best) best = d.count();
    }
    return best;
}

static void scan(const std::string &data, const std::vector<std::string> &, size_t *out) {
    const unsigned char *p = (const unsigned char *)data.data();
    size_t n = data.size(), lines = 0, quotes = 0;
    for (size_t i = 0; i < n; i++) {
        lines += p[i] == '\n';
        quotes += p[i] == '"';
    }
    *out = lines + quotes;
}

#ifndef NO_SIMDJSON
static void parse(const std::string &data, const std::vector<std::string> &fields, size_t *out) {
    static simdjson::dom::parser parser;
    std::vector<std::string> pointers;
    for (const std::string &f : fields) {
        std::string p;
        for (char c : f) p += c == '.' ? '/' : c;
        pointers.push_back("/" + p);
    }
    size_t total = 0;
    simdjson::dom::document_stream docs;
    if (parser.parse_many(data.data(), data.size(), 1 << 20).get(docs) != simdjson::SUCCESS) exit(1);
    for (auto doc : docs) {
        simdjson::dom::element e;
        if (doc.get(e) != simdjson::SUCCESS) continue;
        for (const std::string &p : pointers) {
            std::string_view v;
            if (e.at_pointer(p).get_string().get(v) == simdjson::SUCCESS) total += v.size();
        }
    }
    *out = total;
}
#endif

int main(int argc, char **argv) {
    if (argc < 2) {
        fprintf(stderr, "usage: parse_limit FILE FIELD...\n");
        return 2;
    }
    FILE *f = fopen(argv[1], "rb");
    if (!f) {
        perror(argv[1]);
        return 1;
    }
    std::string data;
    char chunk[1 << 16];
    size_t n;
    while ((n = fread(chunk, 1, sizeof chunk, f)) > 0) data.append(chunk, n);
    fclose(f);
    std::vector<std::string> fields(argv + 2, argv + argc);
    size_t out = 0;
    double mb = data.size() / 1e6;
    printf("scan %.0f\n", mb / seconds_of(scan, data, fields, &out));
#ifndef NO_SIMDJSON
    printf("simdjson %.0f\n", mb / seconds_of(parse, data, fields, &out));
#endif
    fprintf(stderr, "(checksum %zu)\n", out);
    return 0;
}
