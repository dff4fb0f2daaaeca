// Per-vCPU unbuddied lists: this vCPU's lists for any fit, other vCPUs' only
// for an exact fit.
#include "sync/sync.h"
#include "test_pool.h"

namespace z3fh::test {
namespace {

struct VcpuGuard {
    explicit VcpuGuard(int v) { sync::set_current_vcpu(v); }
    ~VcpuGuard() { sync::set_current_vcpu(0); }
};

TEST(Vcpu, PageIsListedOnTheAllocatingVcpu) {
    TestPool p(2);
    VcpuGuard g(1);
    Handle a = p.alloc_ok(64 * 10);
    auto s = p.snap();
    EXPECT_EQ(s.pages[0].unbuddied_cpu, 1);
    EXPECT_EQ(s.pages[0].cpu, 1);
    EXPECT_EQ(s.pages[0].unbuddied_index, NCHUNKS - 10);
    p->free(a);
}

TEST(Vcpu, ExactFitIsFoundOnAnotherVcpu) {
    TestPool p(2);
    sync::set_current_vcpu(0);
    Handle a = p.alloc_ok(64 * 10);
    sync::set_current_vcpu(1);
    Handle b = p.alloc_ok(64 * (NCHUNKS - 10));  // exactly what page 1 has free
    EXPECT_EQ(p.page_of(a), p.page_of(b));
    sync::set_current_vcpu(0);
    p->free(a);
    p->free(b);
}

TEST(Vcpu, InexactFitOnAnotherVcpuGetsANewPage) {
    TestPool p(2);
    sync::set_current_vcpu(0);
    Handle a = p.alloc_ok(64 * 10);
    sync::set_current_vcpu(1);
    Handle b = p.alloc_ok(64 * 5);
    EXPECT_NE(p.page_of(a), p.page_of(b));
    EXPECT_EQ(p->total_pages(), 2u);
    sync::set_current_vcpu(0);
    Handle c = p.alloc_ok(64 * 5);
    EXPECT_EQ(p.page_of(a), p.page_of(c)) << "any fit on the own vCPU";
    for (Handle h : {a, b, c}) p->free(h);
}

TEST(Vcpu, OneVcpuPoolUsesOneSetOfLists) {
    TestPool p(1);
    Handle a = p.alloc_ok(64 * 10), b = p.alloc_ok(64 * 7);
    EXPECT_EQ(p.page_of(a), p.page_of(b));
    p->free(a);
    p->free(b);
}

}  // namespace
}  // namespace z3fh::test
