/* z3fold-harden kernel adapter: the mm core's compaction (kernel_mm.c). */
#pragma once
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* A new run (the migration lists' lock is made afresh). */
void kz_mm_reset(void);
/* Pages moved by the allocator's migrate_page since the reset (the mm core's
 * and, through kz_mm_count_migration, a handle's page migrated directly). */
uint64_t kz_mm_migrations(void);
void kz_mm_count_migration(void);
/* One compaction round over the live pages, scanning from the start-th:
 * isolate up to max_isolate movable pages, migrate them (async: never
 * block on a source page's lock), put back the failed ones after the
 * batch. Returns how many were migrated (or found freed). */
int kz_mm_compact(unsigned start, unsigned max_isolate, int async);

#ifdef __cplusplus
}
#endif
