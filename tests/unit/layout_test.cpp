// Chunk and buddy arithmetic at every boundary.
#include <gtest/gtest.h>

#include "page_header.h"

// The header helpers require the page lock (Z3FH_REQUIRES); these tests
// call them on a header of their own that no thread shares.
#if defined(__clang__)
#pragma clang diagnostic ignored "-Wthread-safety-analysis"
#endif

namespace z3fh {
namespace {

TEST(Layout, ConstantsMatchUpstreamWithTwoChunkHeader) {
    EXPECT_EQ(CHUNK_SIZE, 64u);
    EXPECT_EQ(ZHDR_CHUNKS, 2);
    EXPECT_EQ(TOTAL_CHUNKS, 64);
    EXPECT_EQ(NCHUNKS, 62);
    EXPECT_EQ(MAX_BUDDY_SIZE, 4096u - 128u - 64u);
}

TEST(Layout, SizeToChunksRoundsUp) {
    EXPECT_EQ(size_to_chunks(1), 1);
    EXPECT_EQ(size_to_chunks(63), 1);
    EXPECT_EQ(size_to_chunks(64), 1);
    EXPECT_EQ(size_to_chunks(65), 2);
    EXPECT_EQ(size_to_chunks(128), 2);
    EXPECT_EQ(size_to_chunks(MAX_BUDDY_SIZE), 61);
    EXPECT_EQ(size_to_chunks(PAGE_SIZE), 64);
}

// A header with the given chunk fields (headers hold locks: not copyable).
Z3foldHeader& make(int first, int middle, int last, int start_middle) {
    static Z3foldHeader z{};
    z.first_num = 0;
    z.first_chunks = static_cast<uint16_t>(first);
    z.middle_chunks = static_cast<uint16_t>(middle);
    z.last_chunks = static_cast<uint16_t>(last);
    z.start_middle = static_cast<uint16_t>(start_middle);
    return z;
}

TEST(Layout, NumFreeChunksWithoutMiddle) {
    auto& z = make(0, 0, 0, 0);
    EXPECT_EQ(num_free_chunks(&z), NCHUNKS);
    make(10, 0, 0, 0);
    EXPECT_EQ(num_free_chunks(&z), NCHUNKS - 10);
    make(10, 0, 20, 0);
    EXPECT_EQ(num_free_chunks(&z), NCHUNKS - 30);
}

TEST(Layout, NumFreeChunksWithMiddleTakesLargerGap) {
    // FIRST free, middle at chunk 12 of size 5: before = 10, after = 64-17 = 47.
    auto& z = make(0, 5, 0, 12);
    EXPECT_EQ(num_free_chunks(&z), 47);
    // LAST occupied: only the gap before counts.
    make(0, 5, 30, 12);
    EXPECT_EQ(num_free_chunks(&z), 10);
    // FIRST occupied, LAST free: only the gap after.
    make(10, 5, 0, 12);
    EXPECT_EQ(num_free_chunks(&z), 47);
    // Both occupied: nothing.
    make(10, 5, 30, 12);
    EXPECT_EQ(num_free_chunks(&z), 0);
}

TEST(Layout, GetFreeBuddyOrderWithoutMiddle) {
    auto& z = make(0, 0, 0, 0);
    EXPECT_EQ(get_free_buddy(&z, 5), Buddy::FIRST);
    make(3, 0, 0, 0);
    EXPECT_EQ(get_free_buddy(&z, 5), Buddy::LAST);
    make(3, 0, 4, 0);
    EXPECT_EQ(get_free_buddy(&z, 5), Buddy::MIDDLE);
}

TEST(Layout, GetFreeBuddyWithMiddle) {
    // FIRST free and the object fits before MIDDLE.
    auto& z = make(0, 5, 0, 12);
    EXPECT_EQ(get_free_buddy(&z, 10), Buddy::FIRST);
    // Does not fit before MIDDLE: LAST.
    EXPECT_EQ(get_free_buddy(&z, 11), Buddy::LAST);
    make(3, 5, 0, 5);
    EXPECT_EQ(get_free_buddy(&z, 1), Buddy::LAST);
    make(3, 5, 4, 5);
    EXPECT_EQ(get_free_buddy(&z, 1), Buddy::HEADLESS);
}

TEST(Layout, BuddySingle) {
    auto& z = make(0, 0, 0, 0);
    EXPECT_TRUE(buddy_single(&z));
    make(0, 3, 0, 4);
    EXPECT_TRUE(buddy_single(&z));
    make(1, 3, 0, 4);
    EXPECT_FALSE(buddy_single(&z));
    make(1, 0, 2, 0);
    EXPECT_FALSE(buddy_single(&z));
}

TEST(Layout, SlotIndexWrapsWithFirstNum) {
    auto& z = make(0, 0, 0, 0);
    for (int fn = 0; fn < 4; fn++) {
        z.first_num = static_cast<uint8_t>(fn) & 3U;
        for (int b = 1; b <= 3; b++)
            EXPECT_EQ(slot_index(&z, static_cast<Buddy>(b)), (b + fn) & 3);
    }
}

}  // namespace
}  // namespace z3fh
