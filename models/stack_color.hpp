#pragma once
// Stack coloring, for every runtime whose stacks the suite lays out itself:
// the fiber model's StackPool (models/fiber/stack_pool.hpp) and the
// boost-fiber model's StackAllocator (models/boost_fiber/runtime.hpp).
//
// Stacks of a pool are a whole number of pages apart, so without coloring
// every fiber's first frames (the ones a parked fiber keeps and a resumed
// one reads) would lie at the same offset in their pages: in the same few
// sets of the L1 cache, which is indexed by that offset, and of the L2,
// indexed by it and a few bits of the physical page. ring's 503 fibers,
// visited in turn, then missed where they would fit, by an amount that
// depended on which physical pages the process got. So consecutive stacks
// start at offsets kStackColorStep bytes apart (Boost.Context aligns its
// record, the top of a fiber's frames, down to 256). The fiber model's
// slots must stay whole pages (guard pages), so slot k's stack starts lower
// than its top by (k % colors) steps, with one color per
// kStackColorBytesPer bytes of stack, a power of two, at most
// kMaxStackColors (a 4 KiB stack gets 2, 16 KiB and up 8: at most 1,792
// bytes); the boost-fiber model's chunks are one step longer than a stack.
// glibc's threads have the same (nptl's COLORING_INCREMENT).
#include <algorithm>
#include <bit>
#include <cstddef>

namespace cmbench {

inline constexpr std::size_t kStackColorStep = 256;
inline constexpr std::size_t kMaxStackColors = 8;
inline constexpr std::size_t kStackColorBytesPer = 2048;

// The colors of stacks of `stack_size` bytes: a power of two, 1 to 8.
constexpr std::size_t stack_colors(std::size_t stack_size) noexcept {
  return std::bit_floor(std::clamp<std::size_t>(stack_size / kStackColorBytesPer, 1, kMaxStackColors));
}

}  // namespace cmbench
