// The version and the git commit this binary was built from (cmake/build_info.cmake).
#pragma once

namespace ssechat::build {
extern const char* const version;
extern const char* const commit;  // "unknown" outside a git checkout; "-dirty" with edits
}  // namespace ssechat::build
