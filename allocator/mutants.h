// z3fold-harden: seeded defects ("mutants"), compiled only when Z3FH_MUTANTS
// is on and chosen at run time by name (Z3FH_MUTANT=NAME or select()).
// The default build contains none of their code paths nor their names.
#pragma once

#if defined(Z3FH_MUTANTS) && Z3FH_MUTANTS
#include <cstddef>

namespace z3fh::mutants {

enum class Mutant : int {
    none = 0,
#define Z3FH_MUTANT_DEF(id, name, cls, desc) id,
#include "mutants.def"
#undef Z3FH_MUTANT_DEF
    count
};

struct MutantInfo {
    Mutant id;
    const char* name;
    const char* cls;
    const char* description;
};

// Every mutant, in declaration order.
const MutantInfo* catalogue(size_t* count);
// Select by name ("" or "none" clears); false if the name is unknown.
bool select(const char* name);
Mutant selected();
const char* selected_name();

inline bool on(Mutant m) { return selected() == m; }

}  // namespace z3fh::mutants

#define Z3FH_MUTANT_ON(id) (::z3fh::mutants::on(::z3fh::mutants::Mutant::id))
#endif
