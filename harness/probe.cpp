#include "harness/probe.hpp"

#include <sys/mman.h>

#include <new>

#include "harness/errors.hpp"

namespace cmbench {

namespace {

double seconds(const timeval& tv) { return static_cast<double>(tv.tv_sec) + tv.tv_usec / 1e6; }

}  // namespace

Probe::~Probe() {
  if (hists_) munmap(hists_, map_bytes_);
}

std::span<Histogram> Probe::latency_histograms(size_t units) {
  if (hists_) {
    munmap(hists_, map_bytes_);
    hists_ = nullptr;
  }
  nhists_ = units;
  map_bytes_ = sizeof(Histogram) * (units == 0 ? 1 : units);
  // Shared so that forked children record into the same histograms; the
  // mapping is touched here, before the timed region, so page faults on
  // first use do not land inside it.
  void* mem = mmap(nullptr, map_bytes_, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
  if (mem == MAP_FAILED) throw_errno("mmap(latency histograms)");
  hists_ = static_cast<Histogram*>(mem);
  for (size_t i = 0; i < units; ++i) new (&hists_[i]) Histogram();
  return {hists_, units};
}

Probe::Usage Probe::read_usage() {
  Usage u;
  getrusage(RUSAGE_SELF, &u.self);
  getrusage(RUSAGE_CHILDREN, &u.children);
  return u;
}

void Probe::start() {
  start_usage_ = read_usage();
  start_ns_ = now_ns();
}

void Probe::stop() {
  stop_ns_ = now_ns();
  stop_usage_ = read_usage();
}

void Probe::verify(const Verdict& verdict) {
  verified_ = true;
  verdict_ = verdict;
}

void Probe::note(const std::string& key, nlohmann::json value) { notes_[key] = std::move(value); }

Histogram Probe::merged_latency() const {
  Histogram all;
  for (size_t i = 0; i < nhists_; ++i) all.merge(hists_[i]);
  return all;
}

nlohmann::json Probe::metrics() const {
  auto delta = [&](auto field) {
    return (stop_usage_.self.*field) - (start_usage_.self.*field) +
           (stop_usage_.children.*field) - (start_usage_.children.*field);
  };
  auto cpu = [&](timeval rusage::*field) {
    return seconds(stop_usage_.self.*field) - seconds(start_usage_.self.*field) +
           seconds(stop_usage_.children.*field) - seconds(start_usage_.children.*field);
  };
  nlohmann::json m;
  const double wall = static_cast<double>(stop_ns_ - start_ns_) / 1e9;
  m["wall_s"] = wall;
  m["operations"] = operations_;
  m["ops_per_s"] = wall > 0 ? static_cast<double>(operations_) / wall : 0.0;
  m["ns_per_op"] = operations_ ? static_cast<double>(stop_ns_ - start_ns_) / operations_ : 0.0;
  m["cpu_user_s"] = cpu(&rusage::ru_utime);
  m["cpu_sys_s"] = cpu(&rusage::ru_stime);
  m["ctx_voluntary"] = delta(&rusage::ru_nvcsw);
  m["ctx_involuntary"] = delta(&rusage::ru_nivcsw);
  // Per operation, so models with different unit counts compare directly.
  const double ops = operations_ ? static_cast<double>(operations_) : 1.0;
  m["cpu_ns_per_op"] = (m["cpu_user_s"].get<double>() + m["cpu_sys_s"].get<double>()) * 1e9 / ops;
  m["ctx_per_op"] = static_cast<double>(delta(&rusage::ru_nvcsw) + delta(&rusage::ru_nivcsw)) / ops;
  Histogram lat = merged_latency();
  if (lat.count() > 0) {
    m["latency_ns"] = {
        {"count", lat.count()},      {"min", lat.min()},           {"mean", lat.mean()},
        {"p50", lat.quantile(0.5)},  {"p90", lat.quantile(0.9)},   {"p99", lat.quantile(0.99)},
        {"p999", lat.quantile(0.999)}, {"max", lat.max()},
    };
  }
  return m;
}

}  // namespace cmbench
