// JSON strictness that Boost.JSON leaves to the caller: a repeated key in any object.
#pragma once
#include <string_view>

namespace ssechat::strict_json {

// True when some object in `json` names a key twice. boost::json::parse keeps the last of
// duplicates silently; for a request body or a token's claims, "which one counts" is exactly
// the ambiguity an attacker uses, so callers refuse such input instead.
bool duplicate_keys(std::string_view json);

}  // namespace ssechat::strict_json
