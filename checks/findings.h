/* z3fold-harden: the finding vocabulary (findings.def), for C and C++.
 * C (the kernel adapter): Z3FH_FINDING_NAME(list_link) is "list-link", and a
 * name that is not in the table does not compile. C++: the same as
 * z3fh::finding_name(FindingId::list_link), plus the table itself for
 * reports and parsers (finding.h has the printer and the signature). */
#ifndef Z3FH_CHECKS_FINDINGS_H
#define Z3FH_CHECKS_FINDINGS_H

enum z3fh_finding_id {
#define Z3FH_FINDING(ident, name, cls, tier, help) Z3FH_FINDING_##ident,
#include "findings.def"
#undef Z3FH_FINDING
    Z3FH_FINDING_COUNT
};

static inline const char *z3fh_finding_name(enum z3fh_finding_id id) {
    switch (id) {
#define Z3FH_FINDING(ident, name, cls, tier, help) \
    case Z3FH_FINDING_##ident:                     \
        return name;
#include "findings.def"
#undef Z3FH_FINDING
    case Z3FH_FINDING_COUNT:
        break;
    }
    return "unknown";
}

#define Z3FH_FINDING_NAME(ident) z3fh_finding_name(Z3FH_FINDING_##ident)

#ifdef __cplusplus
#include <cstddef>
#include <string_view>

namespace z3fh {

enum class FindingId {
#define Z3FH_FINDING(ident, name, cls, tier, help) ident = Z3FH_FINDING_##ident,
#include "findings.def"
#undef Z3FH_FINDING
};
enum class FindingClass { fatal, invariant, leak, run };

struct FindingInfo {
    FindingId id;
    const char* name;
    FindingClass cls;
    const char* tier;
    const char* help;
};

inline constexpr FindingInfo kFindings[] = {
#define Z3FH_FINDING(ident, name, cls, tier, help) {FindingId::ident, name, FindingClass::cls, tier, help},
#include "findings.def"
#undef Z3FH_FINDING
};

inline const FindingInfo& finding_info(FindingId id) { return kFindings[static_cast<size_t>(id)]; }
inline const char* finding_name(FindingId id) { return finding_info(id).name; }
// The table entry named `name`, or nullptr.
inline const FindingInfo* finding_by_name(std::string_view name) {
    for (const FindingInfo& f : kFindings)
        if (name == f.name) return &f;
    return nullptr;
}

}  // namespace z3fh
#endif
#endif
