// `ssechat redis reshard --from LIST --to LIST`: rooms moved between Redis shard lists, with
// every node stopped (store/redis/reshard.hpp).
#pragma once
#include <string>
#include <vector>

namespace ssechat::cli {

// args: what follows "redis". Returns the exit code.
int redis_command(const std::vector<std::string>& args);

}  // namespace ssechat::cli
