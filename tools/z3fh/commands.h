// z3fold-harden: the z3fh subcommands other than campaign.
#pragma once
#include <string>

namespace z3fh::tool {

struct ToolInput {
    std::string file, out, mutant, sanitizer, name;
    int runs = 1;
    bool rr = false;
};

int cmd_test(bool long_run, const std::string& only);
int cmd_mutants();
int cmd_replay(const ToolInput& in);
int cmd_minimize(const ToolInput& in);
int cmd_export_test(const ToolInput& in);

}  // namespace z3fh::tool
