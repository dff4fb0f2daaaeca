// z3fold-harden: the harness's fixes for the findings in the kernel's own
// mm/z3fold.c, 6.1's and 6.12's (docs/findings.md), each as
// identifier-anchored edits with the text its patch mail carries; and the
// edit machinery they share with the planted defects.
#include <fmt/format.h>

#include <regex>

#include "kernel_edits.h"

namespace z3fh::tool {

namespace {

// The body of `name` in C text: from its definition's "{" to the matching "}".
bool function_span(const std::string& text, const std::string& name, size_t* begin, size_t* end) {
    std::regex def("\\b" + name + R"(\s*\([^;{()]*\)\s*\{)");
    std::smatch m;
    if (!std::regex_search(text, m, def)) return false;
    size_t i = static_cast<size_t>(m.position(0) + m.length(0));
    int depth = 1;
    for (; i < text.size() && depth > 0; i++) {
        if (text[i] == '{') depth++;
        if (text[i] == '}') depth--;
    }
    *begin = static_cast<size_t>(m.position(0));
    *end = i;
    return depth == 0;
}

}  // namespace

bool apply_edits(std::string* text, const std::vector<KernelEdit>& edits, std::string* why) {
    for (const KernelEdit& e : edits) {
        size_t b = 0, en = text->size();
        if (*e.function && !function_span(*text, e.function, &b, &en)) {
            *why = fmt::format("no function {} in the file (the edits were written for another version of it)", e.function);
            return false;
        }
        std::string body = text->substr(b, en - b);
        std::regex re(e.pattern);
        if (!std::regex_search(body, re)) {
            *why = fmt::format("the code an edit changes is not in {} (the edits were written for another version of the file)",
                               *e.function ? e.function : "the file");
            return false;
        }
        body = std::regex_replace(body, re, e.replacement, std::regex_constants::format_first_only);
        *text = text->substr(0, b) + body + text->substr(en);
    }
    return true;
}

namespace {

// K15's window and fix, the same in both series; what differs is the
// caller that spins with preemption off.
const std::string kK15Window =
    "z3fold_page_migrate() sets PAGE_MIGRATED on the old page and unlocks\n"
    "its header before it locks the new header and re-encodes the\n"
    "handles; only the page lock, a sleeping lock, is held in between.\n"
    "get_z3fold_header() spins, with cpu_relax(), while a handle names a\n"
    "page with PAGE_MIGRATED set. ";
const std::string kK15Fix =
    "Take the new header's lock (the page is not reachable yet) before\n"
    "publishing the move, so the window runs with preemption off (on\n"
    "!PREEMPT_RT). The old header is still locked then, and a page that\n"
    "migration made has its lock initialised here, so the two may be of\n"
    "one lockdep class: spin_lock_nested().";

const std::vector<KernelFix>& fixes_6_1() {
    static const std::vector<KernelFix> fixes = {
        {"K1", "clear PAGE_CLAIMED on the page a migration made",
         "z3fold_page_isolate() claims the page (PAGE_CLAIMED) and\n"
         "z3fold_page_migrate() copies the whole header, page->private\n"
         "included, to the new page. Nothing clears the claim there: the new\n"
         "page is never compacted, listed as unbuddied or reclaimed again, and\n"
         "a later isolation of it fails for good.\n\n"
         "Clear PAGE_CLAIMED on the new page where its other flags are set.",
         {"invariant:page-state-at-rest", "invariant:claimed"},
         {{"z3fold_page_migrate", R"(set_bit\(NEEDS_COMPACTING, &newpage->private\);)",
           "set_bit(NEEDS_COMPACTING, &newpage->private);\n\tclear_bit(PAGE_CLAIMED, &newpage->private);"}}},
        {"K2", "never list an empty page as unbuddied",
         "Reclaim can claim a page whose objects are all gone (freed inside\n"
         "evict, or by frees before) while its compaction work still holds a\n"
         "reference. Its put is then not the last one, so it re-lists the\n"
         "empty page with add_to_unbuddied(), at unbuddied[NCHUNKS]: one past\n"
         "the end of the per-CPU array, in the next CPU's lists or beyond the\n"
         "allocation.\n\n"
         "An empty page is released by its last put; add_to_unbuddied() must\n"
         "not list it.",
         {"percpu-out-of-bounds", "sanitizer:heap-buffer-overflow"},
         {{"add_to_unbuddied", R"(int freechunks = num_free_chunks\(zhdr\);)",
           "int freechunks = num_free_chunks(zhdr);\n\n\t\tif (freechunks >= NCHUNKS)\n\t\t\treturn;"}}},
        {"K3", "free the handle of an object freed while its page is claimed",
         "z3fold_free() skips free_handle() when the page is claimed (by reclaim\n"
         "or isolation), leaving the handle of a freed object in the page's\n"
         "slots. When the page lives on, that handle is never cleared; once\n"
         "first_num moves the buddies, the slots object is never freed either\n"
         "(kmemleak_not_leak() hides it). Reclaim evicts through its own\n"
         "stack copies of the handles, so the page's handles of what evict\n"
         "freed stay behind the same way.\n\n"
         "Free the handle always; in reclaim, read zhdr->slots under the page\n"
         "lock and free it only if free_handle() has not (it then leaves NULL\n"
         "there, and kmem_cache_free() does not take NULL), and free the page's\n"
         "handles of the objects evict freed when the page lives on.",
         {"invariant:slots-accounting", "leak@alloc_slots"},
         {{"z3fold_free", R"(if \(!page_claimed\)\s*free_handle\(handle, zhdr\);)", "free_handle(handle, zhdr);"},
          {"z3fold_reclaim_page", R"(struct z3fold_buddy_slots \*slots = zhdr->slots;\s*z3fold_page_lock\(zhdr\);)",
           "struct z3fold_buddy_slots *slots;\n\n\t\t\tz3fold_page_lock(zhdr);\n\t\t\tslots = zhdr->slots;"},
          // free_handle() may now have freed the slots (zhdr->slots is then
          // NULL), and kmem_cache_free() does not take NULL.
          {"z3fold_reclaim_page", R"(kmem_cache_free\(pool->c_handle, slots\);\s*return 0;)",
           "if (slots)\n\t\t\t\t\tkmem_cache_free(pool->c_handle, slots);\n\t\t\t\treturn 0;"},
          {"z3fold_reclaim_page",
           R"((release_z3fold_page_locked\)\) \{\s*if \(slots\)\s*kmem_cache_free\(pool->c_handle, slots\);\s*return 0;\s*\}))",
           "$1\n\t\t\t/* free the page's own handles of the objects evict freed */\n"
           "\t\t\tif (first_handle && !zhdr->first_chunks && zhdr->slots &&\n"
           "\t\t\t    zhdr->slots->slot[__idx(zhdr, FIRST)])\n"
           "\t\t\t\tfree_handle((unsigned long)&zhdr->slots->slot[__idx(zhdr, FIRST)],\n\t\t\t\t\t    zhdr);\n"
           "\t\t\tif (middle_handle && !zhdr->middle_chunks && zhdr->slots &&\n"
           "\t\t\t    zhdr->slots->slot[__idx(zhdr, MIDDLE)])\n"
           "\t\t\t\tfree_handle((unsigned long)&zhdr->slots->slot[__idx(zhdr, MIDDLE)],\n\t\t\t\t\t    zhdr);\n"
           "\t\t\tif (last_handle && !zhdr->last_chunks && zhdr->slots &&\n"
           "\t\t\t    zhdr->slots->slot[__idx(zhdr, LAST)])\n"
           "\t\t\t\tfree_handle((unsigned long)&zhdr->slots->slot[__idx(zhdr, LAST)],\n\t\t\t\t\t    zhdr);"}}},
        {"K4", "forget a headless page reclaim could not claim",
         "The LRU walk in z3fold_reclaim_page() sets zhdr before it tests a\n"
         "headless page's PAGE_CLAIMED, and continues without clearing it. The\n"
         "claimant is a concurrent z3fold_free() of that headless object: it\n"
         "claims the page, waits for pool->lock and frees the page. If that page\n"
         "was the last one walked, reclaim goes on with it: it evicts a freed\n"
         "object and frees the page again.\n\n"
         "Clear zhdr before skipping the page.",
         {"sanitizer:heap-use-after-free", "sanitizer:double-free", "sanitizer:attempting-double-free"},
         {{"z3fold_reclaim_page", R"(if \(test_and_set_bit\(PAGE_CLAIMED, &page->private\)\)\s*continue;)",
           "if (test_and_set_bit(PAGE_CLAIMED, &page->private)) {\n\t\t\t\t\tzhdr = NULL;\n"
           "\t\t\t\t\tcontinue;\n\t\t\t\t}"}}},
        {"K5", "wait for a handle lookup before freeing a migrated page",
         "get_z3fold_header() reads a handle's address and trylocks that page\n"
         "under the slots read lock, then tests PAGE_MIGRATED after dropping it.\n"
         "Migration moves the handles and frees the old page meanwhile: the\n"
         "lookup then unlocks, and tests the flags of, a freed page.\n\n"
         "Take and drop the old page's lock once before the page goes, so a\n"
         "lookup that holds it is done with it.",
         {"sanitizer:heap-use-after-free"},
         {{"z3fold_page_migrate", R"(page->private = 0;\s*put_page\(page\);)",
           "/* a handle lookup may still hold the old page's lock */\n\tz3fold_page_lock(zhdr);\n"
           "\tz3fold_page_unlock(zhdr);\n\tpage->private = 0;\n\tput_page(page);"}}},
        {"K6", "free a headless page whose object was freed under reclaim",
         "When the owner of a headless object frees it while reclaim holds the\n"
         "page's claim, z3fold_free() leaves the page to reclaim. If evict then\n"
         "fails (zswap: -EEXIST, -ENOMEM), reclaim puts the page back on the\n"
         "LRU: a page with no object lives on and is never freed.\n\n"
         "Have z3fold_free() mark the page under pool->lock when reclaim holds\n"
         "it, and reclaim check the mark under the same lock before it gives\n"
         "the page back.",
         {"invariant:empty-page-kept"},
         {{"", R"(PAGE_MIGRATED, /\* page is migrated and soon to be released \*/)",
           "PAGE_MIGRATED, /* page is migrated and soon to be released */\n"
           "\tPAGE_FREED_CLAIMED, /* headless object freed while reclaim held the page */"},
          {"z3fold_free", R"((free_z3fold_page\(page, true\);\s*atomic64_dec\(&pool->pages_nr\);\s*\})\s*return;)",
           "$1 else {\n\t\t\t/* reclaim holds the page: tell it the object is gone */\n"
           "\t\t\tspin_lock(&pool->lock);\n\t\t\tif (test_bit(PAGE_CLAIMED, &page->private)) {\n"
           "\t\t\t\tset_bit(PAGE_FREED_CLAIMED, &page->private);\n\t\t\t\tspin_unlock(&pool->lock);\n"
           "\t\t\t} else {\n\t\t\t\tlist_del(&page->lru);\n\t\t\t\tspin_unlock(&pool->lock);\n"
           "\t\t\t\tfree_z3fold_page(page, true);\n\t\t\t\tatomic64_dec(&pool->pages_nr);\n\t\t\t}\n\t\t}\n\t\treturn;"},
          {"z3fold_reclaim_page",
           R"(spin_lock\(&pool->lock\);\s*list_add\(&page->lru, &pool->lru\);\s*spin_unlock\(&pool->lock\);\s*clear_bit\(PAGE_CLAIMED, &page->private\);\s*\} else \{)",
           "spin_lock(&pool->lock);\n\t\t\tif (test_bit(PAGE_FREED_CLAIMED, &page->private)) {\n"
           "\t\t\t\tspin_unlock(&pool->lock);\n\t\t\t\tfree_z3fold_page(page, true);\n"
           "\t\t\t\tatomic64_dec(&pool->pages_nr);\n\t\t\t\treturn 0;\n\t\t\t}\n"
           "\t\t\tlist_add(&page->lru, &pool->lru);\n\t\t\tclear_bit(PAGE_CLAIMED, &page->private);\n"
           "\t\t\tspin_unlock(&pool->lock);\n\t\t} else {"}}},
        {"K12", "free a headless page in reclaim only once its object is freed",
         "z3fold_reclaim_page() frees a headless page whenever evict returns 0.\n"
         "zswap's writeback returns 0 also when it finds no entry for the\n"
         "object (zswap_writeback_entry(): \"it's okay to return 0\"), as for an\n"
         "object whose zswap_frontswap_store() has not inserted its entry yet.\n"
         "The store then writes into, or inserts, a page reclaim has freed.\n\n"
         "Only the mark z3fold_free() leaves (PAGE_FREED_CLAIMED) proves the\n"
         "object gone; otherwise put the page back on the LRU.",
         {"sanitizer:heap-use-after-free", "invariant:handle-unresolvable"},
         {{"z3fold_reclaim_page",
           R"(if \(test_bit\(PAGE_HEADLESS, &page->private\)\) \{\s*if \(ret == 0\) \{\s*free_z3fold_page\(page, true\);\s*atomic64_dec\(&pool->pages_nr\);\s*return 0;\s*\})",
           "if (test_bit(PAGE_HEADLESS, &page->private)) {\n"
           "\t\t\t/* evict's 0 does not prove the object freed: only free's mark does */"}},
         {"K6"}},
        {"K13", "keep a new page claimed until its header is locked",
         "z3fold_alloc() makes a new page movable (__SetPageMovable(),\n"
         "unlock_page()) before it takes the header's lock. Compaction can\n"
         "isolate and migrate the page in between, with its header half set\n"
         "up; z3fold_alloc() then fills in and lists the old page, whose lru is\n"
         "on the migration list, and locks a header that migration freed.\n\n"
         "Claim the page over that window: z3fold_page_isolate() refuses a\n"
         "claimed page.",
         {"lock-not-held", "invariant:claimed-page-listed", "sanitizer:heap-use-after-free"},
         {{"z3fold_alloc", R"(if \(can_sleep\) \{\s*lock_page\(page\);)",
           "set_bit(PAGE_CLAIMED, &page->private);\n\tif (can_sleep) {\n\t\tlock_page(page);"},
          {"z3fold_alloc", R"(unlock_page\(page\);\s*\}\s*z3fold_page_lock\(zhdr\);)",
           "unlock_page(page);\n\t}\n\tz3fold_page_lock(zhdr);\n\tclear_bit(PAGE_CLAIMED, &page->private);"}}},
        {"K15", "lock the new header before publishing PAGE_MIGRATED",
         kK15Window +
             "A caller with preemption off (zswap\n"
             "frees a duplicate entry under tree->lock) that preempted the\n"
             "migration on its CPU then waits for a task that cannot run there:\n"
             "a lockup on a uniprocessor kernel with full preemption, a stall\n"
             "until the task is moved elsewhere on SMP.\n\n" +
             kK15Fix,
         {"hang"},
         {{"z3fold_page_migrate",
           R"(newpage->private = page->private;\s*set_bit\(PAGE_MIGRATED, &page->private\);\s*z3fold_page_unlock\(zhdr\);)",
           "newpage->private = page->private;"},
          {"z3fold_page_migrate", R"(z3fold_page_lock\(new_zhdr\);)",
           "/*\n\t * Lock the new header before the move is published: a lookup spins\n"
           "\t * on PAGE_MIGRATED until the handles name the new page. Nested:\n"
           "\t * the old header, maybe of the same lock class, is still locked.\n\t */\n"
           "\tspin_lock_nested(&new_zhdr->page_lock, SINGLE_DEPTH_NESTING);\n"
           "\tset_bit(PAGE_MIGRATED, &page->private);\n\tz3fold_page_unlock(zhdr);"}}},
        {"K7+K8", "let go of the old page's slots in compact_single_buddy()",
         "After compact_single_buddy() moves a page's single object to another\n"
         "page, the moved handle stays in the old page's slots object, which\n"
         "the old page still points to: freeing the moved object frees those\n"
         "slots, and the old page, if it lives on, allocates into freed memory.\n"
         "And the lookup may have given the new page a fresh slots object that\n"
         "nothing uses and nothing frees when that page goes.\n\n"
         "Drop the old page's pointer to the slots, and free an unused fresh\n"
         "slots object of the new page.",
         {"invariant:slots-accounting", "leak@alloc_slots", "sanitizer:heap-use-after-free"},
         {{"compact_single_buddy", R"(write_unlock\(&zhdr->slots->lock\);\s*add_to_unbuddied\(pool, new_zhdr\);)",
           "write_unlock(&zhdr->slots->lock);\n\t\tzhdr->slots = NULL;\n"
           "\t\tif (new_zhdr->slots && !new_zhdr->slots->slot[0] && !new_zhdr->slots->slot[1] &&\n"
           "\t\t    !new_zhdr->slots->slot[2] && !new_zhdr->slots->slot[3]) {\n"
           "\t\t\tkmem_cache_free(pool->c_handle, new_zhdr->slots);\n\t\t\tnew_zhdr->slots = NULL;\n\t\t}\n"
           "\t\tadd_to_unbuddied(pool, new_zhdr);"}}},
        {"K9", "clear MIDDLE_CHUNK_MAPPED only when the last mapping goes",
         "MIDDLE_CHUNK_MAPPED is one bit, set by every map of the middle buddy\n"
         "and cleared by every unmap. zswap's writeback maps an object its load\n"
         "still has mapped; the writeback's unmap clears the bit, and\n"
         "compaction moves the middle object under the load.\n\n"
         "Clear the bit when the page's last mapping goes.",
         {"invariant:object-contents"},
         {{"z3fold_unmap", R"((struct page \*page;)\s*enum buddy buddy;)", "$1"},
          {"z3fold_unmap",
           R"(buddy = handle_to_buddy\(handle\);\s*if \(buddy == MIDDLE\)\s*clear_bit\(MIDDLE_CHUNK_MAPPED, &page->private\);\s*zhdr->mapped_count--;)",
           "zhdr->mapped_count--;\n\tif (zhdr->mapped_count == 0)\n\t\tclear_bit(MIDDLE_CHUNK_MAPPED, &page->private);"}}},
        {"K10", "queue compaction on the CPU saved under the page lock",
         "z3fold_page_migrate() reads new_zhdr->cpu for queue_work_on() after\n"
         "it has unlocked the new page. Reclaim, walking the LRU, may have\n"
         "claimed that page and set its cpu to -1 under the lock meanwhile:\n"
         "a data race, and queue_work_on(-1) on the unbound compact_wq.\n\n"
         "Save the CPU in a local while the page lock is held.",
         {"tsan:data-race", "queue-work-cpu"},
         {{"z3fold_page_migrate", R"(struct z3fold_pool \*pool;)", "struct z3fold_pool *pool;\n\tint cpu;"},
          {"z3fold_page_migrate", R"(new_zhdr->cpu = smp_processor_id\(\);)",
           "new_zhdr->cpu = smp_processor_id();\n\tcpu = new_zhdr->cpu;"},
          {"z3fold_page_migrate", R"(queue_work_on\(new_zhdr->cpu, pool->compact_wq, &new_zhdr->work\);)",
           "queue_work_on(cpu, pool->compact_wq, &new_zhdr->work);"}}},
        {"K11", "keep PAGE_CLAIMED on an isolated page migration refuses",
         "z3fold_page_migrate() refusing a mapped page clears PAGE_CLAIMED while\n"
         "the page is still isolated. A free's compaction then re-lists the\n"
         "page, and z3fold_page_putback() unlinks it from an unbuddied list\n"
         "without pool->lock and puts it on the LRU twice.\n\n"
         "Keep the claim until putback, which clears it.",
         {"lock-not-held", "tsan:data-race"},
         {{"z3fold_page_migrate",
           R"((if \(zhdr->mapped_count != 0 \|\| zhdr->foreign_handles != 0\) \{)\s*clear_bit\(PAGE_CLAIMED, &page->private\);)",
           "$1"}}},
    };
    return fixes;
}

// 6.12's mm/z3fold.c is 6.1's less the pool LRU, z3fold_reclaim_page() and
// evict (docs/findings.md, "Linux 6.12's mm/z3fold.c"): 6.1's edits of the
// code it still has apply as they are. What changes is the text: what
// reaches each bug in 6.12, and which fixes 6.12 needs at all (K4, K6 and
// K12 were reclaim's; K10's racer was reclaim's cpu = -1).
const std::vector<KernelFix>& fixes_6_12() {
    static const std::vector<KernelFix> fixes = [] {
        auto from_6_1 = [](const char* id) {
            for (const KernelFix& f : fixes_6_1())
                if (std::string(id) == f.id) return f;
            return KernelFix{};
        };
        std::vector<KernelFix> out;
        KernelFix k1 = from_6_1("K1");
        k1.body =
            "z3fold_page_isolate() claims the page (PAGE_CLAIMED) and\n"
            "z3fold_page_migrate() copies the whole header, page->private\n"
            "included, to the new page. Nothing clears the claim there: the new\n"
            "page is never compacted or listed as unbuddied again, frees of its\n"
            "objects skip free_handle(), and a later isolation of it fails for\n"
            "good.\n\n"
            "Clear PAGE_CLAIMED on the new page where its other flags are set.";
        out.push_back(k1);
        KernelFix k2 = from_6_1("K2");
        k2.body =
            "When migration refuses a mapped page it clears PAGE_CLAIMED while the\n"
            "page stays isolated. A free of the page's last object then queues\n"
            "compaction, and the work or z3fold_page_putback() lists the empty\n"
            "page with add_to_unbuddied(), at unbuddied[NCHUNKS]: one past the\n"
            "end of the per-CPU array, in the next CPU's lists or beyond the\n"
            "allocation.\n\n"
            "An empty page is released by its last put; add_to_unbuddied() must\n"
            "not list it. (The fix for migration's unclaim closes the window\n"
            "that reaches this; this keeps the array's bound whatever reaches it.)";
        out.push_back(k2);
        KernelFix k3 = from_6_1("K3");
        k3.body =
            "z3fold_free() skips free_handle() when the page is claimed (isolated\n"
            "for migration), leaving the handle of a freed object in the page's\n"
            "slots. When the page lives on, that handle is never cleared; once\n"
            "first_num moves the buddies, the slots object is never freed either\n"
            "(kmemleak_not_leak() hides it).\n\n"
            "Free the handle always.";
        k3.edits.resize(1);  // the free half: the other edits were reclaim's
        out.push_back(k3);
        out.push_back(from_6_1("K5"));
        KernelFix k13 = from_6_1("K13");
        k13.body =
            "z3fold_alloc() makes a new page movable (__SetPageMovable(),\n"
            "unlock_page()) before it takes the header's lock. Compaction can\n"
            "isolate and migrate the page in between, with its header half set\n"
            "up; z3fold_alloc() then locks, fills in and lists as unbuddied the\n"
            "old page, which migration frees, and the handle it returns names\n"
            "that page.\n\n"
            "Claim the page over that window: z3fold_page_isolate() refuses a\n"
            "claimed page.";
        k13.signatures = {"invariant:listed-page-freed", "invariant:claimed-page-listed", "invariant:handle-unresolvable",
                          "sanitizer:heap-use-after-free"};
        out.push_back(k13);
        KernelFix k15 = from_6_1("K15");
        k15.body = kK15Window +
                   "A caller with preemption off (a swap\n"
                   "slot's free calls zswap_invalidate() under si->lock) that preempted\n"
                   "the migration on its CPU then waits for a task that cannot run\n"
                   "there: a lockup on a uniprocessor kernel with full preemption, a\n"
                   "stall until the task is moved elsewhere on SMP.\n\n" +
                   kK15Fix;
        out.push_back(k15);
        out.push_back(from_6_1("K7+K8"));
        KernelFix k9 = from_6_1("K9");
        k9.body =
            "MIDDLE_CHUNK_MAPPED is one bit, set by every map of the middle buddy\n"
            "and cleared by every unmap. A zpool user that maps a handle while it\n"
            "is mapped elsewhere (6.12's zswap does not) has the bit cleared by\n"
            "the first unmap, and compaction moves the middle object under the\n"
            "mapping that is left.\n\n"
            "Clear the bit when the page's last mapping goes.";
        out.push_back(k9);
        KernelFix k11 = from_6_1("K11");
        k11.body =
            "z3fold_page_migrate() refusing a mapped page clears PAGE_CLAIMED while\n"
            "the page is still isolated. migrate_pages_sync() retries the pages\n"
            "its async pass failed, -EBUSY included: the retry meets\n"
            "VM_BUG_ON_PAGE(!test_bit(PAGE_CLAIMED)), or without CONFIG_DEBUG_VM\n"
            "migrates an unclaimed page. And a free's compaction re-lists the\n"
            "page, which z3fold_page_putback() then unlinks from an unbuddied\n"
            "list without pool->lock.\n\n"
            "Keep the claim until putback, which clears it.";
        k11.signatures = {"check-failed@z3fold.c:1293", "lock-not-held", "tsan:data-race"};
        out.push_back(k11);
        return out;
    }();
    return fixes;
}

}  // namespace

bool kernel_fixes_exist(const std::string& series) { return series == "6.1" || series == "6.12"; }

const std::vector<KernelFix>& kernel_fixes(const std::string& series) {
    static const std::vector<KernelFix> none;
    return series == "6.1" ? fixes_6_1() : series == "6.12" ? fixes_6_12() : none;
}

const KernelFix* kernel_fix(const std::string& id, const std::string& series) {
    for (const KernelFix& f : kernel_fixes(series))
        if (id == f.id) return &f;
    return nullptr;
}

std::vector<KernelEdit> all_fix_edits(const std::string& series) {
    std::vector<KernelEdit> out;
    for (const KernelFix& f : kernel_fixes(series)) out.insert(out.end(), f.edits.begin(), f.edits.end());
    return out;
}

}  // namespace z3fh::tool
