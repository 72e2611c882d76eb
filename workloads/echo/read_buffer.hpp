#pragma once
// Where a connection of echo's servers keeps its read buffer, for the models
// whose server echo and idle share with different buffers: echo reads up to
// 16 KiB at a time into a heap buffer (it does not fit a 16 KiB fiber
// stack), idle reads 256 bytes into a buffer on the unit's own stack or
// coroutine frame, because what an idle connection costs includes it.
#include <array>
#include <cstddef>
#include <memory>

namespace cmbench::echo {

enum class BufferOn { heap, unit };

template <size_t N, BufferOn where>
class ReadBuffer;

template <size_t N>
class ReadBuffer<N, BufferOn::heap> {
 public:
  char* data() noexcept { return buf_.get(); }
  static constexpr size_t size() noexcept { return N; }

 private:
  std::unique_ptr<char[]> buf_{new char[N]};
};

template <size_t N>
class ReadBuffer<N, BufferOn::unit> {
 public:
  char* data() noexcept { return buf_.data(); }
  static constexpr size_t size() noexcept { return N; }

 private:
  std::array<char, N> buf_;
};

}  // namespace cmbench::echo
