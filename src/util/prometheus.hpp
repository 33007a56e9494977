// The Prometheus text format: fixed-bucket histograms, metric lines, and the standard
// process_* metrics. Each layer renders its own counters with these; /metrics joins them.
#pragma once
#include <array>
#include <atomic>
#include <cstdint>
#include <initializer_list>
#include <string>
#include <utility>

namespace ssechat::prom {

// Fixed buckets (seconds or counts); observe() is lock-free.
class Histogram {
  public:
    static constexpr size_t kBuckets = 12;
    explicit Histogram(std::array<double, kBuckets> bounds) : bounds_(bounds) {}
    void observe(double v);
    void render(std::string& out, const std::string& name, const std::string& help) const;

  private:
    std::array<double, kBuckets> bounds_;
    std::array<std::atomic<uint64_t>, kBuckets + 1> counts_{};
    std::atomic<uint64_t> count_{0};
    std::atomic<double> sum_{0};
};

// A value as Prometheus reads it: exact for counters past 10^9.
std::string num(double v);
// One metric with its HELP and TYPE.
void line(std::string& out, const std::string& name, const std::string& help, const char* type,
          double v);
// One metric with a label, one line per label value.
void labeled(std::string& out, const std::string& name, const std::string& help, const char* type,
             const char* label, std::initializer_list<std::pair<const char*, double>> values);
// The process_* metrics of Prometheus' client libraries (from /proc and getrusage), and
// ssechat_build_info.
void process(std::string& out);

}  // namespace ssechat::prom
