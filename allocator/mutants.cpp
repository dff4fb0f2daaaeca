// z3fold-harden: mutant selection (mutant build only).
#include "mutants.h"

#if defined(Z3FH_MUTANTS) && Z3FH_MUTANTS
#include <cstdlib>
#include <cstring>

namespace z3fh::mutants {

namespace {
const MutantInfo kCatalogue[] = {
#define Z3FH_MUTANT_DEF(id, name, cls, desc) {Mutant::id, name, cls, desc},
#include "mutants.def"
#undef Z3FH_MUTANT_DEF
};
constexpr size_t kCount = sizeof(kCatalogue) / sizeof(kCatalogue[0]);

Mutant from_env() {
    const char* env = std::getenv("Z3FH_MUTANT");
    if (!env || !*env) return Mutant::none;
    for (const MutantInfo& m : kCatalogue)
        if (std::strcmp(m.name, env) == 0) return m.id;
    return Mutant::none;
}

Mutant g_selected = from_env();
}  // namespace

const MutantInfo* catalogue(size_t* count) {
    *count = kCount;
    return kCatalogue;
}

bool select(const char* name) {
    if (!name || !*name || std::strcmp(name, "none") == 0) {
        g_selected = Mutant::none;
        return true;
    }
    for (const MutantInfo& m : kCatalogue) {
        if (std::strcmp(m.name, name) == 0) {
            g_selected = m.id;
            return true;
        }
    }
    return false;
}

Mutant selected() { return g_selected; }

const char* selected_name() {
    for (const MutantInfo& m : kCatalogue)
        if (m.id == g_selected) return m.name;
    return "none";
}

}  // namespace z3fh::mutants
#endif
