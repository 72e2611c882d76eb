#pragma once
// Bystander pairs (workloads/common/bystanders.hpp) in the process model, for
// every workload that runs them beside its own units (blocking, fairness):
// pingpong's exchange, two forked processes and a pipe each way. A writes v
// and reads v + 1 until the workload's units are done, then closes its write
// end; B reads end of file and exits. Both write their tallies into the
// shared mapping the workload gives, which the parent reads after reaping.
#include <cerrno>
#include <cstdint>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "harness/cell/errors.hpp"
#include "harness/cell/histogram.hpp"
#include "models/process/process.hpp"
#include "workloads/common/bystanders.hpp"

namespace cmbench::bystanders::process {

class Pairs {
 public:
  // Makes every pair's pipes (before probe.start(): setup). `tallies` lives
  // in memory shared with the children; `workload` names the workload in a
  // failure.
  Pairs(std::span<Tally> tallies, std::span<Histogram> hists, std::string workload)
      : tallies_(tallies), hists_(hists), workload_(std::move(workload)) {
    for (size_t i = 0; i < tallies.size(); ++i) {
      to_b_.push_back(models::process::make_pipe());
      to_a_.push_back(models::process::make_pipe());
    }
  }

  // Forks B and A of every pair into `children`. A checks done() once per
  // round trip (so it makes at least one) and stops when it returns true;
  // done() reads memory the workload's units share with A.
  template <typename Done>
  void spawn(models::process::Children& children, Done done) {
    namespace pm = models::process;
    for (size_t i = 0; i < tallies_.size(); ++i) {
      children.spawn([this, i] {  // B
        close_all_but(i);
        to_b_[i].write.close();
        to_a_[i].read.close();
        uint64_t v, answered = 0;
        while (pm::read_exact(to_b_[i].read, &v, sizeof v)) {
          const uint64_t r = v + 1;
          pm::write_all(to_a_[i].write, &r, sizeof r);
          ++answered;
        }
        tallies_[i].answered = answered;
      });
      children.spawn([this, i, done] {  // A
        close_all_but(i);
        to_b_[i].read.close();
        to_a_[i].write.close();
        Tally t;
        RoundTrips laps(hists_[i]);
        uint64_t v = 0;
        do {
          pm::write_all(to_b_[i].write, &v, sizeof v);
          uint64_t got;
          if (!pm::read_exact(to_a_[i].read, &got, sizeof got))
            throw SystemError(workload_ + ": a bystander's answering process is gone", EPIPE);
          laps.lap();
          reply(t, v, got);
          ++v;
        } while (!done());
        tallies_[i].replies = t.replies;
        tallies_[i].wrong = t.wrong;
        to_b_[i].write.close();  // B reads end of file
      });
    }
  }

  // Closes every pair's pipe ends: in each of the workload's own children
  // (which must not hold a pair's pipe open, or B would never see end of
  // file) and in the parent once every child is forked.
  void close_all() { close_all_but(tallies_.size()); }

 private:
  // A child keeps only the ends of its own pair.
  void close_all_but(size_t mine) {
    for (size_t j = 0; j < to_b_.size(); ++j) {
      if (j == mine) continue;
      to_b_[j].read.close();
      to_b_[j].write.close();
      to_a_[j].read.close();
      to_a_[j].write.close();
    }
  }

  std::span<Tally> tallies_;
  std::span<Histogram> hists_;
  std::string workload_;
  std::vector<models::process::Pipe> to_b_, to_a_;
};

}  // namespace cmbench::bystanders::process
