// z3fold-harden: the defects re-created in the user's 6.1 mm/z3fold.c, as
// identifier-anchored edits (kernel_edits.h) of the fixed file (the review
// defects, bugs z3fold had upstream, planted ones), and `./z3fh
// kernel-defect`, which writes one as a patch. The edits hold a few kernel
// lines each (GPL-2.0-only, as the repository is), for Linux 6.1.
#include <fmt/format.h>

#include <cstdio>
#include <filesystem>
#include <string>
#include <vector>

#include "context.h"
#include "kernel_edits.h"
#include "kernel_source.h"
#include "proc.h"

namespace fs = std::filesystem;

namespace z3fh::tool {

// ---- the review defects, re-created in the user's 6.1 file ----

namespace {

struct Defect {
    const char* name;
    const char* what;
    std::vector<KernelEdit> edits;
    // For a bug z3fold had upstream: the fix whose revert re-creates it (a
    // commit title in quotes, or what the fix did). Empty for the review
    // defects, which `./z3fh test` runs.
    const char* upstream_fix = "";
    // Planted, not a bug z3fold had: a violation of one of the kernel's
    // context rules (the shim's checks, docs/zswap-model.md) or a teardown
    // leak; not a review defect either, so the review loop of `./z3fh test`
    // leaves it out.
    bool planted = false;
    // The kernel file it edits: mm/<allocator>.c of Linux <series>; a defect
    // of another allocator than 6.1's z3fold edits the unmodified file.
    const char* allocator = "z3fold";
    const char* series = "6.1";
};

// Reclaim's and putback's failure path: re-list, then unclaim.
constexpr const char* kRelistThenUnclaim =
    R"(if \(list_empty\(&zhdr->buddy\)\)\s*add_to_unbuddied\(pool, zhdr\);\s*(clear_bit\(PAGE_CLAIMED, &page->private\);))";

const std::vector<Defect>& defects() {
    static const std::vector<Defect> d = {
        {"release-unlinks",
         "the kref release function unlinks the page from its lists without the pool lock (review #1)",
         {{"release_z3fold_page_locked_list",
           R"(spin_lock\(&pool->lock\);\s*list_del_init\(&zhdr->buddy\);\s*spin_unlock\(&pool->lock\);)",
           "list_del_init(&zhdr->buddy); /* z3fh defect release-unlinks */"},
          {"__release_z3fold_page",
           R"(spin_lock\(&pool->lock\);\s*if \(!list_empty\(&page->lru\)\)\s*list_del_init\(&page->lru\);\s*spin_unlock\(&pool->lock\);)",
           "if (!list_empty(&page->lru)) list_del_init(&page->lru); /* z3fh defect release-unlinks */"}}},
        {"get-unless-zero",
         "the unbuddied lookup takes its reference with kref_get_unless_zero under the pool lock, not under the "
         "page lock (review #2)",
         {{"__z3fold_alloc", R"(!z3fold_page_trylock\(zhdr\)\) \{)",
           "!kref_get_unless_zero(&zhdr->refcount)) { /* z3fh defect get-unless-zero */"},
          {"__z3fold_alloc", R"(zhdr->cpu = -1;\s*spin_unlock\(&pool->lock\);\s*page = virt_to_page\(zhdr\);)",
           "zhdr->cpu = -1;\n\t\tspin_unlock(&pool->lock);\n\t\tz3fold_page_lock(zhdr); /* z3fh defect */\n\n\t\tpage = "
           "virt_to_page(zhdr);"},
          {"__z3fold_alloc", R"(z3fold_page_unlock\(zhdr\);\s*zhdr = NULL;\s*migrate_enable\(\);)",
           "if (!kref_put(&zhdr->refcount, release_z3fold_page_locked)) /* z3fh defect */\n\t\t\t\t"
           "z3fold_page_unlock(zhdr);\n\t\t\tzhdr = NULL;\n\t\t\tmigrate_enable();"},
          {"__z3fold_alloc", R"(kref_get\(&zhdr->refcount\);\s*break;\s*\}\s*migrate_enable\(\);)",
           "break; /* z3fh defect: the reference was taken above */\n\t}\n\tmigrate_enable();"}}},
        {"under-reclaim-bit",
         "free tests PAGE_CLAIMED and sets it later, so free and reclaim both believe they own the page (review #3)",
         {{"z3fold_free", R"(page_claimed = test_and_set_bit\(PAGE_CLAIMED, &page->private\);)",
           "page_claimed = test_bit(PAGE_CLAIMED, &page->private); /* z3fh defect under-reclaim-bit */\n\tif "
           "(!page_claimed)\n\t\tset_bit(PAGE_CLAIMED, &page->private);"}}},
        {"reclaim-put-then-lru",
         "reclaim drops its reference, then puts the page back on the LRU (review #4)",
         {{"z3fold_reclaim_page",
           R"(if \(kref_put\(&zhdr->refcount,\s*release_z3fold_page_locked\)\) \{\s*(?:if \(slots\)\s*)?kmem_cache_free\(pool->c_handle, slots\);)",
           "if (kref_put(&zhdr->refcount, release_z3fold_page_locked)) {\n\t\t\t\tspin_lock(&pool->lock); /* z3fh "
           "defect reclaim-put-then-lru */\n\t\t\t\tlist_add(&page->lru, &pool->lru);\n\t\t\t\t"
           "spin_unlock(&pool->lock);\n\t\t\t\tif (slots)\n\t\t\t\t\tkmem_cache_free(pool->c_handle, slots);"}}},
        // Bugs z3fold had upstream, re-created in 6.1 by reverting their fix
        // (the same bugs as the port's mutants of the same names).
        {"failed-reclaim-not-unbuddied",
         "a page reclaim or migration could not free goes back on the LRU but not on its unbuddied list",
         {{"z3fold_reclaim_page",
           kRelistThenUnclaim,
           "/* z3fh defect failed-reclaim-not-unbuddied */\n\t\t\t$1"},
          {"z3fold_page_putback",
           kRelistThenUnclaim,
           "/* z3fh defect failed-reclaim-not-unbuddied */\n\t$1"}},
         "\"mm/z3fold: put z3fold page back into unbuddied list when reclaim or migration fails\""},
        {"reclaim-unclaims-after-unlock",
         "reclaim that could not free a page clears PAGE_CLAIMED after dropping the page lock",
         {{"z3fold_reclaim_page", R"(clear_bit\(PAGE_CLAIMED, &page->private\);\s*z3fold_page_unlock\(zhdr\);)",
           "z3fold_page_unlock(zhdr);\n\t\t\tclear_bit(PAGE_CLAIMED, &page->private); /* z3fh defect "
           "reclaim-unclaims-after-unlock */"}},
         "\"mm/z3fold: always clear PAGE_CLAIMED under z3fold page lock\""},
        {"migrated-header-used",
         "the handle lookup returns a page migration has copied and is about to free",
         {{"get_z3fold_header", R"(if \(!test_bit\(PAGE_MIGRATED, &page->private\)\)\s*break;\s*z3fold_page_unlock\(zhdr\);)",
           "(void)page; /* z3fh defect migrated-header-used */\n\t\t\t\tbreak;"}},
         "\"mm/z3fold: fix z3fold_page_migrate races with z3fold_map\""},
        {"lazy-slots-unchecked",
         "alloc gives a page that lost its slots object a new one without checking the allocation",
         {{"__z3fold_alloc",
           R"(if \(zhdr && !zhdr->slots\) \{\s*zhdr->slots = alloc_slots\(pool, GFP_ATOMIC\);\s*if \(!zhdr->slots\)\s*goto out_fail;\s*\}\s*return zhdr;\s*out_fail:\s*if \(!kref_put\(&zhdr->refcount, release_z3fold_page_locked\)\) \{\s*add_to_unbuddied\(pool, zhdr\);\s*z3fold_page_unlock\(zhdr\);\s*\}\s*return NULL;)",
           "if (zhdr && !zhdr->slots) /* z3fh defect lazy-slots-unchecked */\n\t\tzhdr->slots = alloc_slots(pool, "
           "GFP_ATOMIC);\n\treturn zhdr;"}},
         "\"mm/z3fold: fix possible null pointer dereferencing\""},
        {"lazy-slots-may-sleep",
         "alloc allocates a page's new slots object with a blocking gfp while holding the page lock",
         {{"__z3fold_alloc", R"(zhdr->slots = alloc_slots\(pool, GFP_ATOMIC\);)",
           "zhdr->slots = alloc_slots(pool, can_sleep ? GFP_NOIO : GFP_ATOMIC); /* z3fh defect lazy-slots-may-sleep */"}},
         "the fix that made the slots allocation in __z3fold_alloc GFP_ATOMIC (it was can_sleep ? GFP_NOIO : "
         "GFP_ATOMIC)"},
        {"headless-slots-leak",
         "init_z3fold_page allocates a slots object for a headless page too, which nothing frees",
         {{"init_z3fold_page",
           R"(if \(headless\)\s*return zhdr;\s*slots = alloc_slots\(pool, gfp\);\s*if \(!slots\)\s*return NULL;)",
           "slots = alloc_slots(pool, gfp); /* z3fh defect headless-slots-leak */\n\tif (!slots)\n\t\treturn "
           "NULL;\n\tif (headless)\n\t\treturn zhdr;"}},
         "\"z3fold: fix memory leak in kmem cache\""},
        {"map-last-from-header",
         "map finds LAST from the header's last_chunks, which a free zeroes while reclaim still evicts the object",
         {{"z3fold_map", R"(addr \+= PAGE_SIZE - \(handle_to_chunks\(handle\) << CHUNK_SHIFT\);)",
           "addr += PAGE_SIZE - (zhdr->last_chunks << CHUNK_SHIFT); /* z3fh defect map-last-from-header */"}},
         "\"z3fold: fix possible reclaim races\""},
        {"cpu-id-after-unlock",
         "migration queues its compaction on smp_processor_id() read after the page unlock, in preemptible code "
         "(K10's first candidate fix): cpu-id-preemptible",
         {{"z3fold_page_migrate", R"(queue_work_on\(cpu, pool->compact_wq, &new_zhdr->work\);)",
           "queue_work_on(smp_processor_id(), pool->compact_wq, &new_zhdr->work); /* z3fh defect cpu-id-after-unlock */"}},
         "",
         true},
        {"alloc-ignores-gfp",
         "z3fold_alloc allocates its new page with GFP_KERNEL whatever its caller's gfp: a blocking allocation for "
         "zswap, whose gfp forbids it: gfp-contract",
         {{"z3fold_alloc", R"(page = alloc_page\(gfp\);)", "page = alloc_page(GFP_KERNEL); /* z3fh defect alloc-ignores-gfp */"}},
         "",
         true},
        {"destroy-leaks-unbuddied",
         "z3fold_destroy_pool does not free the per-CPU unbuddied lists: a teardown leak, found as leak@ the site "
         "that allocated them",
         {{"z3fold_destroy_pool", R"(free_percpu\(pool->unbuddied\);)",
           "/* z3fh defect destroy-leaks-unbuddied: free_percpu(pool->unbuddied) dropped */"}},
         "",
         true},
        // zbud (Linux 6.12): seeded defects, edits of the unmodified file.
        {"zbud-free-keeps-pages-nr",
         "zbud_free frees an empty page but does not count it out of pages_nr (accounting)",
         {{"zbud_free", R"(free_zbud_page\(zhdr\);\s*pool->pages_nr--;)",
           "free_zbud_page(zhdr); /* z3fh defect zbud-free-keeps-pages-nr: pages_nr-- dropped */"}},
         "",
         true,
         "zbud",
         "6.12"},
        {"zbud-alloc-lists-by-size",
         "zbud_alloc lists a page with room on unbuddied[its object's chunks] instead of unbuddied[its free chunks]",
         {{"zbud_alloc", R"(list_add\(&zhdr->buddy, &pool->unbuddied\[freechunks\]\);)",
           "list_add(&zhdr->buddy, &pool->unbuddied[chunks]); /* z3fh defect zbud-alloc-lists-by-size */"}},
         "",
         true,
         "zbud",
         "6.12"},
        {"zbud-free-unlinks-unlocked",
         "zbud_free takes the page off its list before it takes the pool lock (lock)",
         {{"zbud_free", R"(spin_lock\(&pool->lock\);\s*zhdr = handle_to_zbud_header\(handle\);)",
           "zhdr = handle_to_zbud_header(handle);\n\tlist_del(&zhdr->buddy); /* z3fh defect zbud-free-unlinks-unlocked */\n"
           "\tspin_lock(&pool->lock);"},
          {"zbud_free", R"(/\* Remove from existing buddy list \*/\s*list_del\(&zhdr->buddy\);)",
           "/* z3fh defect zbud-free-unlinks-unlocked: unlinked above, before the lock */"}},
         "",
         true,
         "zbud",
         "6.12"},
        // zsmalloc (Linux 6.12): seeded defects, edits of the unmodified file,
        // one or more each for locking, mapping (objects that span pages, the
        // huge class), migration, compaction, deferred freeing and accounting.
        {"zs-free-refiles-unlocked",
         "zs_free drops class->lock before it refiles the zspage under its new fullness group and frees it (lock)",
         {{"zs_free",
           R"(obj_free\(class->size, obj\);\s*fullness = fix_fullness_group\(class, zspage\);\s*if \(fullness == ZS_INUSE_RATIO_0\)\s*free_zspage\(pool, class, zspage\);\s*spin_unlock\(&class->lock\);)",
           "obj_free(class->size, obj);\n\tspin_unlock(&class->lock); /* z3fh defect zs-free-refiles-unlocked */\n"
           "\tfullness = fix_fullness_group(class, zspage);\n\tif (fullness == ZS_INUSE_RATIO_0)\n\t\tfree_zspage(pool, class, zspage);"}},
         "", true, "zsmalloc", "6.12"},
        {"zs-deferred-free-splices-unlocked",
         "async_free_zspage takes a class's empty zspages off its list without class->lock (lock, deferred free)",
         {{"async_free_zspage",
           R"(spin_lock\(&class->lock\);\s*(list_splice_init\(&class->fullness_list\[ZS_INUSE_RATIO_0\],\s*&free_pages\);)\s*spin_unlock\(&class->lock\);)",
           "$1 /* z3fh defect zs-deferred-free-splices-unlocked */"}},
         "", true, "zsmalloc", "6.12"},
        {"zs-map-without-zspage-lock",
         "zs_map_object does not read-lock the zspage, so migration and compaction can move an object while it is "
         "mapped (migration)",
         {{"zs_map_object", R"(migrate_read_lock\(zspage\);\s*read_unlock\(&pool->migrate_lock\);)",
           "read_unlock(&pool->migrate_lock); /* z3fh defect zs-map-without-zspage-lock */"},
          {"zs_unmap_object", R"(migrate_read_unlock\(zspage\);)", "/* z3fh defect zs-map-without-zspage-lock */"}},
         "", true, "zsmalloc", "6.12"},
        {"zs-migrate-keeps-handles",
         "zs_page_migrate copies the page but leaves its objects' handles naming the old page (migration)",
         {{"zs_page_migrate", R"(record_obj\(handle, new_obj\);)",
           "(void)new_obj; /* z3fh defect zs-migrate-keeps-handles */"}},
         "", true, "zsmalloc", "6.12"},
        {"zs-compact-moves-without-copy",
         "__zs_compact's migrate_zspage moves an object's handle to the destination zspage without copying its "
         "bytes (compaction)",
         {{"migrate_zspage", R"(zs_object_copy\(class, free_obj, used_obj\);)",
           "/* z3fh defect zs-compact-moves-without-copy */"}},
         "", true, "zsmalloc", "6.12"},
        {"zs-wo-span-not-written-back",
         "unmapping an object that spans two pages copies the per-CPU buffer back only for ZS_MM_RW, not for "
         "ZS_MM_WO (mapping, spanning objects)",
         {{"__zs_unmap_object", R"(if \(area->vm_mm == ZS_MM_RO\))",
           "if (area->vm_mm != ZS_MM_RW) /* z3fh defect zs-wo-span-not-written-back */"}},
         "", true, "zsmalloc", "6.12"},
        {"zs-span-read-first-page-only",
         "mapping an object that spans two pages copies only its first page's part into the per-CPU buffer "
         "(mapping, spanning objects)",
         {{"__zs_map_object", R"(memcpy\(buf \+ sizes\[0\], addr, sizes\[1\]\);)",
           "/* z3fh defect zs-span-read-first-page-only */"}},
         "", true, "zsmalloc", "6.12"},
        {"zs-huge-handle-untagged",
         "a huge object's handle is kept in its page without OBJ_ALLOCATED_TAG, so migration takes the object "
         "for a free one (huge class)",
         {{"obj_malloc", R"(zspage->first_page->index = handle \| OBJ_ALLOCATED_TAG;)",
           "zspage->first_page->index = handle; /* z3fh defect zs-huge-handle-untagged */"}},
         "", true, "zsmalloc", "6.12"},
        {"zs-free-zspage-keeps-count",
         "__free_zspage frees a zspage's pages without taking them off pool->pages_allocated (accounting)",
         {{"__free_zspage", R"(atomic_long_sub\(class->pages_per_zspage, &pool->pages_allocated\);)",
           "/* z3fh defect zs-free-zspage-keeps-count */"}},
         "", true, "zsmalloc", "6.12"},
    };
    return d;
}

}  // namespace

std::vector<std::string> kernel_defect_names(bool review_only) {
    std::vector<std::string> out;
    for (const Defect& d : defects())
        if (!review_only || (!*d.upstream_fix && !d.planted)) out.push_back(d.name);
    return out;
}

std::vector<std::string> kernel_defect_names_of(const std::string& allocator) {
    std::vector<std::string> out;
    for (const Defect& d : defects())
        if (allocator == d.allocator) out.push_back(d.name);
    return out;
}

TargetChoice kernel_defect_base(const std::string& name) {
    for (const Defect& d : defects())
        if (name == d.name) return kernel_choice(d.allocator, d.series);
    return kernel_choice();
}

int cmd_kernel_defect(const std::string& name, const std::string& out, const TargetChoice& t, bool unmodified) {
    const Defect* d = nullptr;
    for (const Defect& x : defects())
        if (name == x.name) d = &x;
    if (!d && name != "fixes") {
        std::string names;
        for (const std::string& n : kernel_defect_names()) names += " " + n;
        std::fprintf(stderr, "z3fh: unknown kernel defect '%s' (one of:%s, or fixes)\n", name.c_str(), names.c_str());
        return 2;
    }
    if (unmodified && !d) {
        std::fprintf(stderr, "z3fh: --unmodified names a defect, not the fixes\n");
        return 2;
    }
    TargetChoice pristine = t;
    pristine.kernel_patch.clear();
    pristine.kernel_fixes = false;
    // The harness's fixes are 6.1 z3fold's: another allocator's defect is a
    // patch of its unmodified file.
    const bool other_allocator = d && std::string(d->allocator) != "z3fold";
    if (other_allocator) {
        const TargetChoice base = kernel_defect_base(name);
        pristine.allocator = base.allocator;
        pristine.kernel_version = base.kernel_version;
        unmodified = true;
    }
    auto k = prepare_kernel_file(pristine);
    if (!k) return 2;
    if (d && k->series != d->series) {
        std::fprintf(stderr, "z3fh: %s is an edit of Linux %s's mm/%s.c, not %s's\n", name.c_str(), d->series,
                     d->allocator, k->series.c_str());
        return 2;
    }
    if (!d && (k->allocator != "z3fold" || !kernel_fixes_exist(k->series))) {
        std::fprintf(stderr, "z3fh: the harness has no fixes for Linux %s's mm/%s.c\n", k->series.c_str(),
                     k->allocator.c_str());
        return 2;
    }
    // "fixes": the fixes against the pristine file. A defect: its edits
    // against the fixed file (use it with --kernel-fixes --kernel-patch).
    std::string before = read_file(k->pristine), why;
    std::string text = before;
    if (!unmodified && !apply_edits(&text, all_fix_edits(k->series), &why)) {
        std::fprintf(stderr, "z3fh: %s: %s\n", name.c_str(), why.c_str());
        return 2;
    }
    if (d) {
        before = text;
        if (!apply_edits(&text, d->edits, &why)) {
            std::fprintf(stderr, "z3fh: %s: %s\n", name.c_str(), why.c_str());
            return 2;
        }
    }
    std::string dir = Context::get().root() + "/build/kernel-src/defects";
    fs::create_directories(dir);
    const std::string file = k->allocator + ".c";
    // 6.1's fixes keep their old name; another series' carry it.
    const std::string stem = !d && k->series != "6.1" ? name + "-" + k->series : name;
    std::string original = dir + "/" + stem + ".orig." + file, edited = dir + "/" + stem + "." + file;
    write_file(original, before);
    write_file(edited, text);
    int rc = 0;
    const std::string diff = run_capture(
        {"diff", "-u", "--label", "a/mm/" + file, "--label", "b/mm/" + file, original, edited}, {}, &rc);
    if (rc != 1) {
        std::fprintf(stderr, "z3fh: diff failed (%d)\n", rc);
        return 2;
    }
    std::string path =
        out.empty() ? dir + "/" + stem + (unmodified && !other_allocator ? ".unmodified.diff" : ".diff") : out;
    if (!write_file(path, diff)) {
        std::fprintf(stderr, "z3fh: cannot write %s\n", path.c_str());
        return 2;
    }
    const std::string what =
        d ? std::string(d->what) + (*d->upstream_fix ? fmt::format(" (reverts {})", d->upstream_fix) : std::string()) +
                (other_allocator ? fmt::format("; a patch of Linux {}'s mm/{}: use it with --allocator {} "
                                               "--kernel-version {} --kernel-patch",
                                               d->series, file, d->allocator, d->series)
                 : unmodified    ? "; a patch of the unmodified file: use it with --kernel-patch alone"
                                 : "; a patch of the fixed file: use it with --kernel-fixes")
          : "the harness's candidate fixes for what it found in Linux " + k->series + "'s file itself";
    std::fprintf(stderr, "z3fh: %s: %s\n", name.c_str(), what.c_str());
    std::printf("%s\n", path.c_str());
    return 0;
}

}  // namespace z3fh::tool
