// z3fold-harden: subprocesses.
#include "proc.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>

namespace z3fh::tool {

namespace {
volatile pid_t g_child = 0;
}

void interrupt_child() {
    if (g_child > 0) kill(-g_child, SIGINT);
}

ProcResult run_process(const std::vector<std::string>& argv, const std::map<std::string, std::string>& env,
                       const std::function<void(const std::string&)>& on_line, const std::string& cwd) {
    ProcResult r;
    int fds[2] = {-1, -1};
    if (on_line && pipe(fds) != 0) return r;
    pid_t pid = fork();
    if (pid < 0) return r;
    if (pid == 0) {
        setpgid(0, 0);  // its own group: Ctrl-C reaches it through us
        if (on_line) {
            dup2(fds[1], 1);
            dup2(fds[1], 2);
            close(fds[0]);
            close(fds[1]);
        }
        if (!cwd.empty() && chdir(cwd.c_str()) != 0) _exit(127);
        for (auto& [k, v] : env) setenv(k.c_str(), v.c_str(), 1);
        std::vector<char*> args;
        for (const std::string& a : argv) args.push_back(const_cast<char*>(a.c_str()));
        args.push_back(nullptr);
        execvp(args[0], args.data());
        _exit(127);
    }
    g_child = pid;
    if (on_line) {
        close(fds[1]);
        std::string buf;
        char chunk[8192];
        ssize_t n;
        while ((n = read(fds[0], chunk, sizeof chunk)) > 0) {
            buf.append(chunk, static_cast<size_t>(n));
            size_t pos;
            while ((pos = buf.find_first_of("\n\r")) != std::string::npos) {
                std::string line = buf.substr(0, pos);
                buf.erase(0, pos + 1);
                if (!line.empty()) on_line(line);
            }
        }
        if (!buf.empty()) on_line(buf);
        close(fds[0]);
    }
    int status = 0;
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
    }
    g_child = 0;
    if (WIFEXITED(status)) r.exit_code = WEXITSTATUS(status);
    else if (WIFSIGNALED(status)) r.exit_code = 128 + WTERMSIG(status);
    return r;
}

}  // namespace z3fh::tool
