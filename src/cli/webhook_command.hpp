// `ssechat webhook ...`: webhooks made, listed, changed and removed from a shell, on the store
// a server uses (it may be running: it sees a change within a second).
#pragma once
#include <string>
#include <vector>

namespace ssechat::cli {

// args: what follows "webhook". Returns the exit code.
int webhook_command(const std::vector<std::string>& args, const std::vector<std::string>& env);

}  // namespace ssechat::cli
