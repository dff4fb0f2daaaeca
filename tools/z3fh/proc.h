// z3fold-harden: running subprocesses (the one place the tool starts one), with
// their output streamed line by line.
#pragma once
#include <sys/types.h>

#include <atomic>
#include <functional>
#include <map>
#include <string>
#include <vector>

namespace z3fh::tool {

struct ProcResult {
    int exit_code = -1;  // 127: could not start; 128+N: killed by signal N
    double cpu_s = 0;    // the child's user + system time
};

// Run argv with extra environment, calling on_line for each line of
// combined stdout+stderr (or inheriting the terminal if on_line is empty).
// A child still running after timeout_s (if non-zero) gets SIGALRM (exit
// code 128+14). The child's pid goes to *started (if given) once it runs.
// Safe to call from several threads at once.
ProcResult run_process(const std::vector<std::string>& argv, const std::map<std::string, std::string>& env,
                       const std::function<void(const std::string&)>& on_line = {}, const std::string& cwd = "",
                       unsigned timeout_s = 0, std::atomic<pid_t>* started = nullptr);

// run_process collecting the combined output; the exit code in *code.
std::string run_capture(const std::vector<std::string>& argv, const std::map<std::string, std::string>& env,
                        int* code = nullptr, const std::string& cwd = "");

// Whether `exe` is an executable in one of $PATH's folders.
bool on_path(const std::string& exe);

// Send sig to every running child's process group (async-signal-safe).
void signal_children(int sig);

}  // namespace z3fh::tool
