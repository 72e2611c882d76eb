#include "models/thread/thread_group.hpp"

#include "harness/cell/errors.hpp"

namespace cmbench::models::thread {

ThreadGroup::ThreadGroup(size_t expected) { threads_.reserve(expected); }

ThreadGroup::~ThreadGroup() {
  if (!started_) {
    aborted_ = true;
    gate_.count_down();
  }
  for (auto& t : threads_)
    if (t.joinable()) t.join();
}

void ThreadGroup::start() {
  started_ = true;
  gate_.count_down();
}

void ThreadGroup::join(size_t begin, size_t end) {
  for (size_t i = begin; i < end && i < threads_.size(); ++i)
    if (threads_[i].joinable()) threads_[i].join();
}

void ThreadGroup::abandon(const std::string& call, int err) {
  const size_t created = threads_.size();
  aborted_ = true;
  started_ = true;  // the gate is open now; the destructor must not count it down again
  gate_.count_down();
  join_all();
  throw_errno(call + " after " + std::to_string(created) + " threads", err);
}

}  // namespace cmbench::models::thread
