// z3fold-harden: one finding, its signature and its report. Every finding
// the harness raises itself (checks/findings.def) is printed here, in the
// sanitizers' shape (an ERROR line, where, the context the caller prints,
// a SUMMARY line) and ends with one JSON line that tools read instead of
// the text: `==z3fold== FINDING {"signature": ..., ...}`.
#pragma once
#include <cstdint>
#include <cstdio>
#include <string>
#include <string_view>

#include "findings.h"

namespace z3fh {

struct Finding {
    FindingId id = FindingId::check;
    std::string file;  // where a fatal check fired (its path), "" if nowhere in particular
    int line = 0;
    std::string message;
    uint32_t page = 0;  // the page serial involved, 0 if none
    std::string site = {};  // a leak's allocation site (alloc_site.h), "" otherwise
};

// "invariant:<name>" for an invariant; "leak@<site>" for a leak;
// "<name>@<file's basename>:<line>" for a finding where a check fired;
// "<name>" otherwise.
std::string finding_signature(const Finding& f);

// The ERROR line (and the site's "at" line).
void print_finding_head(std::FILE* out, const Finding& f);
// The SUMMARY line and the JSON line; flushes.
void print_finding_tail(std::FILE* out, const Finding& f);

// The JSON line's marker, for the one parser (tools/run/driver.cpp).
inline constexpr std::string_view kFindingJsonMarker = "==z3fold== FINDING ";

}  // namespace z3fh
