// z3fold-harden: chunk and buddy geometry. A 4 KiB page holds a header and up
// to three objects (FIRST after the header, MIDDLE anywhere between, LAST
// ending at the page end), all sized in 64-byte chunks.
#pragma once
#include <cstddef>
#include <cstdint>

// Marks a function whose unsigned wrap or narrowing is the design (2-bit
// counters such as first_num, handle masks), for UBSan's
// unsigned-integer-overflow and implicit-conversion checks. Each use says why.
#if defined(__clang__)
#define Z3FH_INTENTIONAL_WRAP __attribute__((no_sanitize("unsigned-integer-overflow", "implicit-conversion")))
#else
#define Z3FH_INTENTIONAL_WRAP
#endif

namespace z3fh {

inline constexpr int PAGE_SHIFT = 12;
inline constexpr size_t PAGE_SIZE = size_t{1} << PAGE_SHIFT;
inline constexpr uintptr_t PAGE_MASK = ~(uintptr_t{PAGE_SIZE} - 1);

// NCHUNKS_ORDER 6: 64 chunks a page, so CHUNK_SHIFT = PAGE_SHIFT - 6 = 6.
inline constexpr int NCHUNKS_ORDER = 6;
inline constexpr int CHUNK_SHIFT = PAGE_SHIFT - NCHUNKS_ORDER;
inline constexpr size_t CHUNK_SIZE = size_t{1} << CHUNK_SHIFT;

// The header is rounded up to whole chunks. Upstream's z3fold_header is 84
// bytes on 64-bit (list, lock, kref, work_struct, slots, pool, counters), so
// two chunks; ours is held to the same size in every build, so the chunk
// arithmetic (and every schedule) is the same in native and controlled builds.
inline constexpr size_t ZHDR_SIZE_ALIGNED = 2 * CHUNK_SIZE;
inline constexpr int ZHDR_CHUNKS = static_cast<int>(ZHDR_SIZE_ALIGNED >> CHUNK_SHIFT);
inline constexpr int TOTAL_CHUNKS = static_cast<int>(PAGE_SIZE >> CHUNK_SHIFT);
inline constexpr int NCHUNKS = TOTAL_CHUNKS - ZHDR_CHUNKS;  // 62

static_assert(ZHDR_SIZE_ALIGNED <= PAGE_SIZE - CHUNK_SIZE, "BUILD_BUG_ON in upstream");
static_assert(NCHUNKS == 62);

// Compaction moves MIDDLE only for a gain of at least this many chunks.
inline constexpr int BIG_CHUNK_GAP = 3;

// Largest object that still fits beside a header; larger ones get a headless page.
inline constexpr size_t MAX_BUDDY_SIZE = PAGE_SIZE - ZHDR_SIZE_ALIGNED - CHUNK_SIZE;

enum class Buddy : int { HEADLESS = 0, FIRST = 1, MIDDLE = 2, LAST = 3 };
inline constexpr int BUDDY_MASK = 0x3;
inline constexpr int BUDDY_SHIFT = 2;
inline constexpr int BUDDIES = 4;  // slots per slots object (index = (bud + first_num) & BUDDY_MASK)

// size_to_chunks: ceil(size / CHUNK_SIZE).
constexpr int size_to_chunks(size_t size) { return static_cast<int>((size + CHUNK_SIZE - 1) >> CHUNK_SHIFT); }

const char* buddy_name(Buddy b);

}  // namespace z3fh
