// The program format: round trips, strict errors, a total decoder after the
// header, and a structural mutator that only ever produces programs.
#include <gtest/gtest.h>

#include <random>

#include "mutate/mutator.h"
#include "layout.h"
#include "program/program.h"

namespace z3fh::fuzz {
namespace {

TEST(Program, EncodeDecodeRoundTrip) {
    std::mt19937 rng(1);
    for (int i = 0; i < 2000; i++) {
        Program p = random_program(rng);
        mutate_program(p, rng, nullptr);
        std::vector<uint8_t> b = encode(p);
        Program q;
        std::string why;
        ASSERT_EQ(decode_strict(b.data(), b.size(), &q, &why), DecodeError::ok) << why;
        ASSERT_EQ(p, q);
    }
}

// The user is bit 1 of the vCPU byte: programs written before it existed
// (that byte 0 or 1) keep the zpool user; --user's names parse, others not.
TEST(Program, UserIsBitsOneAndTwoOfTheVcpuByte) {
    Program p;
    p.vcpus = 2;
    p.ops = {{OpKind::alloc, 0, 1}};
    std::vector<uint8_t> b = encode(p);
    EXPECT_EQ(b[kHeaderSize + 1], 1);
    p.user = UserKind::zswap;
    b = encode(p);
    EXPECT_EQ(b[kHeaderSize + 1], 3);
    Program q;
    std::string why;
    ASSERT_EQ(decode_strict(b.data(), b.size(), &q, &why), DecodeError::ok) << why;
    EXPECT_EQ(q.user, UserKind::zswap);
    EXPECT_EQ(q.vcpus, 2);
    UserKind u = UserKind::zpool;
    bool any = false;
    EXPECT_TRUE(parse_user_kind("zswap", &u, &any));
    EXPECT_EQ(u, UserKind::zswap);
    EXPECT_FALSE(any);
    EXPECT_TRUE(parse_user_kind("any", &u, &any));
    EXPECT_TRUE(any);
    EXPECT_NE(to_text(q).find("user zswap"), std::string::npos);
    // zram: bit 2 (and both bits, from a mutated input)
    EXPECT_TRUE(parse_user_kind("zram", &u, &any));
    EXPECT_EQ(u, UserKind::zram);
    p.user = UserKind::zram;
    b = encode(p);
    EXPECT_EQ(b[kHeaderSize + 1], 5);
    ASSERT_EQ(decode_strict(b.data(), b.size(), &q, &why), DecodeError::ok) << why;
    EXPECT_EQ(q.user, UserKind::zram);
    b[kHeaderSize + 1] = 7;
    ASSERT_EQ(decode_strict(b.data(), b.size(), &q, &why), DecodeError::ok) << why;
    EXPECT_EQ(q.user, UserKind::zram);
    EXPECT_FALSE(parse_user_kind("zbud", &u, &any));
}

TEST(Program, StrictDecoderNamesEachError) {
    Program p;
    p.ops = {{OpKind::alloc, 0, 1}};
    std::vector<uint8_t> b = encode(p);
    Program q;
    std::string why;
    EXPECT_EQ(decode_strict(b.data(), 3, &q, &why), DecodeError::truncated);
    std::vector<uint8_t> bad = b;
    bad[0] = 'X';
    EXPECT_EQ(decode_strict(bad.data(), bad.size(), &q, &why), DecodeError::not_ours);
    bad = b;
    bad[4] = 3;
    EXPECT_EQ(decode_strict(bad.data(), bad.size(), &q, &why), DecodeError::bad_version);
    EXPECT_EQ(decode_strict(b.data(), b.size() - 1, &q, &why), DecodeError::truncated);
    bad = b;
    bad.push_back(0);
    EXPECT_EQ(decode_strict(bad.data(), bad.size(), &q, &why), DecodeError::length_mismatch);
    EXPECT_NE(why.find("header says"), std::string::npos);
}

// After a valid magic, every byte string is a valid program within bounds.
TEST(Program, DecoderIsTotalAfterTheHeaderOver100000Inputs) {
    std::mt19937 rng(2);
    std::vector<uint8_t> base = encode(random_program(rng));
    for (int i = 0; i < 100000; i++) {
        std::vector<uint8_t> b;
        if (i % 2) {
            b = base;
            for (int k = 0; k < 1 + static_cast<int>(rng() % 8); k++) b[4 + rng() % (b.size() - 4)] = static_cast<uint8_t>(rng());
            b.resize(4 + rng() % (b.size() - 3));
        } else {
            b.resize(4 + rng() % 200);
            for (auto& x : b) x = static_cast<uint8_t>(rng());
        }
        std::copy(std::begin(kMagic), std::end(kMagic), b.begin());
        Program p;
        ASSERT_TRUE(decode_lenient(b.data(), b.size(), &p));
        ASSERT_GE(p.threads, 1);
        ASSERT_LE(p.threads, kMaxThreads);
        ASSERT_GE(p.vcpus, 1);
        ASSERT_LE(p.ops.size(), kMaxOps);
        for (const Op& op : p.ops) {
            ASSERT_LT(op.thread, p.threads);
            ASSERT_LT(static_cast<int>(op.kind), static_cast<int>(OpKind::count));
        }
    }
}

TEST(Program, ForeignBytesAreNotOurs) {
    uint8_t junk[16] = {1, 2, 3};
    Program p;
    EXPECT_FALSE(decode_lenient(junk, sizeof junk, &p));
    EXPECT_FALSE(decode_lenient(junk, 0, &p));
}

TEST(Program, SizeClassesCoverEveryBoundary) {
    const auto& c = size_classes();
    auto has = [&](size_t s) { return std::find(c.begin(), c.end(), s) != c.end(); };
    EXPECT_TRUE(has(0));                   // -EINVAL
    EXPECT_TRUE(has(z3fh::PAGE_SIZE + 1));       // -ENOSPC
    EXPECT_TRUE(has(MAX_BUDDY_SIZE));      // largest buddy
    EXPECT_TRUE(has(MAX_BUDDY_SIZE + 1));  // smallest headless
    EXPECT_TRUE(has(64));
    EXPECT_TRUE(has(65));
    EXPECT_EQ(c.size(), 32u) << "5 bits of the alloc argument";
}

TEST(Program, TextFormNamesEveryOp) {
    Program p;
    p.threads = 2;
    p.ops = {{OpKind::alloc, 0, 0x21}, {OpKind::reclaim, 1, 3}, {OpKind::migrate, 1, 2}};
    p.schedule = {4, 1};
    std::string t = to_text(p);
    EXPECT_NE(t.find("thread T0"), std::string::npos);
    EXPECT_NE(t.find("alloc  slot 1 size"), std::string::npos);
    EXPECT_NE(t.find("reclaim retries 4"), std::string::npos);
    EXPECT_NE(t.find("run 4 then switch to #1"), std::string::npos);
}

TEST(Mutator, AlwaysProducesADecodableProgram) {
    std::mt19937 rng(3);
    std::vector<uint8_t> buf(4096);
    size_t size = 0;
    for (int i = 0; i < 20000; i++) {
        size = mutate_buffer(buf.data(), size, buf.size(), static_cast<unsigned>(rng()), nullptr);
        Program p;
        std::string why;
        ASSERT_EQ(decode_strict(buf.data(), size, &p, &why), DecodeError::ok) << why;
    }
}

TEST(Mutator, CrossoverSplicesOps) {
    std::mt19937 rng(4);
    Program a = random_program(rng), b = random_program(rng);
    std::vector<uint8_t> ea = encode(a), eb = encode(b), out(4096);
    size_t n = crossover_buffers(ea.data(), ea.size(), eb.data(), eb.size(), out.data(), out.size(), 9);
    Program c;
    std::string why;
    ASSERT_EQ(decode_strict(out.data(), n, &c, &why), DecodeError::ok) << why;
    EXPECT_LE(c.ops.size(), a.ops.size() + b.ops.size());
}

}  // namespace
}  // namespace z3fh::fuzz
