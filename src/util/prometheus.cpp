// The Prometheus text format, and the process metrics every exporter has.
#include "util/prometheus.hpp"

#include <dirent.h>
#include <sys/resource.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <fstream>

#include "util/build_info.hpp"

namespace ssechat::prom {

namespace {
// When the process started, for process_start_time_seconds: static initialization runs
// before main, so this is the start within milliseconds.
const double kStartSeconds =
    std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();

}  // namespace

void Histogram::observe(double v) {
    size_t i = 0;
    while (i < kBuckets && v > bounds_[i]) ++i;
    counts_[i].fetch_add(1, std::memory_order_relaxed);
    count_.fetch_add(1, std::memory_order_relaxed);
    double cur = sum_.load(std::memory_order_relaxed);
    while (!sum_.compare_exchange_weak(cur, cur + v, std::memory_order_relaxed)) {
    }
}

std::string num(double v) {
    char b[64];
    std::snprintf(b, sizeof b, "%.17g", v);  // exact for counters past 10^9
    return b;
}
void line(std::string& out, const std::string& name, const std::string& help, const char* type,
          double v) {
    out += "# HELP " + name + " " + help + "\n# TYPE " + name + " " + type + "\n";
    out += name + " " + num(v) + "\n";
}
void labeled(std::string& out, const std::string& name, const std::string& help, const char* type,
             const char* label, std::initializer_list<std::pair<const char*, double>> values) {
    out += "# HELP " + name + " " + help + "\n# TYPE " + name + " " + type + "\n";
    for (const auto& [value, n] : values)
        out += name + "{" + label + "=\"" + value + "\"} " + num(n) + "\n";
}
void Histogram::render(std::string& out, const std::string& name, const std::string& help) const {
    out += "# HELP " + name + " " + help + "\n# TYPE " + name + " histogram\n";
    uint64_t cum = 0;
    for (size_t i = 0; i <= kBuckets; ++i) {
        cum += counts_[i].load(std::memory_order_relaxed);
        std::string le = i < kBuckets ? num(bounds_[i]) : "+Inf";
        out += name + "_bucket{le=\"" + le + "\"} " + std::to_string(cum) + "\n";
    }
    out += name + "_sum " + num(sum_.load(std::memory_order_relaxed)) + "\n";
    out += name + "_count " + std::to_string(count_.load(std::memory_order_relaxed)) + "\n";
}

void process(std::string& out) {
    long page = ::sysconf(_SC_PAGESIZE);
    unsigned long vsize_pages = 0, rss_pages = 0;
    if (std::ifstream statm("/proc/self/statm"); statm) statm >> vsize_pages >> rss_pages;
    line(out, "process_resident_memory_bytes", "Resident memory size in bytes.", "gauge",
         static_cast<double>(rss_pages) * static_cast<double>(page));
    line(out, "process_virtual_memory_bytes", "Virtual memory size in bytes.", "gauge",
         static_cast<double>(vsize_pages) * static_cast<double>(page));
    double fds = 0;
    if (DIR* d = ::opendir("/proc/self/fd")) {
        while (dirent* e = ::readdir(d))
            if (e->d_name[0] != '.') ++fds;
        ::closedir(d);
        --fds;  // the directory stream's own descriptor
    }
    line(out, "process_open_fds", "Number of open file descriptors.", "gauge", fds);
    rlimit lim{};
    ::getrlimit(RLIMIT_NOFILE, &lim);
    line(out, "process_max_fds", "Maximum number of open file descriptors.", "gauge",
         lim.rlim_cur == RLIM_INFINITY ? -1 : static_cast<double>(lim.rlim_cur));
    rusage ru{};
    ::getrusage(RUSAGE_SELF, &ru);
    auto secs = [](const timeval& t) { return static_cast<double>(t.tv_sec) + t.tv_usec / 1e6; };
    line(out, "process_cpu_seconds_total", "Total user and system CPU time spent in seconds.",
         "counter", secs(ru.ru_utime) + secs(ru.ru_stime));
    line(out, "process_start_time_seconds",
         "Start time of the process since unix epoch in seconds.", "gauge", kStartSeconds);
    out +=
        "# HELP ssechat_build_info The version and commit of this binary.\n"
        "# TYPE ssechat_build_info gauge\n";
    out += std::string("ssechat_build_info{version=\"") + build::version + "\",commit=\"" +
           build::commit + "\"} 1\n";
}

}  // namespace ssechat::prom
