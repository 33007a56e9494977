// `ssechat apikey ...`: server API keys made, listed and revoked from a shell, on the store a
// server uses (it may be running: a revoked key stops working on every node within a second).
#pragma once
#include <string>
#include <vector>

namespace ssechat::cli {

// args: what follows "apikey". Returns the exit code.
int apikey_command(const std::vector<std::string>& args, const std::vector<std::string>& env);

}  // namespace ssechat::cli
