// `ssechat user ...`: accounts managed from a shell, on the store a server uses (it may be
// running: its changes, a disabled user's sessions ending among them, take effect at once).
#pragma once
#include <string>
#include <vector>

namespace ssechat::cli {

// args: what follows "user". Returns the exit code.
int user_command(const std::vector<std::string>& args, const std::vector<std::string>& env);

}  // namespace ssechat::cli
